"""The sync app on PostgreSQL: Flask, psycopg 3 and ``psycopg_pool.ConnectionPool``.

Served by gunicorn (``servers.pg_flask:app``); the routes and error answers are the
shared ones (``servers.flask_routes``), the upstream calls are queries
(``servers.db_sync``).  Settings come from ``ASYNCBENCH_*`` (``servers.db_settings``).
"""

from __future__ import annotations

from servers.db_settings import DbSettings
from servers.db_sync import SyncDbClient
from servers.flask_routes import build_app

_settings = DbSettings.from_env()
app = build_app(_settings.stack, SyncDbClient(_settings))
