"""An async app on PostgreSQL: Quart, psycopg 3 and ``psycopg_pool.AsyncConnectionPool``.

Served by Hypercorn (``servers.pg_quart:app``); routes and error answers are the shared
ones (``servers.quart_routes``), the upstream calls are queries (``servers.db_async``).
Settings come from ``ASYNCBENCH_*`` (``servers.db_settings``).
"""

from __future__ import annotations

from servers.db_async import PsycopgAsyncClient
from servers.db_settings import DbSettings
from servers.quart_routes import build_app

_settings = DbSettings.from_env()
app = build_app(_settings.stack, PsycopgAsyncClient(_settings))
