"""The database client of the sync PostgreSQL app (Flask): psycopg 3 and one
``psycopg_pool.ConnectionPool`` per process, ``pool_size`` connections, opened on first
use by the process that uses it (gunicorn forks its workers before any request).

Each call borrows a connection, runs one query, and gives it back; ``/aggregate`` runs
its queries one after another on the worker's thread.  The time spent waiting for a
free connection is summed into the answer's ``pool_wait_ms``.
"""

from __future__ import annotations

import os
import threading
import time
from typing import Any

import psycopg
from psycopg_pool import ConnectionPool

from servers.db_queries import make_query
from servers.db_settings import DbSettings
from servers.errors import UpstreamError, describe_cause


class SyncDbClient:
    """One ``ConnectionPool(min_size=max_size=pool_size)``; a call waits at most ``timeout_s``
    for a connection, and the server cancels a query running longer than that."""

    def __init__(self, settings: DbSettings) -> None:
        self.settings = settings
        self._lock = threading.Lock()
        self._pool: ConnectionPool | None = None
        self._pid = 0

    def pool(self) -> ConnectionPool:
        """This process's pool, opened on first use."""
        with self._lock:
            if self._pool is None or self._pid != os.getpid():
                self._pool = ConnectionPool(
                    self.settings.database_url, min_size=self.settings.pool_size,
                    max_size=self.settings.pool_size, timeout=self.settings.timeout_s,
                    kwargs={"autocommit": True, "options": self.settings.libpq_options},
                    open=False, name=self.settings.stack)
                # Not waiting: a database that is down gives 502 answers, not a dead worker.
                self._pool.open(wait=False)
                self._pid = os.getpid()
            return self._pool

    def call(self, delay_ms: int) -> tuple[int, float]:
        """One query; returns the rows it read and the seconds spent waiting for a connection.

        Raises:
            UpstreamError: no connection in time, or the query failed.
        """
        query = make_query(self.settings.query, delay_ms)
        asked = time.perf_counter()
        try:
            with self.pool().connection() as conn:
                waited = time.perf_counter() - asked
                rows = conn.execute(query.psycopg, query.params).fetchall()
        except psycopg.Error as exc:
            raise UpstreamError(f"database query failed: {describe_cause(exc)}") from exc
        return len(rows), waited

    def single(self, delay_ms: int) -> dict[str, Any]:
        """``/single``: one query."""
        return self.aggregate(1, delay_ms) | {"mode": "single"}

    def aggregate(self, n: int, delay_ms: int) -> dict[str, Any]:
        """``/aggregate``: ``n`` queries, one after another; the first failure stops it."""
        rows = 0
        waited = 0.0
        for done in range(n):
            try:
                got, wait = self.call(delay_ms)
            except UpstreamError as exc:
                raise UpstreamError(exc.message, attempted=done + 1, succeeded=done) from exc
            rows += got
            waited += wait
        return {"calls": n, "mode": "sequential", "query": self.settings.query, "rows": rows,
                "pool_wait_ms": round(waited * 1000, 3)}
