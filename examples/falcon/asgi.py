"""The same service as ``wsgi.py`` on Falcon's ASGI app: the async half of the example.

``/api/report`` makes its N upstream calls at once with ``asyncio.gather`` through one
aiohttp session per worker process, opened and closed with the ASGI lifespan. Served
by uvicorn: ``uvicorn asgi:app``.
"""

from __future__ import annotations

import asyncio
import os

import aiohttp
import falcon
import falcon.asgi

UPSTREAM = os.environ.get("ASYNCBENCH_UPSTREAM_URL", "http://127.0.0.1:8000")


class Upstream:
    """The worker's aiohttp session, as Falcon middleware so the lifespan owns it."""

    def __init__(self) -> None:
        self.session: aiohttp.ClientSession | None = None

    async def process_startup(self, scope: object, event: object) -> None:
        # aiohttp caps a session at 100 connections by default: state the pool instead.
        self.session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1000))

    async def process_shutdown(self, scope: object, event: object) -> None:
        if self.session is not None:
            await self.session.close()

    async def call(self, delay_ms: int) -> None:
        """One upstream call that takes ``delay_ms``; a failure becomes a 502."""
        assert self.session is not None, "lifespan startup has not run"
        try:
            async with self.session.get(f"{UPSTREAM}/delay?ms={delay_ms}",
                                        timeout=aiohttp.ClientTimeout(total=30)) as response:
                await response.read()
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise falcon.HTTPBadGateway(description=f"upstream unreachable: {exc!r}") from exc
        if response.status != 200:
            raise falcon.HTTPBadGateway(description=f"upstream answered {response.status}")


upstream = Upstream()


class Health:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        resp.media = {"status": "ok"}


class Item:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        delay_ms = req.get_param_as_int("delay_ms", required=True, min_value=0, max_value=60_000)
        await upstream.call(delay_ms)
        resp.media = {"calls": 1}


class Report:
    async def on_get(self, req: falcon.asgi.Request, resp: falcon.asgi.Response) -> None:
        n = req.get_param_as_int("n", required=True, min_value=1, max_value=1000)
        delay_ms = req.get_param_as_int("delay_ms", required=True, min_value=0, max_value=60_000)
        await asyncio.gather(*(upstream.call(delay_ms) for _ in range(n)))
        resp.media = {"calls": n}


app = falcon.asgi.App(middleware=[upstream])
app.add_route("/healthz", Health())
app.add_route("/api/item", Item())
app.add_route("/api/report", Report())
