"""The built-in stacks: each a complete, explicit server setting, in the same form as a
stack a config defines from its own command line.

An entry states its settings (workers, threads, backlog, keep-alive, client pool) and a
command template whose placeholders those settings fill, so a ``[stacks.NAME]`` override
or a sweep changes the command line it runs. A config names stacks from here, may
override any field in a ``[stacks.NAME]`` table, or define new stacks there. Nothing is
left to a server's silent default.

Placeholders of a command template (``harness.targets.argv.render_command`` fills them):
``{python}`` the run's interpreter, ``{host}``, ``{port}``, ``{bind}`` (``host:port``,
IPv6 in brackets), ``{upstream_url}``, and every stated setting: ``{workers}``,
``{threads}``, ``{worker_class}``, ``{worker_connections}``, ``{backlog}``,
``{keepalive_s}``, ``{keepalive_ms}`` (the same in milliseconds), ``{worker_timeout_s}``
(the upstream timeout plus 30 s).
"""

from __future__ import annotations

from typing import Any

# Apps on the mock upstream, then apps on PostgreSQL (servers/pg_*.py, one driver each).
APP_MODULES = {"flask": "servers.flask_app", "quart": "servers.quart_app",
               "fastapi": "servers.fastapi_app", "flask-pg": "servers.pg_flask",
               "quart-pg": "servers.pg_quart", "fastapi-pg": "servers.pg_fastapi",
               "fastapi-asyncpg": "servers.pg_fastapi_asyncpg"}
DB_APPS = ("flask-pg", "quart-pg", "fastapi-pg", "fastapi-asyncpg")
SYNC_APPS = ("flask", "flask-pg")
# The request paths of the app contract; a stack may declare others, or fewer. Built-in
# apps also take the handler's CPU work (``cpu_ms``, 0 for none).
CONTRACT_PATHS = (("aggregate", "/aggregate?n={n}&delay_ms={delay_ms}&cpu_ms={cpu_ms}"),
                  ("single", "/single?delay_ms={delay_ms}&cpu_ms={cpu_ms}"))


def command_template(server: str, worker_class: str, target: str) -> tuple[str, ...]:
    """The command template that serves the WSGI/ASGI ``target`` (``module:app``) with a
    built-in server, every setting a placeholder; () for an unknown server."""
    if server == "gunicorn":
        argv = ["{python}", "-m", "gunicorn", "--no-control-socket", "--bind", "{bind}",
                "--workers", "{workers}", "--worker-class", "{worker_class}",
                "--backlog", "{backlog}", "--keep-alive", "{keepalive_s}",
                "--graceful-timeout", "5", "--timeout", "{worker_timeout_s}"]
        if worker_class == "gthread":
            argv += ["--threads", "{threads}"]
        if worker_class in ("gevent", "asgi"):
            argv += ["--worker-connections", "{worker_connections}"]
        return (*argv, target)
    if server == "hypercorn":
        return ("{python}", "-m", "hypercorn", "--bind", "{bind}", "--workers", "{workers}",
                "--worker-class", "{worker_class}", "--backlog", "{backlog}",
                "--keep-alive", "{keepalive_s}", "--graceful-timeout", "5", target)
    if server == "uvicorn":
        return ("{python}", "-m", "uvicorn", "--host", "{host}", "--port", "{port}",
                "--workers", "{workers}", "--loop", "{worker_class}",
                "--backlog", "{backlog}", "--timeout-keep-alive", "{keepalive_s}",
                "--timeout-graceful-shutdown", "5", "--no-access-log", "--log-level", "warning",
                target)
    if server == "granian":
        return granian_template(worker_class, target)
    if server == "dev":
        return ("{python}", "-m", target.partition(":")[0], "--host", "{host}", "--port", "{port}")
    return ()


def granian_template(worker_class: str, target: str) -> tuple[str, ...]:
    """Granian (one Rust server for WSGI and ASGI apps): worker class ``wsgi`` serves a WSGI
    app on ``{threads}`` blocking threads per worker; an event loop (``asyncio``,
    ``uvloop``) serves an ASGI app on one.

    Every default that shapes a result is stated: ``--backpressure`` (requests a worker
    takes at once; Granian's default is backlog / workers) is ``{worker_connections}``;
    the Rust runtime's threads and mode are those Granian picks for WSGI and ASGI (1,
    ``mt``); HTTP/1 only. Granian has no keep-alive timeout of its own: its header read
    timeout also closes a kept-alive connection idle that long, so it is
    ``{keepalive_ms}``. ``asgi`` (not ``asginl``) runs the ASGI lifespan, in which the
    async apps open their upstream session.
    """
    wsgi = worker_class == "wsgi"
    argv = ["{python}", "-m", "granian", "--interface", "wsgi" if wsgi else "asgi",
            "--host", "{host}", "--port", "{port}", "--workers", "{workers}",
            "--blocking-threads", "{threads}", "--runtime-threads", "1", "--runtime-mode", "mt"]
    if not wsgi:
        argv += ["--loop", "{worker_class}"]
    argv += ["--backlog", "{backlog}", "--backpressure", "{worker_connections}", "--http", "1",
             "--no-ws", "--http1-keep-alive", "--http1-header-read-timeout", "{keepalive_ms}",
             "--workers-kill-timeout", "5", "--log-level", "warning", "--no-access-log", target]
    return tuple(argv)


def app_command(app: str, server: str, worker_class: str, module: str | None = None) -> tuple[
        str, ...]:
    """The command template of a built-in ``app`` (or another ``module`` exposing ``app``)."""
    return command_template(server, worker_class, f"{module or APP_MODULES.get(app, '')}:app")


def _entry(app: str, server: str, worker_class: str, module: str | None = None,
           **settings: Any) -> dict[str, Any]:
    return {"app": app, "server": server, "worker_class": worker_class,
            "command": app_command(app, server, worker_class, module), **settings}


# Settings of the original scripts: gunicorn gthread with 4 workers x 2 threads.
# The async stacks get the same worker-process budget (4) so CPU budgets are equal.
BUILTIN_STACKS: dict[str, dict[str, Any]] = {
    "flask-gunicorn": _entry(
        "flask", "gunicorn", "gthread", workers=4, threads=2, backlog=2048, keepalive_s=5,
        pool_size=10),
    # The control for fan-out: the same Flask app making its N calls through a thread pool
    # (pool_size threads per process), so "concurrent calls" and "async server" separate.
    "flask-gunicorn-threadpool": _entry(
        "flask", "gunicorn", "gthread", "servers.flask_threadpool_app", workers=4, threads=2,
        backlog=2048, keepalive_s=5, pool_size=10, fanout="concurrent"),
    "flask-gunicorn-gevent": _entry(
        "flask", "gunicorn", "gevent", workers=4, worker_connections=1000, backlog=2048,
        keepalive_s=5, pool_size=1000),
    "quart-hypercorn": _entry(
        "quart", "hypercorn", "asyncio", workers=4, backlog=2048, keepalive_s=5, pool_size=1000),
    "quart-hypercorn-uvloop": _entry(
        "quart", "hypercorn", "uvloop", workers=4, backlog=2048, keepalive_s=5, pool_size=1000),
    "quart-gunicorn-asgi": _entry(
        "quart", "gunicorn", "asgi", workers=4, worker_connections=1000, backlog=2048,
        keepalive_s=5, pool_size=1000),
    "fastapi-uvicorn": _entry(
        "fastapi", "uvicorn", "asyncio", workers=4, backlog=2048, keepalive_s=5, pool_size=1000),
    # One server for both paradigms (Granian), so a comparison changes the paradigm alone:
    # Flask on 4 workers x 2 blocking threads, the same 8 slots as gthread 4 x 2.
    "flask-granian": _entry(
        "flask", "granian", "wsgi", workers=4, threads=2, worker_connections=1000,
        backlog=2048, keepalive_s=5, pool_size=10),
    "quart-granian": _entry(
        "quart", "granian", "asyncio", workers=4, worker_connections=1000, backlog=2048,
        keepalive_s=5, pool_size=1000),
    "fastapi-granian": _entry(
        "fastapi", "granian", "asyncio", workers=4, worker_connections=1000, backlog=2048,
        keepalive_s=5, pool_size=1000),
    # Development servers (the original benchmark.py): reported apart, never as production.
    "flask-dev": _entry(
        "flask", "dev", "threaded", workers=1, backlog=128, keepalive_s=0, pool_size=1000),
    "quart-dev": _entry(
        "quart", "dev", "asyncio", workers=1, backlog=100, keepalive_s=5, pool_size=1000),
    "fastapi-dev": _entry(
        "fastapi", "dev", "asyncio", workers=1, backlog=2048, keepalive_s=5, pool_size=1000),
}

# The careful async port: handler CPU work (cpu_ms) runs in a thread pool, off the loop.
for _name in ("quart-hypercorn", "fastapi-uvicorn"):
    BUILTIN_STACKS[f"{_name}-offload"] = {**BUILTIN_STACKS[_name], "cpu_offload": True}

# The stacks on PostgreSQL ([upstream] kind = "postgres"), kept apart because they need
# it: the same 4 worker processes as above, each holding 10 connections, and Flask gets
# one thread per connection so that it can use them all.
_DB_STATED: dict[str, Any] = {"workers": 4, "backlog": 2048, "keepalive_s": 5, "pool_size": 10}
DB_BUILTIN_STACKS: dict[str, dict[str, Any]] = {
    "flask-gunicorn-pg": _entry("flask-pg", "gunicorn", "gthread", threads=10, **_DB_STATED),
    "quart-hypercorn-pg": _entry("quart-pg", "hypercorn", "asyncio", **_DB_STATED),
    "fastapi-uvicorn-pg": _entry("fastapi-pg", "uvicorn", "asyncio", **_DB_STATED),
    "fastapi-uvicorn-asyncpg": _entry("fastapi-asyncpg", "uvicorn", "asyncio", **_DB_STATED),
}

# The stacks a config measures when it names none, on each kind of upstream; the first
# is the default baseline.
MOCK_STACKS = ("flask-gunicorn", "quart-hypercorn", "fastapi-uvicorn")
DB_STACKS = tuple(DB_BUILTIN_STACKS)
