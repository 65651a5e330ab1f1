"""An async app on PostgreSQL: FastAPI, psycopg 3 and ``psycopg_pool.AsyncConnectionPool``.

Served by uvicorn (``servers.pg_fastapi:app``); routes and error answers are the shared
ones (``servers.fastapi_routes``), the upstream calls are queries (``servers.db_async``).
Settings come from ``ASYNCBENCH_*`` (``servers.db_settings``).
"""

from __future__ import annotations

from servers.db_async import PsycopgAsyncClient
from servers.db_settings import DbSettings
from servers.fastapi_routes import build_app

_settings = DbSettings.from_env()
app = build_app(_settings.stack, PsycopgAsyncClient(_settings))
