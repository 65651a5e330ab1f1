"""Command lines and environments of the processes a stack runs, built by pure functions.

Every setting comes from the stack record; nothing goes through a shell. Port 0 lets
the OS choose a free port; the lifecycle code reads the real one off the socket.
"""

from __future__ import annotations

from collections.abc import Mapping

from harness.config.schema import StackSpec
from harness.config.upstream import Upstream
from servers.profiles import PROFILE_FIELDS

APP_MODULES = {"flask": "servers.flask_app", "quart": "servers.quart_app",
               "fastapi": "servers.fastapi_app", "flask-pg": "servers.pg_flask",
               "quart-pg": "servers.pg_quart", "fastapi-pg": "servers.pg_fastapi",
               "fastapi-asyncpg": "servers.pg_fastapi_asyncpg"}


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


def _gunicorn(python: str, stack: StackSpec, target: str, bind: str) -> list[str]:
    argv = [python, "-m", "gunicorn", "--no-control-socket", "--bind", bind,
            "--workers", str(stack.workers), "--worker-class", stack.worker_class,
            "--backlog", str(stack.backlog), "--keep-alive", str(stack.keepalive_s),
            "--graceful-timeout", "5", "--timeout", str(int(stack.upstream_timeout_s) + 30)]
    if stack.worker_class == "gthread":
        argv += ["--threads", str(stack.threads)]
    if stack.worker_class in ("gevent", "asgi"):
        argv += ["--worker-connections", str(stack.worker_connections)]
    return [*argv, target]


def _hypercorn(python: str, stack: StackSpec, target: str, bind: str) -> list[str]:
    return [python, "-m", "hypercorn", "--bind", bind, "--workers", str(stack.workers),
            "--worker-class", stack.worker_class, "--backlog", str(stack.backlog),
            "--keep-alive", str(stack.keepalive_s), "--graceful-timeout", "5", target]


def _uvicorn(python: str, stack: StackSpec, target: str, host: str, port: int) -> list[str]:
    return [python, "-m", "uvicorn", "--host", host, "--port", str(port),
            "--workers", str(stack.workers), "--loop", stack.worker_class,
            "--backlog", str(stack.backlog), "--timeout-keep-alive", str(stack.keepalive_s),
            "--timeout-graceful-shutdown", "5", "--no-access-log", "--log-level", "warning",
            target]


def server_command(python: str, stack: StackSpec, host: str, port: int = 0) -> list[str]:
    """The command line that serves ``stack``'s app on ``host:port``."""
    module = APP_MODULES[stack.app]
    target = f"{module}:app"
    bind = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if stack.server == "gunicorn":
        return _gunicorn(python, stack, target, bind)
    if stack.server == "hypercorn":
        return _hypercorn(python, stack, target, bind)
    if stack.server == "uvicorn":
        return _uvicorn(python, stack, target, host, port)
    if stack.server == "dev":
        return [python, "-m", module, "--host", host, "--port", str(port)]
    raise ValueError(f"no command for server {stack.server!r}")


def app_environment(stack: StackSpec, upstream_url: str,
                    base: Mapping[str, str] | None = None, *,
                    cpu_iterations_per_ms: int | None = None,
                    quota_rps: float | None = None) -> dict[str, str]:
    """The environment of a stack's processes: the upstream and pool sizes the apps read.

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
