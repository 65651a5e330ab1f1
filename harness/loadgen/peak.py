"""The closed loop at full speed: ``concurrency`` connections, each sending its next request
as soon as the last one answers, for a fixed time (bounded in count).

Not a scenario of the matrix: the instrument's own ceiling, measured by ``calibrate`` on
one process and, through the engines, on 1..N Locust workers beside wrk.
"""

from __future__ import annotations

import asyncio
import time

import aiohttp

from harness.loadgen.drivers import Clock, Outcome, ScenarioResult, request

TIMEOUT_S = 10.0


async def closed_loop(session: aiohttp.ClientSession, url: str, concurrency: int,
                      duration_s: float, max_requests: int = 200_000,
                      clock: Clock = time.perf_counter) -> ScenarioResult:
    """Requests from ``concurrency`` loops until ``duration_s`` has passed or
    ``max_requests`` were sent; any JSON (or 200) answer is a success."""
    outcomes: list[Outcome] = []
    start = clock()
    deadline = start + duration_s

    async def loop() -> None:
        while clock() < deadline and len(outcomes) < max_requests:
            outcomes.append(await request(session, url, None, TIMEOUT_S, clock, None))

    await asyncio.gather(*(loop() for _ in range(concurrency)))
    wall = clock() - start
    ok = sum(o.kind == "ok" for o in outcomes)
    return ScenarioResult(outcomes, wall, {"duration_s": wall,
                                           "throughput_rps": ok / wall if wall > 0 else 0.0})
