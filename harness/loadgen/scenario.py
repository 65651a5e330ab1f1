"""One process's share of a trial's load: the single entry every engine runs.

A :class:`Job` says what a trial asks of the load generator (its scenario, URL and
parameters, as the plan recorded them); :func:`run_share` runs share ``index`` of
``parts`` of it with the scenario's one implementation (``drivers`` for fanout, the
clients bursts and the warm-up, ``openloop`` for the rate schedule) and condenses what it
saw into a partial that can travel (:mod:`closed`, :mod:`tally`). The builtin engine runs
the one share in its own event loop; each Locust worker runs its share in its own.

``gate(k)`` is awaited just before burst ``k`` is released (the rate schedule and the
single fanout request are burst 1): the builtin engine passes straight through, a worker
waits there for the master's release message, so every worker's clients go together.
The parameters pass through untouched: a clients trial's arrival (``params["arrival"]``:
bursts with their gap, connection handling and ramp, or the sustained closed loop) is read
by its one driver, ``arrival.run_arrival``, so every engine runs it alike.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from typing import Any

from harness.config.arrival import TrialArrival
from harness.loadgen.arrival import run_arrival
from harness.loadgen.closed import ClosedPartial, partial_of
from harness.loadgen.drivers import Gate, HeldBack, client_session, run_fanout, warm_up
from harness.loadgen.monitor import thread_runqueue_wait_s
from harness.loadgen.openloop import START_MARGIN_S, session_drive
from harness.loadgen.peak import closed_loop
from harness.loadgen.schedule import RateSpec, split_schedule
from harness.loadgen.tally import Partial

SCENARIOS = ("fanout", "clients", "rate", "warm", "peak")


def shares(total: int, parts: int) -> list[int]:
    """``total`` dealt to ``parts`` as evenly as it goes, the larger shares first."""
    if parts < 1 or total < 0:
        raise ValueError(f"cannot share {total} among {parts}")
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


@dataclass(frozen=True)
class Job:
    """A trial's load as an engine receives it.

    ``params`` are the trial's recorded parameters (``n`` for fanout, ``clients`` and
    ``arrival`` for clients (older records: ``bursts``), the rate spec's fields for rate;
    for the warm-up ``requests`` and ``fanout_url``; for calibration's ``peak``
    ``concurrency`` and ``duration_s``); ``url`` is the request path's full URL (the
    one-call URL of the warm-up); ``calls_field`` the body field a good answer counts its
    calls in.
    """

    scenario: str
    url: str | None
    params: dict[str, Any] = field(default_factory=dict)
    calls_field: str | None = "calls"

    def __post_init__(self) -> None:
        if self.scenario not in SCENARIOS:
            raise ValueError(f"scenario {self.scenario!r} has no driver")

    def size(self) -> int:
        """What gets shared among processes: clients, scheduled sends or warm-up requests
        (1 for fanout: its single request goes to one process)."""
        if self.scenario == "clients":
            return int(self.params["clients"])
        if self.scenario == "rate":
            return len(self.rate_spec(1).offsets())
        if self.scenario == "warm":
            return max(1, int(self.params.get("requests", 1)))
        if self.scenario == "peak":
            return int(self.params["concurrency"])
        return 1

    def bursts(self) -> int:
        """How many releases the job waits for (bursts of a clients trial, else one; a
        sustained clients trial is released once)."""
        if self.scenario != "clients":
            return 1
        plan = TrialArrival.from_params(self.params)
        return 1 if plan.arrival.mode == "sustained" else plan.bursts

    def sustained(self) -> bool:
        """True for a clients trial in the sustained mode (its request count is what it
        measures, not known beforehand)."""
        return (self.scenario == "clients"
                and TrialArrival.from_params(self.params).arrival.mode == "sustained")

    def rate_spec(self, processes: int) -> RateSpec:
        """The rate trial's spec, resolved for ``processes`` processes sharing it."""
        return replace(RateSpec.from_params(self.params), processes=processes).resolved()

    def participants(self, parts: int) -> int:
        """How many of ``parts`` processes get a non-empty share."""
        return sum(1 for s in shares(self.size(), parts) if s > 0)


async def open_gate(burst: int) -> None:
    """A gate that never holds (one process: nothing to wait for)."""


@dataclass
class _LoadThread:
    """The load thread's CPU time and run-queue wait from the first release on."""

    started: tuple[float, float | None, float] | None = None

    def wrap(self, gate: Gate) -> Gate:
        async def measured(burst: int) -> None:
            await gate(burst)
            if self.started is None:
                wall = time.perf_counter()  # outermost: the wait never exceeds the wall
                self.started = (wall, thread_runqueue_wait_s(), time.thread_time())
        return measured

    def figures(self) -> tuple[float | None, float | None, float | None]:
        """(CPU s, wait s, wall s) since the first release; Nones if never released."""
        if self.started is None:
            return None, None, None
        wall0, wait0, cpu0 = self.started
        cpu, wait1 = time.thread_time() - cpu0, thread_runqueue_wait_s()
        wall = time.perf_counter() - wall0
        return cpu, (wait1 - wait0 if wait0 is not None and wait1 is not None else None), wall


async def run_share(job: Job, index: int, parts: int,
                    gate: Gate = open_gate) -> ClosedPartial | Partial | None:
    """Run share ``index`` of ``parts`` of ``job``; None for the warm-up (its answers are
    discarded) and for a process whose share is empty."""
    share = shares(job.size(), parts)[index]
    if share == 0:
        return None
    params, timeout_s = job.params, float(job.params["timeout_s"])
    if job.scenario == "rate":
        spec = job.rate_spec(parts)
        offsets = split_schedule(spec.offsets(), parts)[index]

        async def start() -> float:
            await gate(1)
            return time.perf_counter() + (START_MARGIN_S if parts > 1 else 0.0)

        assert job.url is not None
        return await session_drive(job.url, offsets, spec, start, calls_field=job.calls_field)
    load = _LoadThread()
    measured = load.wrap(gate)
    if job.scenario == "warm":
        await measured(1)
        async with client_session(share) as session:
            await warm_up(session, job.url, params.get("fanout_url"), share, timeout_s,
                          job.calls_field)
        return None
    assert job.url is not None
    if job.scenario == "peak":
        async with client_session(share) as session:
            await measured(1)
            result = await closed_loop(session, job.url, share, float(params["duration_s"]))
        return partial_of(result, share, *load.figures())
    held = HeldBack()
    if job.scenario == "fanout":
        async with client_session(1, held=held) as session:
            await measured(1)
            result = await run_fanout(session, job.url, int(params["n"]), timeout_s,
                                      calls_field=job.calls_field)
        return partial_of(result, 1, *load.figures(), held_back=held.count)
    clients = {**params, "clients": share}
    keep_alive = TrialArrival.from_params(clients).arrival.connection == "keep-alive"
    result = await run_arrival(job.url, clients, gate=measured, calls_field=job.calls_field,
                               session=lambda n: client_session(n, keep_alive, held))
    return partial_of(result, share, *load.figures(), held_back=held.count)

