"""The sustained arrival: wrk's closed loop on C keep-alive connections.

C clients share one session of C keep-alive connections; each sends its next request as
soon as its last one is answered, from the start until ``duration_s`` has passed (a
request in flight then is awaited, and counted among the trial's requests, but not in
its figures). Throughput is the answers that arrived in the steady window, from
``warmup_s`` to ``duration_s`` after the start, per second of the window; latency is
summarised over the same answers. ``duration_s`` in the metrics is the time the stack
takes to serve C requests at that rate (C / throughput): in a closed loop without pauses
that is each client's cycle, so it matches the mean response time (Little's law), and a
throughput speedup read from durations means the same as in the bursts mode.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

from harness.loadgen.drivers import (
    Clock,
    Outcome,
    ScenarioResult,
    SessionFactory,
    client_session,
    request,
)


async def run_sustained(url: str, clients: int, timeout_s: float, duration_s: float,
                        warmup_s: float, clock: Clock = time.perf_counter,
                        session: SessionFactory | None = None,
                        calls_field: str | None = "calls",
                        gate: Callable[[], Awaitable[None]] | None = None) -> ScenarioResult:
    """``clients`` keep-alive connections sending back to back for ``duration_s``; the
    figures count the answers from ``warmup_s`` to ``duration_s`` (see the module).
    ``gate`` is awaited just before the start (an engine's release)."""
    answered: list[tuple[float, Outcome]] = []
    async with (session or client_session)(clients) as s:
        if gate is not None:
            await gate()
        start = clock()
        steady_from, end = start + warmup_s, start + duration_s

        async def client() -> None:
            while clock() < end:
                outcome = await request(s, url, 1, timeout_s, clock, calls_field)
                answered.append((clock(), outcome))

        await asyncio.gather(*(client() for _ in range(clients)))
        finished = clock()
    steady = [o for at, o in answered if steady_from <= at < end]
    window_s = end - steady_from
    throughput = len(steady) / window_s
    ok = [o.latency_s for o in steady if o.kind == "ok"]
    metrics = {
        "duration_s": clients / throughput if throughput > 0 else window_s,
        "mean_response_s": sum(ok) / len(ok) if ok else 0.0,
        "throughput_rps": throughput,
    }
    window = {"start_s": round(warmup_s, 6), "end_s": round(duration_s, 6),
              "requests": len(steady), "throughput_rps": round(throughput, 6)}
    problem = None if steady else (
        f"no answer arrived in the steady window ({warmup_s:g}-{duration_s:g} s after the "
        f"start): every request took longer than the window")
    return ScenarioResult([o for _, o in answered], finished - start, metrics,
                          steady=steady, windows=[(steady_from, end)], window=window,
                          problem=problem, opened=start)
