"""Calibration of the instrument: how fast the load generator is and what it adds.

Pure measurement functions over a running endpoint; the CLI and
``scripts/loadgen_bench.py`` start the endpoint and print the figures.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

import aiohttp

from harness.loadgen import client_session, request

T = TypeVar("T")


async def peak_rate(base_url: str, path: str = "/delay?ms=0", *, concurrency: int = 32,
                    duration_s: float = 3.0, max_requests: int = 200_000) -> dict[str, Any]:
    """Closed-loop requests from ``concurrency`` workers for ``duration_s`` (bounded in count).

    Returns requests/s, the counts, and the load generator's own CPU use.
    """
    url = base_url + path
    sent = 0
    errors = 0
    deadline = time.perf_counter() + duration_s

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal sent, errors
        while time.perf_counter() < deadline and sent < max_requests:
            sent += 1
            outcome = await request(session, url, None, 10.0)
            if outcome.kind != "ok":
                errors += 1

    cpu0, wall0 = time.process_time(), time.perf_counter()
    async with client_session(concurrency) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    return {"requests": sent, "errors": errors, "seconds": round(wall, 3),
            "rps": round((sent - errors) / wall, 1), "loadgen_cpu": round(cpu / wall, 3),
            "concurrency": concurrency}


async def added_latency(upstream_url: str, delay_ms: int = 100,
                        samples: int = 100) -> dict[str, Any]:
    """Latency the load generator measures beyond what the upstream says it served.

    Sequential requests on one kept-alive connection; overhead = measured - served.
    """
    overheads = []
    async with client_session(1) as session:
        for _ in range(samples):
            start = time.perf_counter()
            async with session.get(f"{upstream_url}/delay?ms={delay_ms}") as resp:
                body = await resp.json()
            measured_ms = 1000 * (time.perf_counter() - start)
            overheads.append(measured_ms - float(body["served_ms"]))
    overheads.sort()

    def pct(q: float) -> float:
        return round(overheads[min(len(overheads) - 1, int(q * len(overheads)))], 3)

    return {"delay_ms": delay_ms, "samples": samples,
            "overhead_ms": {"mean": round(statistics.fmean(overheads), 3), "p50": pct(0.5),
                            "p90": pct(0.9), "p99": pct(0.99), "max": round(overheads[-1], 3)}}


def run_with_loop(factory: Callable[[], Coroutine[Any, Any, T]], loop: str = "asyncio") -> T:
    """Run a coroutine on a fresh asyncio or uvloop event loop."""
    if loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(factory())
    return asyncio.run(factory())
