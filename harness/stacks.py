"""Stack lifecycle: the mock upstream plus one server under test, started and torn down.

``running_stack`` is the one way the harness brings a stack up: it starts the
upstream, then the server with the upstream's URL in its environment, waits for
both to answer ``/health``, yields their addresses, and stops both on any exit.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from harness.commands import app_environment, server_command, upstream_command
from harness.config import Config, StackSpec
from harness.process import ChildProcess, managed_process

PROJECT_ROOT = Path(__file__).resolve().parent.parent


@dataclass
class StackHandle:
    """A running stack: the server under test and the upstream it calls."""

    spec: StackSpec
    server: ChildProcess
    upstream: ChildProcess

    @property
    def base_url(self) -> str:
        """Where the app under test answers."""
        return self.server.base_url

    @property
    def upstream_url(self) -> str:
        """Where the mock upstream answers."""
        return self.upstream.base_url

    def ensure_alive(self) -> None:
        """Raise StackExitedError if the server or the upstream has died."""
        self.upstream.ensure_alive()
        self.server.ensure_alive()

    def pids(self) -> set[int]:
        """Every pid of both process trees seen so far."""
        return self.server.known_pids | self.upstream.known_pids


def _base_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


@contextlib.contextmanager
def running_upstream(host: str = "127.0.0.1", *, backlog: int = 4096,
                     fail_status: int | None = None, health_timeout_s: float = 30.0,
                     log_dir: Path | None = None,
                     python: str = sys.executable) -> Iterator[ChildProcess]:
    """The mock upstream alone, on an OS-chosen port."""
    command = upstream_command(python, host, 0, backlog, fail_status)
    with managed_process("upstream", command, _base_env(), host, cwd=PROJECT_ROOT,
                         health_timeout_s=health_timeout_s, log_dir=log_dir) as child:
        yield child


@contextlib.contextmanager
def running_server(spec: StackSpec, upstream_url: str, host: str = "127.0.0.1", *,
                   health_timeout_s: float = 30.0, log_dir: Path | None = None,
                   python: str = sys.executable) -> Iterator[ChildProcess]:
    """One stack's server, calling ``upstream_url``, on an OS-chosen port."""
    command = server_command(python, spec, host, 0)
    env = app_environment(spec, upstream_url, _base_env())
    with managed_process(spec.name, command, env, host, cwd=PROJECT_ROOT,
                         health_timeout_s=health_timeout_s, log_dir=log_dir) as child:
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


@contextlib.contextmanager
def open_stack(config: Config, spec: StackSpec,
               log_dir: Path | None = None) -> Iterator[StackHandle]:
    """The stack ``spec`` as the config's target provides it; the runner's only entry.

    ``local`` (the default) starts fresh child processes; other targets are
    provided by ``harness.targets``.
    """
    if config.target == "local":
        with running_stack(spec, config.host, upstream_backlog=config.upstream_backlog,
                           health_timeout_s=config.health_timeout_s, log_dir=log_dir) as handle:
            yield handle
        return
    from harness.targets import open_target_stack

    with open_target_stack(config, spec, log_dir) as handle:
        yield handle
