"""Counting a closed-loop trial (fanout, clients): what one process saw, merged exactly.

A driver returns every request's :class:`~harness.loadgen.drivers.Outcome`; a process
condenses them into a :class:`ClosedPartial` (an HDR histogram of the successful
latencies with their exact sum and maximum, counts by outcome, the failures grouped by
kind and status with the first detail of each, every burst's duration, the pool waits),
which is small enough to travel from a worker to the master. :func:`merge_closed` adds the
partials of every process (HDR add: exact) into the trial's :class:`ClosedResult`, which
the trial record is built from, whatever engine ran the load.

With one partial the driver's own metrics are kept as they are; with several, a burst
lasts from the release to the last answer of any process (each process times its own
share from the release it received) and the metrics follow ``drivers.combine_bursts``.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.loadgen.drivers import OUTCOMES, ScenarioResult
from harness.rundir.format import encode_latencies, latency_summary, new_histogram


@dataclass(frozen=True)
class Failure:
    """The failed requests of one kind and status, with the first one's detail."""

    kind: str
    status: int | None
    count: int
    first: str | None


@dataclass(frozen=True)
class Burst:
    """One burst of one process: its clients, release-to-last-answer time and successes."""

    clients: int
    duration_s: float
    ok: int


@dataclass(frozen=True)
class PoolWait:
    """The pool waits the successful answers reported (database apps), summed exactly."""

    count: int = 0
    sum_ms: float = 0.0
    max_ms: float = 0.0

    def plus(self, other: PoolWait) -> PoolWait:
        """Both summaries as one."""
        return PoolWait(self.count + other.count, self.sum_ms + other.sum_ms,
                        max(self.max_ms, other.max_ms))


@dataclass(frozen=True)
class ClosedPartial:
    """One process's closed-loop load in plain form (histogram encoded).

    ``hdr`` holds the successful latencies of the steady bursts (every burst when there
    is one); ``metrics`` are the driver's own; ``cpu_s``, ``wait_s`` and ``wall_s`` the
    process's load thread over the load (None where the engine measures it elsewhere).
    """

    hdr: str
    latency_sum_s: float
    latency_max_s: float
    counts: dict[str, int]
    failures: tuple[Failure, ...]
    bursts: tuple[Burst, ...]
    pool_wait: PoolWait
    metrics: dict[str, float]
    cpu_s: float | None = None
    wait_s: float | None = None
    wall_s: float | None = None


def partial_of(result: ScenarioResult, clients: int, cpu_s: float | None = None,
               wait_s: float | None = None, wall_s: float | None = None) -> ClosedPartial:
    """Condense a driver's result; ``clients`` is the clients of each burst (1 for fanout)."""
    latencies = result.ok_latencies_s()
    hdr, _ = encode_latencies(latencies)
    counts = dict.fromkeys(OUTCOMES, 0)
    groups: dict[tuple[str, int | None], list[Any]] = {}
    for outcome in result.outcomes:
        counts[outcome.kind] += 1
        if outcome.kind != "ok":
            group = groups.setdefault((outcome.kind, outcome.status), [0, outcome.detail])
            group[0] += 1
    failures = tuple(Failure(kind, status, n, first)
                     for (kind, status), (n, first) in groups.items())
    if result.bursts:
        bursts = tuple(Burst(clients, float(b["duration_s"]), int(b["ok"]))
                       for b in result.bursts)
    else:
        bursts = (Burst(clients, result.metrics.get("duration_s", result.duration_s),
                        counts["ok"]),)
    waits = result.pool_waits_ms()
    pool = PoolWait(len(waits), sum(waits), max(waits, default=0.0))
    return ClosedPartial(hdr, sum(latencies), max(latencies, default=0.0), counts, failures,
                         bursts, pool, dict(result.metrics), cpu_s, wait_s, wall_s)


@dataclass
class ClosedResult:
    """A closed-loop trial's load, merged over its processes: what the record is built of.

    ``workers`` holds each worker's self-checks when workers ran the load (empty on the
    builtin engine, where the trial monitor measures the load thread); ``disturbed`` says
    why the load cannot be trusted (a worker lost, late or sending a malformed report).
    """

    metrics: dict[str, float]
    request_counts: dict[str, int]
    failures: list[Failure]
    latency_ms: dict[str, float | None]
    hdr: str
    bursts: list[dict[str, float]]
    pool_wait: PoolWait
    loadgen_cpu: float | None = None
    loadgen_wait: float | None = None
    loadgen_wait_s: float | None = None
    workers: list[dict[str, Any]] = field(default_factory=list)
    disturbed: str | None = None

    def counts(self) -> dict[str, int]:
        """Requests by outcome, with a ``total``."""
        return dict(self.request_counts)

    def first_error(self, tolerated: Collection[int] = ()) -> str | None:
        """A one-line summary of the failures, or None if every request succeeded.

        Answers with a ``tolerated`` status are not failures (see
        ``ScenarioResult.first_error``)."""
        bad = [f for f in self.failures if f.status not in tolerated]
        if not bad:
            return None
        kinds: dict[str, int] = {}
        for f in bad:
            kinds[f.kind] = kinds.get(f.kind, 0) + f.count
        summary = ", ".join(f"{n} {k}" for k, n in sorted(kinds.items()))
        return (f"{sum(kinds.values())} of {self.request_counts['total']} requests failed "
                f"({summary}; first: {bad[0].first})")


def _burst_metrics(durations: list[float], clients: int, mean_s: float) -> dict[str, float]:
    """The metrics of ``drivers.run_clients`` (one burst) or ``combine_bursts`` (several)."""
    def rate(duration: float) -> float:
        return clients / duration if duration > 0 else 0.0

    if len(durations) == 1:
        return {"duration_s": durations[0], "mean_response_s": mean_s,
                "throughput_rps": rate(durations[0])}
    steady = sum(durations[1:]) / len(durations[1:])
    return {"duration_s": steady, "mean_response_s": mean_s, "throughput_rps": rate(steady),
            "first_burst_duration_s": durations[0],
            "first_burst_throughput_rps": rate(durations[0])}


def merge_closed(partials: Sequence[ClosedPartial]) -> ClosedResult:
    """Add the processes' histograms and counts; work out the trial's metrics.

    Raises:
        ValueError: no partial, or partials with different numbers of bursts.
    """
    if not partials:
        raise ValueError("no partial to merge")
    if len({len(p.bursts) for p in partials}) != 1:
        raise ValueError("partials disagree on the number of bursts")
    hist = new_histogram()
    counts = dict.fromkeys(OUTCOMES, 0)
    groups: dict[tuple[str, int | None], Failure] = {}
    pool = PoolWait()
    for p in partials:
        hist.add(HdrHistogram.decode(p.hdr))
        for kind in OUTCOMES:
            counts[kind] += p.counts.get(kind, 0)
        for f in p.failures:
            seen = groups.get((f.kind, f.status))
            groups[(f.kind, f.status)] = (f if seen is None else
                                          Failure(f.kind, f.status, seen.count + f.count,
                                                  seen.first))
        pool = pool.plus(p.pool_wait)
    counts["total"] = sum(counts[k] for k in OUTCOMES)
    latency_sum = sum(p.latency_sum_s for p in partials)
    count = hist.get_total_count()
    clients = [sum(p.bursts[b].clients for p in partials) for b in range(len(partials[0].bursts))]
    durations = [max(p.bursts[b].duration_s for p in partials) for b in range(len(clients))]
    oks = [sum(p.bursts[b].ok for p in partials) for b in range(len(clients))]
    if len(partials) == 1:
        metrics = dict(partials[0].metrics)
    else:
        metrics = _burst_metrics(durations, clients[0], latency_sum / count if count else 0.0)
    detail = ([] if len(clients) == 1 else
              [{"duration_s": round(d, 6), "throughput_rps": round(c / d if d > 0 else 0.0, 6),
                "ok": ok} for c, d, ok in zip(clients, durations, oks, strict=True)])
    return ClosedResult(
        metrics=metrics, request_counts=counts, failures=list(groups.values()),
        latency_ms=latency_summary(hist, latency_sum,
                                   max((p.latency_max_s for p in partials), default=0.0)),
        hdr=str(hist.encode().decode("ascii")), bursts=detail, pool_wait=pool)
