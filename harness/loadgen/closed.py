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

SAME_CLOCK_S = 5.0  # releases of one burst farther apart than this are on different clocks


@dataclass(frozen=True)
class Failure:
    """The failed requests of one kind and status, with the first one's detail."""

    kind: str
    status: int | None
    count: int
    first: str | None


@dataclass(frozen=True)
class Burst:
    """One burst of one process: its clients, release-to-last-answer time and successes,
    and its release on the process's monotonic clock (what the server was seen doing then
    is matched to it; None where unknown)."""

    clients: int
    duration_s: float
    ok: int
    start_s: float | None = None


@dataclass(frozen=True)
class SteadyWindow:
    """A sustained share's steady window, on the process's monotonic clock: the loop
    started at ``opened_s``; ``requests`` answers arrived from ``start_s`` to ``end_s``."""

    opened_s: float
    start_s: float
    end_s: float
    requests: int


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
    window: SteadyWindow | None = None  # a sustained share's (``loadgen.sustained``)
    held_back: int = 0  # requests that waited for a connection of the process's own pool


def partial_of(result: ScenarioResult, clients: int, cpu_s: float | None = None,
               wait_s: float | None = None, wall_s: float | None = None,
               held_back: int = 0) -> ClosedPartial:
    """Condense a driver's result; ``clients`` is the clients of each burst (1 for fanout),
    ``held_back`` the requests its session made wait for a pooled connection."""
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
    starts = [w[0] for w in result.windows] if result.window is None else []
    if result.bursts:
        bursts = tuple(Burst(clients, float(b["duration_s"]), int(b["ok"]),
                             starts[i] if len(starts) == len(result.bursts) else None)
                       for i, b in enumerate(result.bursts))
    else:
        bursts = (Burst(clients, result.metrics.get("duration_s", result.duration_s),
                        counts["ok"], starts[0] if len(starts) == 1 else None),)
    window = None
    if result.window is not None and result.windows and result.opened is not None:
        window = SteadyWindow(result.opened, *result.windows[0],
                              int(result.window["requests"]))
    waits = result.pool_waits_ms()
    pool = PoolWait(len(waits), sum(waits), max(waits, default=0.0))
    return ClosedPartial(hdr, sum(latencies), max(latencies, default=0.0), counts, failures,
                         bursts, pool, dict(result.metrics), cpu_s, wait_s, wall_s, window,
                         held_back)


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
    bursts: list[dict[str, Any]]
    pool_wait: PoolWait
    loadgen_cpu: float | None = None
    loadgen_wait: float | None = None
    loadgen_wait_s: float | None = None
    workers: list[dict[str, Any]] = field(default_factory=list)
    disturbed: str | None = None
    # When each burst ran (first release to last answer) on this machine's monotonic
    # clock, or a sustained trial's steady window, its record (``window``) and start
    # (``opened``); what watching the server cost (``sampler``); why a trial measured
    # nothing although no request failed (``problem``).
    windows: list[tuple[float, float]] = field(default_factory=list)
    window: dict[str, Any] | None = None
    opened: float | None = None
    sampler: dict[str, Any] | None = None
    problem: str | None = None
    held_back: int = 0  # requests the generator's own pools made wait (every process)

    def counts(self) -> dict[str, int]:
        """Requests by outcome, with a ``total``."""
        return dict(self.request_counts)

    def first_error(self, tolerated: Collection[int] = ()) -> str | None:
        """A one-line summary of the failures, or None if every request succeeded.

        Answers with a ``tolerated`` status are not failures (see
        ``ScenarioResult.first_error``)."""
        bad = [f for f in self.failures if f.status not in tolerated]
        if not bad:
            return self.problem
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
    mean_s = latency_sum / count if count else 0.0
    if any(p.window is not None for p in partials):
        return _merge_sustained(partials, counts, hist, latency_sum, groups, pool, mean_s)
    if len(partials) == 1:
        metrics = dict(partials[0].metrics)
    else:
        metrics = _burst_metrics(durations, clients[0], mean_s)
    windows = _burst_windows(partials)
    detail: list[dict[str, Any]] = [
        {"duration_s": round(d, 6), "throughput_rps": round(c / d if d > 0 else 0.0, 6),
         "ok": ok} for c, d, ok in zip(clients, durations, oks, strict=True)]
    if len(detail) == 1 and not windows:
        detail = []  # a single burst without its release time says nothing the metrics do not
    for burst, (start, _) in zip(detail, windows, strict=False):
        burst["started_s"] = round(start - windows[0][0], 6)
    return ClosedResult(
        metrics=metrics, request_counts=counts, failures=list(groups.values()),
        latency_ms=latency_summary(hist, latency_sum,
                                   max((p.latency_max_s for p in partials), default=0.0)),
        hdr=str(hist.encode().decode("ascii")), bursts=detail, pool_wait=pool, windows=windows,
        held_back=sum(p.held_back for p in partials))


def _burst_windows(partials: Sequence[ClosedPartial]) -> list[tuple[float, float]]:
    """Each burst from its first release to its last answer, over every process (empty
    unless every process knows its releases on what is visibly one clock: processes
    released together whose clocks disagree by more than ``SAME_CLOCK_S`` run on other
    hosts, whose monotonic clocks have nothing in common)."""
    if any(b.start_s is None for p in partials for b in p.bursts):
        return []
    firsts = [p.bursts[0].start_s or 0.0 for p in partials]
    if max(firsts) - min(firsts) > SAME_CLOCK_S:
        return []
    windows = []
    for b in range(len(partials[0].bursts)):
        starts = [p.bursts[b].start_s for p in partials]
        ends = [(p.bursts[b].start_s or 0.0) + p.bursts[b].duration_s for p in partials]
        windows.append((min(s for s in starts if s is not None), max(ends)))
    return windows


def _merge_sustained(partials: Sequence[ClosedPartial], counts: dict[str, int],
                     hist: HdrHistogram, latency_sum: float,
                     groups: dict[tuple[str, int | None], Failure], pool: PoolWait,
                     mean_s: float) -> ClosedResult:
    """Sustained shares: their steady windows' answers add up (each process's window has
    the trial's length), and ``duration_s`` is C / throughput (``loadgen.sustained``).

    Raises:
        ValueError: a share without a window, or windows of different lengths.
    """
    windows = [p.window for p in partials]
    if any(w is None for w in windows):
        raise ValueError("some partials are sustained and some are not")
    steady = [w for w in windows if w is not None]
    lengths = [w.end_s - w.start_s for w in steady]
    if max(lengths) - min(lengths) > 1e-6 or lengths[0] <= 0:
        raise ValueError("sustained partials disagree on their steady window")
    clients = sum(p.bursts[0].clients for p in partials)
    requests = sum(w.requests for w in steady)
    throughput = requests / lengths[0]
    opened = min(w.opened_s for w in steady)
    record = {"start_s": round(steady[0].start_s - steady[0].opened_s, 6),
              "end_s": round(steady[0].end_s - steady[0].opened_s, 6),
              "requests": requests, "throughput_rps": round(throughput, 6)}
    return ClosedResult(
        metrics={"duration_s": clients / throughput if throughput > 0 else lengths[0],
                 "mean_response_s": mean_s, "throughput_rps": throughput},
        request_counts=counts, failures=list(groups.values()),
        latency_ms=latency_summary(hist, latency_sum,
                                   max((p.latency_max_s for p in partials), default=0.0)),
        hdr=str(hist.encode().decode("ascii")), bursts=[], pool_wait=pool,
        held_back=sum(p.held_back for p in partials),
        windows=[(min(w.start_s for w in steady), max(w.end_s for w in steady))],
        window=record, opened=opened,
        problem=None if requests else (
            f"no answer arrived in the steady window ({record['start_s']:g}-"
            f"{record['end_s']:g} s after the start): every request took longer than the "
            "window"))
