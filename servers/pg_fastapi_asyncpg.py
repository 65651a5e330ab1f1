"""An async app on PostgreSQL: FastAPI and asyncpg's own pool.

Served by uvicorn (``servers.pg_fastapi_asyncpg:app``); routes and error answers are the
shared ones (``servers.fastapi_routes``), the upstream calls are queries
(``servers.db_async.AsyncpgClient``).  Settings come from ``ASYNCBENCH_*``
(``servers.db_settings``).
"""

from __future__ import annotations

from servers.db_async import AsyncpgClient
from servers.db_settings import DbSettings
from servers.fastapi_routes import build_app

_settings = DbSettings.from_env()
app = build_app(_settings.stack, AsyncpgClient(_settings))
