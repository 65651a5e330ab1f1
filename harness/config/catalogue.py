"""The built-in stacks: each a complete, explicit server setting.

A config names stacks from here, may override any field in a ``[stacks.NAME]``
table, or define new stacks there. Nothing is left to a server's silent default:
worker counts, threads, backlogs, keep-alive and client pool sizes are all stated.
"""

from __future__ import annotations

from typing import Any

# Settings of the original scripts: gunicorn gthread with 4 workers x 2 threads.
# The async stacks get the same worker-process budget (4) so CPU budgets are equal.
BUILTIN_STACKS: dict[str, dict[str, Any]] = {
    "flask-gunicorn": {
        "app": "flask",
        "server": "gunicorn",
        "worker_class": "gthread",
        "workers": 4,
        "threads": 2,
        "backlog": 2048,
        "keepalive_s": 5,
        "pool_size": 10,
    },
    "flask-gunicorn-gevent": {
        "app": "flask",
        "server": "gunicorn",
        "worker_class": "gevent",
        "workers": 4,
        "worker_connections": 1000,
        "backlog": 2048,
        "keepalive_s": 5,
        "pool_size": 1000,
    },
    "quart-hypercorn": {
        "app": "quart",
        "server": "hypercorn",
        "worker_class": "asyncio",
        "workers": 4,
        "backlog": 2048,
        "keepalive_s": 5,
        "pool_size": 1000,
    },
    "quart-hypercorn-uvloop": {
        "app": "quart",
        "server": "hypercorn",
        "worker_class": "uvloop",
        "workers": 4,
        "backlog": 2048,
        "keepalive_s": 5,
        "pool_size": 1000,
    },
    "quart-gunicorn-asgi": {
        "app": "quart",
        "server": "gunicorn",
        "worker_class": "asgi",
        "workers": 4,
        "worker_connections": 1000,
        "backlog": 2048,
        "keepalive_s": 5,
        "pool_size": 1000,
    },
    "fastapi-uvicorn": {
        "app": "fastapi",
        "server": "uvicorn",
        "worker_class": "asyncio",
        "workers": 4,
        "backlog": 2048,
        "keepalive_s": 5,
        "pool_size": 1000,
    },
    # Development servers (the original benchmark.py): reported apart, never as production.
    "flask-dev": {
        "app": "flask",
        "server": "dev",
        "worker_class": "threaded",
        "workers": 1,
        "backlog": 128,
        "keepalive_s": 0,
        "pool_size": 1000,
    },
    "quart-dev": {
        "app": "quart",
        "server": "dev",
        "worker_class": "asyncio",
        "workers": 1,
        "backlog": 100,
        "keepalive_s": 5,
        "pool_size": 1000,
    },
    "fastapi-dev": {
        "app": "fastapi",
        "server": "dev",
        "worker_class": "asyncio",
        "workers": 1,
        "backlog": 2048,
        "keepalive_s": 5,
        "pool_size": 1000,
    },
}

# The careful async port: handler CPU work (cpu_ms) runs in a thread pool, off the loop.
for _name in ("quart-hypercorn", "fastapi-uvicorn"):
    BUILTIN_STACKS[f"{_name}-offload"] = {**BUILTIN_STACKS[_name], "cpu_offload": True}

# The stacks on PostgreSQL ([upstream] kind = "postgres"), kept apart because they need
# it: the same 4 worker processes as above, each holding 10 connections, and Flask gets
# one thread per connection so that it can use them all.
_DB_STATED: dict[str, Any] = {"workers": 4, "backlog": 2048, "keepalive_s": 5, "pool_size": 10}
DB_BUILTIN_STACKS: dict[str, dict[str, Any]] = {
    "flask-gunicorn-pg": {"app": "flask-pg", "server": "gunicorn", "worker_class": "gthread",
                          "threads": 10, **_DB_STATED},
    "quart-hypercorn-pg": {"app": "quart-pg", "server": "hypercorn", "worker_class": "asyncio",
                           **_DB_STATED},
    "fastapi-uvicorn-pg": {"app": "fastapi-pg", "server": "uvicorn", "worker_class": "asyncio",
                           **_DB_STATED},
    "fastapi-uvicorn-asyncpg": {"app": "fastapi-asyncpg", "server": "uvicorn",
                                "worker_class": "asyncio", **_DB_STATED},
}

# The stacks a config measures when it names none, on each kind of upstream; the first
# is the default baseline.
MOCK_STACKS = ("flask-gunicorn", "quart-hypercorn", "fastapi-uvicorn")
DB_STACKS = tuple(DB_BUILTIN_STACKS)
