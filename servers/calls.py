"""What an app's handlers call: the upstream behind ``/single`` and ``/aggregate``.

The apps build their routes on one of these two shapes, whatever the upstream is (the
mock over HTTP, or PostgreSQL through a connection pool).  Every method returns the
JSON body of a 200 answer, starting with ``{"calls": N, ...}``, and raises
``servers.errors.UpstreamError`` when the upstream fails (the apps answer 502).
"""

from __future__ import annotations

from typing import Any, Protocol


class SyncCalls(Protocol):
    """The upstream of a sync app: calls block the worker thread."""

    def single(self, delay_ms: int) -> dict[str, Any]: ...

    def aggregate(self, n: int, delay_ms: int) -> dict[str, Any]: ...


class AsyncCalls(Protocol):
    """The upstream of an async app: opened when serving starts, closed when it stops."""

    async def start(self) -> None: ...

    async def close(self) -> None: ...

    async def single(self, delay_ms: int) -> dict[str, Any]: ...

    async def aggregate(self, n: int, delay_ms: int) -> dict[str, Any]: ...
