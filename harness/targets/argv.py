"""Command lines and environments of the processes a stack runs, built by pure functions.

A stack's command is a template (``StackSpec.command``); ``render_command`` fills its
placeholders from the stack's settings and where it runs. Nothing goes through a shell.
Port 0 lets the OS choose a free port (built-in apps); the lifecycle code reads the real
one off the socket.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.config.schema import StackSpec
from harness.config.upstream import Upstream
from servers.profiles import PROFILE_FIELDS


def upstream_command(python: str, host: str, port: int = 0, backlog: int = 4096,
                     fail_status: int | None = None, upstream: Upstream | None = None,
                     seed: int = 0) -> list[str]:
    """The mock upstream API's command line; a default ``upstream`` adds nothing to it.

    ``seed`` seeds the profile's draws when ``upstream.seed`` is not set.
    """
    argv = [python, "-m", "servers.upstream", "--host", host, "--port", str(port),
            "--backlog", str(backlog)]
    if fail_status is not None:
        argv += ["--fail-status", str(fail_status)]
    if upstream is not None and not upstream.is_default:
        table = upstream.resolved()
        argv += ["--profile", table.pop("profile"),
                 "--seed", str(upstream.seed if upstream.seed is not None else seed)]
        for name in PROFILE_FIELDS:
            argv += ["--" + name.replace("_", "-"), repr(float(table[name]))]
        if upstream.quota_rps is not None:
            argv += ["--quota-rps", repr(float(upstream.quota_rps))]
    return argv


def placeholder_values(python: str, stack: StackSpec, host: str, port: int,
                       upstream_url: str = "") -> dict[str, str]:
    """What each command placeholder stands for (``stack.COMMAND_PLACEHOLDERS``)."""
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return {
        "python": python, "host": host, "port": str(port), "bind": bind,
        "upstream_url": upstream_url, "workers": str(stack.workers),
        "threads": str(stack.threads), "worker_class": stack.worker_class,
        "worker_connections": str(stack.worker_connections), "backlog": str(stack.backlog),
        "keepalive_s": str(stack.keepalive_s), "keepalive_ms": str(stack.keepalive_s * 1000),
        "worker_timeout_s": str(int(stack.upstream_timeout_s) + 30),
    }


def server_command(python: str, stack: StackSpec, host: str, port: int = 0,
                   upstream_url: str = "") -> list[str]:
    """The command line that serves ``stack``'s app on ``host:port``."""
    values = placeholder_values(python, stack, host, port, upstream_url)
    return [arg.format_map(values) for arg in stack.command]


def app_environment(stack: StackSpec, upstream_url: str,
                    base: Mapping[str, str] | None = None, *,
                    cpu_iterations_per_ms: int | None = None,
                    quota_rps: float | None = None) -> dict[str, str]:
    """The environment of a stack's processes: the upstream and pool sizes the apps read,
    then the stack's own ``env`` over them.

    ``cpu_iterations_per_ms`` is the run's CPU-work calibration; ``quota_rps`` the
    upstream's quota, shared evenly by the stack's worker processes (each paces itself
    to its share). Unset values add nothing, so a plain stack's environment is unchanged.
    """
    env = dict(base or {})
    if stack.cpu_offload:
        env["ASYNCBENCH_CPU_OFFLOAD"] = "1"
    if cpu_iterations_per_ms is not None:
        env["ASYNCBENCH_CPU_ITERS_PER_MS"] = str(cpu_iterations_per_ms)
    if quota_rps is not None:
        env["ASYNCBENCH_QUOTA_RPS"] = repr(quota_rps / stack.workers)
    env.update({
        "ASYNCBENCH_STACK": stack.name,
        "ASYNCBENCH_UPSTREAM_URL": upstream_url,
        "ASYNCBENCH_POOL_SIZE": str(stack.pool_size),
        "ASYNCBENCH_UPSTREAM_TIMEOUT_S": repr(float(stack.upstream_timeout_s)),
        "PYTHONUNBUFFERED": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
    })
    env.update(stack.env)
    return env


def database_environment(stack: StackSpec, database_url: str, query: str, schema: str,
                         base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a database app's processes: where the database is, which query,
    which schema, and the pool size per process."""
    env = app_environment(stack, "", base)
    del env["ASYNCBENCH_UPSTREAM_URL"]
    env.update({"ASYNCBENCH_DATABASE_URL": database_url, "ASYNCBENCH_DB_QUERY": query,
                "ASYNCBENCH_DB_SCHEMA": schema})
    return env
