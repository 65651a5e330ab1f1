"""The open-loop schedule: when each request of a rate trial is meant to be sent.

Evenly spaced by default (``uniform``: the same offered load in every trial), or
Poisson arrivals drawn from a seed (``poisson``); dealt round-robin to several
load-generator processes when one cannot keep it.
"""

from __future__ import annotations

import math
import os
import random
import resource
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

SCHEDULES = ("uniform", "poisson")


DEFAULT_SCHEDULE = "uniform"


# One asyncio process kept its schedule (send lag p99 < 20 ms) up to 800-1200 req/s on a shared
# 2-core EPYC (``python -m harness calibrate``); splitting at half that leaves headroom.
PER_PROCESS_RPS = 400


CAP_SECONDS = 2.0              # automatic in-flight cap: two seconds of arrivals ...


MIN_CAP = 256                  # ... but never fewer than this


def make_schedule(kind: str, rate_rps: float, duration_s: float, seed: int = 0) -> list[float]:
    """Intended send times in seconds from the start, ascending, all in ``[0, duration_s)``.

    ``uniform``: ``round(rate * duration)`` sends, ``1/rate`` apart, the first at 0.
    ``poisson``: exponential gaps of mean ``1/rate`` drawn from ``random.Random(seed)``.

    Raises:
        ValueError: an unknown kind, or a rate or duration that is not positive.
    """
    if kind not in SCHEDULES:
        raise ValueError(f"schedule {kind!r} is not one of {', '.join(SCHEDULES)}")
    if not (rate_rps > 0 and duration_s > 0):
        raise ValueError(f"rate ({rate_rps}) and duration ({duration_s}) must be positive")
    if kind == "uniform":
        return [i / rate_rps for i in range(round(rate_rps * duration_s))]
    rng = random.Random(f"asyncbench-poisson:{seed}")
    offsets: list[float] = []
    t = 0.0
    while True:
        t += rng.expovariate(rate_rps)
        if t >= duration_s:
            return offsets
        offsets.append(t)


def split_schedule(offsets: Sequence[float], processes: int) -> list[list[float]]:
    """Deal the sends round-robin, so each process's share is spread over the whole trial."""
    return [list(offsets[i::processes]) for i in range(processes)]


def auto_processes(rate_rps: float, cpus: int | None = None) -> int:
    """Processes needed for ``rate_rps``: one per ``PER_PROCESS_RPS``, at most one per CPU."""
    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    return max(1, min(cpus, math.ceil(rate_rps / PER_PROCESS_RPS)))


def auto_cap(rate_per_process: float) -> int:
    """In-flight cap of one process: ``CAP_SECONDS`` of arrivals, at least ``MIN_CAP``,
    within the open-file limit."""
    cap = max(MIN_CAP, math.ceil(rate_per_process * CAP_SECONDS))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY:
        cap = min(cap, max(1, soft - 64))
    return cap


@dataclass(frozen=True)
class RateSpec:
    """One rate trial's load: what is offered, for how long, and how it is generated.

    ``processes`` and ``max_in_flight`` are 0 for automatic; ``resolved()`` fills them.
    ``max_in_flight`` is per process.
    """

    rate_rps: float
    duration_s: float
    timeout_s: float
    schedule: str = DEFAULT_SCHEDULE
    seed: int = 0
    processes: int = 0
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule {self.schedule!r} is not one of {', '.join(SCHEDULES)}")
        if not (self.rate_rps > 0 and self.duration_s > 0 and self.timeout_s > 0):
            raise ValueError(f"rate, duration and timeout must be positive: {self}")
        if self.processes < 0 or self.max_in_flight < 0:
            raise ValueError(f"processes and max_in_flight must be >= 0: {self}")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RateSpec:
        """The spec of a trial's parameters (``rate_rps``, ``duration_s``, ``timeout_s``)."""
        return cls(rate_rps=float(params["rate_rps"]), duration_s=float(params["duration_s"]),
                   timeout_s=float(params["timeout_s"]),
                   schedule=params.get("schedule", DEFAULT_SCHEDULE),
                   seed=int(params.get("seed", 0)), processes=int(params.get("processes", 0)),
                   max_in_flight=int(params.get("max_in_flight", 0)))

    def resolved(self) -> RateSpec:
        """A copy with the automatic process count and in-flight cap decided."""
        processes = self.processes or auto_processes(self.rate_rps)
        cap = self.max_in_flight or auto_cap(self.rate_rps / processes)
        return replace(self, processes=processes, max_in_flight=cap)

    def offsets(self) -> list[float]:
        """The whole schedule (see ``make_schedule``)."""
        return make_schedule(self.schedule, self.rate_rps, self.duration_s, self.seed)

    def record_params(self) -> dict[str, Any]:
        """What a trial record adds to its params so the load can be rebuilt."""
        params: dict[str, Any] = {"schedule": self.schedule, "processes": self.processes,
                                  "max_in_flight": self.max_in_flight}
        if self.schedule == "poisson":
            params["seed"] = self.seed
        return params

