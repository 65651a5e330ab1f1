"""The local target: the mock upstream and the server under test as child processes of
the harness, on 127.0.0.1 (or the config's host).

``running_stack`` starts the upstream, then the server with the upstream's URL in its
environment, waits for both to answer (the upstream ``/health``, the server its
``ready_path``), yields their handle, and stops and reaps both on any exit. A built-in
app binds port 0 and the real port is read off its socket; an own app's command is
given a free port the harness picks (``{port}``), since not every server accepts 0.
``running_db_stack`` does the same with PostgreSQL as the upstream
(``harness.targets.postgres``) and a database app as the server. A stack labelled with an
interpreter (``[run] pythons``) runs under it (``harness.targets.interpreters``); the
upstream always runs under the harness's own, so only the server under test changes.

Given ``sites`` (``topology.Sites``), each of the two runs where its site says: in a
network namespace (bound to the namespace's address), here, or, for the mock upstream, on
another host named by URL (checked, never started).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

from harness.config.schema import StackSpec
from harness.config.upstream import Upstream
from harness.errors import StackStartError
from harness.paths import PROJECT_ROOT, child_environment
from harness.targets import interpreters
from harness.targets.argv import (
    app_environment,
    database_environment,
    server_command,
    upstream_command,
)
from harness.targets.external import upstream_problem
from harness.targets.handle import Endpoint, RemoteEndpoint, StackHandle
from harness.targets.postgres import (
    RESERVED_CONNECTIONS,
    PostgresEndpoint,
    existing_postgres,
    running_postgres,
)
from harness.targets.process import ChildProcess, managed_process
from harness.targets.sockets import free_port
from harness.targets.topology import Site, Sites


@contextlib.contextmanager
def running_upstream(host: str = "127.0.0.1", *, backlog: int = 4096,
                     fail_status: int | None = None, health_timeout_s: float = 30.0,
                     log_dir: Path | None = None, upstream: Upstream | None = None,
                     seed: int = 0, python: str = sys.executable, netns: str | None = None,
                     cpus: frozenset[int] | None = None) -> Iterator[ChildProcess]:
    """The mock upstream alone, on an OS-chosen port, with ``upstream``'s profile and quota,
    in network namespace ``netns`` and only on ``cpus`` when given."""
    command = upstream_command(python, host, 0, backlog, fail_status, upstream, seed)
    with managed_process("upstream", command, child_environment(), host, cwd=PROJECT_ROOT,
                         health_timeout_s=health_timeout_s, log_dir=log_dir, netns=netns,
                         cpus=cpus) as child:
        yield child


def stack_python(spec: StackSpec) -> tuple[str, dict[str, str]]:
    """The interpreter ``spec`` runs under (its ``python`` label's, else the harness's own)
    and what its environment adds (the GIL off for a free-threaded build)."""
    if not spec.python:
        return sys.executable, {}
    found = interpreters.resolve(spec.python)
    return found.python, found.env


@contextlib.contextmanager
def remote_upstream(url: str) -> Iterator[RemoteEndpoint]:
    """A mock upstream someone else runs at ``url`` (``[hosts] upstream_url``), checked."""
    problem, _ = upstream_problem(url, "[hosts] upstream_url", "remote upstream")
    if problem is not None:
        raise StackStartError(problem, ["remote upstream", url])
    yield RemoteEndpoint("upstream", url, ["remote upstream", url])


@contextlib.contextmanager
def running_server(spec: StackSpec, upstream_url: str, host: str = "127.0.0.1", *,
                   health_timeout_s: float = 30.0, log_dir: Path | None = None,
                   cpu_iterations_per_ms: int | None = None, quota_rps: float | None = None,
                   env: dict[str, str] | None = None,
                   cpus: frozenset[int] | None = None,
                   netns: str | None = None) -> Iterator[ChildProcess]:
    """One stack's server under its interpreter, calling ``upstream_url`` (or told its
    upstream by ``env``), in its ``cwd`` (relative to the project), on an OS-chosen port
    (built-in apps) or a free one picked here, only on ``cpus`` and in network namespace
    ``netns`` when given."""
    port = free_port(host, netns) if spec.own else 0
    python, python_env = stack_python(spec)
    command = server_command(python, spec, host, port, upstream_url)
    env = {**(env or app_environment(spec, upstream_url, child_environment(),
                                     cpu_iterations_per_ms=cpu_iterations_per_ms,
                                     quota_rps=quota_rps)), **python_env}
    cwd = PROJECT_ROOT / spec.cwd if spec.cwd else PROJECT_ROOT
    with managed_process(spec.name, command, env, host, port=port, cwd=cwd,
                         health_timeout_s=health_timeout_s, log_dir=log_dir,
                         health_path=spec.ready_path, cpus=cpus, netns=netns) as child:
        yield child


@contextlib.contextmanager
def running_stack(spec: StackSpec, host: str = "127.0.0.1", *, upstream_backlog: int = 4096,
                  health_timeout_s: float = 30.0, log_dir: Path | None = None,
                  upstream_fail_status: int | None = None, upstream: Upstream | None = None,
                  seed: int = 0, cpu_iterations_per_ms: int | None = None,
                  cpus: frozenset[int] | None = None, upstream_cpus: frozenset[int] | None = None,
                  sites: Sites | None = None) -> Iterator[StackHandle]:
    """Start the upstream and ``spec``'s server; yield both; stop both on any exit.

    ``upstream`` sets the mock's profile and quota (the apps are told the quota);
    ``cpu_iterations_per_ms`` is the run's CPU-work calibration, handed to the apps;
    the server runs only on ``cpus`` when given, the upstream on ``upstream_cpus`` (else
    where the harness does); ``sites`` says where each runs (default: here, on ``host``).
    """
    stack_site, upstream_site = _sites(sites, host)
    quota = upstream.quota_rps if upstream is not None else None
    mock: contextlib.AbstractContextManager[Endpoint] = (
        remote_upstream(upstream_site.url) if upstream_site.url is not None else
        running_upstream(upstream_site.host, backlog=upstream_backlog,
                         fail_status=upstream_fail_status, health_timeout_s=health_timeout_s,
                         log_dir=log_dir, upstream=upstream, seed=seed,
                         netns=upstream_site.netns_path, cpus=upstream_cpus))
    with mock as upstream_end, \
         running_server(spec, upstream_end.base_url, stack_site.host,
                        health_timeout_s=health_timeout_s, log_dir=log_dir,
                        cpu_iterations_per_ms=cpu_iterations_per_ms, quota_rps=quota,
                        cpus=cpus, netns=stack_site.netns_path) as server:
        yield StackHandle(spec=spec, server=server, upstream=upstream_end)


def _sites(sites: Sites | None, host: str) -> tuple[Site, Site]:
    """(the stack's site, the upstream's): ``sites``'s, or both here on ``host``."""
    if sites is None:
        return Site("local", host), Site("local", host)
    return sites.stack, sites.upstream


def max_connections(spec: StackSpec) -> int:
    """PostgreSQL's ``max_connections`` for ``spec``: every worker's pool, plus the harness's."""
    return spec.workers * spec.pool_size + RESERVED_CONNECTIONS


@contextlib.contextmanager
def running_database(upstream: Upstream, max_conns: int, host: str = "127.0.0.1", *,
                     health_timeout_s: float = 30.0, log_dir: Path | None = None,
                     netns: str | None = None, cpus: frozenset[int] | None = None,
                     clients: str | None = None) -> Iterator[PostgresEndpoint]:
    """The config's PostgreSQL: one started here (in ``netns`` and on ``cpus`` when given,
    letting ``clients`` in besides loopback), or the one ``database_url`` names."""
    if upstream.database_url is not None:
        with existing_postgres(upstream.database_url) as database:
            yield database
    else:
        with running_postgres(max_conns, host=host, health_timeout_s=max(health_timeout_s, 60),
                              log_dir=log_dir, netns=netns, cpus=cpus,
                              clients=clients) as database:
            yield database


@contextlib.contextmanager
def running_db_stack(spec: StackSpec, upstream: Upstream, host: str = "127.0.0.1", *,
                     health_timeout_s: float = 30.0, log_dir: Path | None = None,
                     cpus: frozenset[int] | None = None,
                     upstream_cpus: frozenset[int] | None = None,
                     sites: Sites | None = None) -> Iterator[StackHandle]:
    """Start PostgreSQL (seeded) and ``spec``'s database app (on ``cpus`` when given);
    yield both; stop both on exit. ``sites`` says where each runs (default: here)."""
    stack_site, upstream_site = _sites(sites, host)
    with running_database(upstream, max_connections(spec), upstream_site.host,
                          health_timeout_s=health_timeout_s, log_dir=log_dir,
                          netns=upstream_site.netns_path, cpus=upstream_cpus,
                          clients=(str(sites.network.subnet) if sites is not None
                                   and sites.network is not None else None)) as database:
        env = database_environment(spec, database.url, upstream.query, database.schema,
                                   child_environment())
        with running_server(spec, database.url, stack_site.host,
                            health_timeout_s=health_timeout_s, log_dir=log_dir, env=env,
                            cpus=cpus, netns=stack_site.netns_path) as server:
            yield StackHandle(spec=spec, server=server, upstream=database)
