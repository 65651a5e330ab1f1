"""The upstream client of the async apps (Quart, FastAPI): one aiohttp session per process.

The app opens it when it starts serving and closes it when it stops; its handlers
call ``single`` and ``aggregate``, which run the upstream calls concurrently and
raise ``UpstreamError`` when any call fails.  With ``ASYNCBENCH_QUOTA_RPS`` an
``asyncio_throttle.Throttler`` admits one call per 1/quota seconds, so the process never
exceeds its share of the upstream's quota.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
from asyncio_throttle.throttler import Throttler

from servers.errors import UpstreamError, describe_cause
from servers.params import parse_served_ms
from servers.settings import Settings


class AsyncUpstreamClient:
    """One pooled ``aiohttp.ClientSession``: ``TCPConnector(limit=pool_size)`` and a total
    timeout per call of ``upstream_timeout_s``."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self._session: aiohttp.ClientSession | None = None
        quota = settings.quota_rps
        # One call per period: calls are spaced evenly, never sent in a burst.
        self._throttler = None if quota is None else Throttler(rate_limit=1, period=1.0 / quota)

    async def start(self) -> None:
        """Open the session; call it from the app's startup hook."""
        if self._session is not None:
            return
        self._session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=self.settings.pool_size),
            timeout=aiohttp.ClientTimeout(total=self.settings.upstream_timeout_s),
        )

    async def close(self) -> None:
        """Close the session and its connections; call it from the app's shutdown hook."""
        session, self._session = self._session, None
        if session is not None:
            await session.close()

    async def call(self, delay_ms: int) -> float:
        """One ``/delay`` call; returns the ``served_ms`` the upstream reports.

        Raises:
            UpstreamError: connection error, timeout, non-200 or a malformed body.
        """
        if self._session is None:
            raise RuntimeError("the upstream session is not open: the app has not started")
        url = f"{self.settings.delay_url}?ms={delay_ms}"
        if self._throttler is not None:
            await self._throttler.acquire()
        try:
            async with self._session.get(url) as response:
                if response.status != 200:
                    raise UpstreamError(
                        f"upstream answered {response.status}", status=response.status
                    )
                body: Any = await response.json(content_type=None)
        except TimeoutError as exc:
            raise UpstreamError(
                f"upstream timed out after {self.settings.upstream_timeout_s} s"
            ) from exc
        except aiohttp.ClientError as exc:
            raise UpstreamError(f"upstream unreachable: {describe_cause(exc)}") from exc
        except ValueError as exc:
            raise UpstreamError("upstream answered 200 with a body that is not JSON", 200) from exc
        return parse_served_ms(body)

    async def single(self, delay_ms: int) -> dict[str, Any]:
        """``/single``: one upstream call."""
        return {"calls": 1, "served_ms": [await self.call(delay_ms)]}

    async def aggregate(self, n: int, delay_ms: int) -> dict[str, Any]:
        """``/aggregate``: ``n`` upstream calls at once with ``asyncio.gather``.

        Every call runs to its end; if any failed, the first failure is raised with
        how many succeeded.
        """
        results = await asyncio.gather(
            *(self.call(delay_ms) for _ in range(n)), return_exceptions=True
        )
        served: list[float] = []
        first_error: BaseException | None = None
        for result in results:
            if isinstance(result, BaseException):
                first_error = first_error or result
            else:
                served.append(result)
        if first_error is not None:
            if isinstance(first_error, UpstreamError):
                raise UpstreamError(
                    first_error.message,
                    first_error.status,
                    attempted=n,
                    succeeded=len(served),
                ) from first_error
            raise first_error
        return {"calls": len(served), "mode": "concurrent", "served_ms": served}
