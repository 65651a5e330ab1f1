"""How a clients trial's clients arrive: the one driver every engine runs.

``run_arrival`` reads the trial's ``params["arrival"]`` (``config.arrival.Arrival.params``)
and drives it: ``bursts`` (``drivers.run_client_bursts``: C clients released together,
burst after burst, with the gap, connection handling and ramp the params state) or
``sustained`` (``sustained.run_sustained``: wrk's closed loop). The trial's params are all
it needs, so a load-generator process anywhere can run it. ``attach_spread`` adds what
the server was seen doing to the result afterwards: each burst's (or the steady window's)
peak of connections per worker (``spread.SpreadSampler``).
"""

from __future__ import annotations

import asyncio
import functools
import time
from collections.abc import Mapping
from typing import Any, Protocol

from harness.config.arrival import TrialArrival
from harness.loadgen.drivers import (
    Clock,
    Gate,
    ScenarioResult,
    SessionFactory,
    Sleep,
    burst_details,
    run_client_bursts,
)
from harness.loadgen.spread import NO_SPREAD, SpreadSampler
from harness.loadgen.sustained import run_sustained


async def run_arrival(url: str, params: Mapping[str, Any], *, clock: Clock = time.perf_counter,
                      sleep: Sleep = asyncio.sleep, session: SessionFactory | None = None,
                      calls_field: str | None = "calls",
                      gate: Gate | None = None) -> ScenarioResult:
    """Drive one clients trial as its ``params`` say: ``clients``, ``timeout_s`` and
    ``arrival`` (ConfigError when the arrival is not a valid one). ``gate(k)`` is awaited
    just before burst k is released (the sustained loop's start is burst 1)."""
    plan = TrialArrival.from_params(params)
    arrival, clients, timeout_s = plan.arrival, int(params["clients"]), float(params["timeout_s"])
    if arrival.mode == "sustained":
        return await run_sustained(url, clients, timeout_s, arrival.duration_s, arrival.warmup_s,
                                   clock, session, calls_field,
                                   None if gate is None else functools.partial(gate, 1))
    result = await run_client_bursts(url, clients, timeout_s, plan.bursts, clock, session,
                                     calls_field, gate, gap_s=arrival.gap_ms / 1000,
                                     ramp_s=arrival.ramp_ms / 1000,
                                     keep_alive=arrival.connection == "keep-alive", sleep=sleep)
    if not result.bursts:  # one burst: still listed, so every bursts trial shows its bursts
        result.bursts = burst_details([result])
    return result


class Watched(Protocol):
    """A trial's result the spread is added to: a driver's, or the engines' merged one."""

    bursts: list[dict[str, Any]]
    windows: list[tuple[float, float]]
    window: dict[str, Any] | None
    opened: float | None
    sampler: dict[str, Any] | None


def attach_spread(result: Watched, sampler: SpreadSampler) -> None:
    """Add to each burst (or to a sustained trial's window) the connections each worker
    held at the peak of that window: ``connections``, ``busiest_worker`` and ``workers``
    (None where the stack's processes could not be seen). Only connections opened since the
    burst (or the sustained trial) began count: a server may keep earlier clients'
    connections (the warm-up's, the last burst's) open a while after they left."""
    result.sampler = {"samples": len(sampler.samples), "cpu_s": round(sampler.cpu_s, 6)}
    if result.window is not None:  # sustained: the connections the trial opened
        peak = (sampler.peak(*result.windows[0], since=result.opened) if result.windows
                else None)
        result.window.update(NO_SPREAD if peak is None else peak.fields())
        return
    for burst, (start, end) in zip(result.bursts, result.windows, strict=False):
        peak = sampler.peak(start, end, since=start)  # this burst's clients only
        burst.update(NO_SPREAD if peak is None else peak.fields())
