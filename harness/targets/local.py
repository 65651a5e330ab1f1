"""The local target: the mock upstream and the server under test as child processes of
the harness, on 127.0.0.1 (or the config's host).

``running_stack`` starts the upstream, then the server with the upstream's URL in its
environment, waits for both to answer (the upstream ``/health``, the server its
``ready_path``), yields their handle, and stops and reaps both on any exit. A built-in
app binds port 0 and the real port is read off its socket; an own app's command is
given a free port the harness picks (``{port}``), since not every server accepts 0.
"""

from __future__ import annotations

import contextlib
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

from harness.config.schema import StackSpec
from harness.paths import PROJECT_ROOT, child_environment
from harness.targets.argv import app_environment, server_command, upstream_command
from harness.targets.handle import StackHandle
from harness.targets.process import ChildProcess, managed_process


def free_port(host: str) -> int:
    """A TCP port on ``host`` that nothing listens on right now (the OS's choice)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        port: int = sock.getsockname()[1]
        return port


@contextlib.contextmanager
def running_upstream(host: str = "127.0.0.1", *, backlog: int = 4096,
                     fail_status: int | None = None, health_timeout_s: float = 30.0,
                     log_dir: Path | None = None,
                     python: str = sys.executable) -> Iterator[ChildProcess]:
    """The mock upstream alone, on an OS-chosen port."""
    command = upstream_command(python, host, 0, backlog, fail_status)
    with managed_process("upstream", command, child_environment(), host, cwd=PROJECT_ROOT,
                         health_timeout_s=health_timeout_s, log_dir=log_dir) as child:
        yield child


@contextlib.contextmanager
def running_server(spec: StackSpec, upstream_url: str, host: str = "127.0.0.1", *,
                   health_timeout_s: float = 30.0, log_dir: Path | None = None,
                   python: str = sys.executable) -> Iterator[ChildProcess]:
    """One stack's server, calling ``upstream_url``, in its ``cwd`` (relative to the
    project), on an OS-chosen port (built-in apps) or a free one picked here."""
    port = free_port(host) if spec.own else 0
    command = server_command(python, spec, host, port, upstream_url)
    env = app_environment(spec, upstream_url, child_environment())
    cwd = PROJECT_ROOT / spec.cwd if spec.cwd else PROJECT_ROOT
    with managed_process(spec.name, command, env, host, port=port, cwd=cwd,
                         health_timeout_s=health_timeout_s, log_dir=log_dir,
                         health_path=spec.ready_path) as child:
        yield child


@contextlib.contextmanager
def running_stack(spec: StackSpec, host: str = "127.0.0.1", *, upstream_backlog: int = 4096,
                  health_timeout_s: float = 30.0, log_dir: Path | None = None,
                  upstream_fail_status: int | None = None) -> Iterator[StackHandle]:
    """Start the upstream and ``spec``'s server; yield both; stop both on any exit."""
    with running_upstream(host, backlog=upstream_backlog, fail_status=upstream_fail_status,
                          health_timeout_s=health_timeout_s, log_dir=log_dir) as upstream, \
         running_server(spec, upstream.base_url, host, health_timeout_s=health_timeout_s,
                        log_dir=log_dir) as server:
        yield StackHandle(spec=spec, server=server, upstream=upstream)
