"""The database clients of the async PostgreSQL apps (Quart, FastAPI), one pool per process.

``PsycopgAsyncClient``  psycopg 3 with ``psycopg_pool.AsyncConnectionPool``
``AsyncpgClient``       asyncpg with its own ``asyncpg.Pool``

Both hold ``pool_size`` connections, opened when the app starts serving.  ``/aggregate``
runs its ``n`` queries at once, each on its own pool connection, so beyond ``pool_size``
queries wait for a connection: the pool, not the event loop, bounds the concurrency.
The time spent waiting for a connection is summed into the answer's ``pool_wait_ms``.
"""

from __future__ import annotations

import abc
import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import psycopg
from psycopg_pool import AsyncConnectionPool

from servers.db_queries import make_query
from servers.db_settings import DbSettings
from servers.errors import UpstreamError, describe_cause

# What asyncpg raises when the database refuses, fails a query or cannot be reached in time.
ASYNCPG_ERRORS = (asyncpg.PostgresError, asyncpg.InterfaceError, OSError, TimeoutError)


async def gather_calls(n: int, call: Callable[[], Awaitable[tuple[int, float]]],
                       query: str) -> dict[str, Any]:
    """Run ``n`` calls at once; every call runs to its end, then the first failure is raised
    with how many succeeded.  Each call returns (rows, seconds waited for a connection)."""
    results = await asyncio.gather(*(call() for _ in range(n)), return_exceptions=True)
    done = [r for r in results if not isinstance(r, BaseException)]
    failed = next((r for r in results if isinstance(r, BaseException)), None)
    if isinstance(failed, UpstreamError):
        raise UpstreamError(failed.message, attempted=n, succeeded=len(done)) from failed
    if failed is not None:
        raise failed
    return {"calls": n, "mode": "concurrent", "query": query,
            "rows": sum(rows for rows, _ in done),
            "pool_wait_ms": round(sum(wait for _, wait in done) * 1000, 3)}


class PooledClient(abc.ABC):
    """What both drivers share: ``/single`` and ``/aggregate`` over ``call``, one query on
    its own pool connection returning (rows read, seconds waited for the connection)."""

    settings: DbSettings

    @abc.abstractmethod
    async def call(self, delay_ms: int) -> tuple[int, float]:
        """One query; the subclass runs it with its driver."""

    async def single(self, delay_ms: int) -> dict[str, Any]:
        """``/single``: one query."""
        return await gather_calls(1, lambda: self.call(delay_ms), self.settings.query) \
            | {"mode": "single"}

    async def aggregate(self, n: int, delay_ms: int) -> dict[str, Any]:
        """``/aggregate``: ``n`` queries at once."""
        return await gather_calls(n, lambda: self.call(delay_ms), self.settings.query)


class PsycopgAsyncClient(PooledClient):
    """``AsyncConnectionPool(min_size=max_size=pool_size)``, autocommit connections."""

    def __init__(self, settings: DbSettings) -> None:
        self.settings = settings
        self._pool = AsyncConnectionPool(
            settings.database_url, min_size=settings.pool_size, max_size=settings.pool_size,
            timeout=settings.timeout_s, open=False, name=settings.stack,
            kwargs={"autocommit": True, "options": settings.libpq_options})

    async def start(self) -> None:
        """Open the pool without waiting for it to fill: a database that is down gives 502s."""
        await self._pool.open(wait=False)

    async def close(self) -> None:
        """Close the pool and its connections."""
        await self._pool.close()

    async def call(self, delay_ms: int) -> tuple[int, float]:
        """One query on its own connection; (rows read, seconds waited for the connection)."""
        query = make_query(self.settings.query, delay_ms)
        asked = time.perf_counter()
        try:
            async with self._pool.connection() as conn:
                waited = time.perf_counter() - asked
                cursor = await conn.execute(query.psycopg, query.params)
                rows = await cursor.fetchall()
        except psycopg.Error as exc:
            raise UpstreamError(f"database query failed: {describe_cause(exc)}") from exc
        return len(rows), waited


class AsyncpgClient(PooledClient):
    """``asyncpg.create_pool(min_size=max_size=pool_size)``, opened by ``start``."""

    def __init__(self, settings: DbSettings) -> None:
        self.settings = settings
        self._pool: asyncpg.Pool | None = None

    async def start(self) -> None:
        """Open the pool; a database that is down leaves it closed and every call a 502."""
        try:
            self._pool = await asyncpg.create_pool(
                self.settings.database_url, min_size=self.settings.pool_size,
                max_size=self.settings.pool_size, server_settings=self.settings.server_settings,
                timeout=self.settings.timeout_s)
        except ASYNCPG_ERRORS:
            self._pool = None

    async def close(self) -> None:
        """Close the pool and its connections."""
        pool, self._pool = self._pool, None
        if pool is not None:
            await pool.close()

    async def call(self, delay_ms: int) -> tuple[int, float]:
        """One query on its own connection; (rows read, seconds waited for the connection)."""
        if self._pool is None:
            raise UpstreamError("database unreachable: the pool could not be opened")
        query = make_query(self.settings.query, delay_ms)
        asked = time.perf_counter()
        try:
            async with self._pool.acquire(timeout=self.settings.timeout_s) as conn:
                waited = time.perf_counter() - asked
                rows = await conn.fetch(query.asyncpg, *query.params)
        except ASYNCPG_ERRORS as exc:
            raise UpstreamError(f"database query failed: {describe_cause(exc)}") from exc
        return len(rows), waited
