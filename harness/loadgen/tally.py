"""Counting an open-loop trial: per-process tallies of requests, merged into one result.

Each load-generator process keeps a :class:`Tally` (HDR histograms of corrected and
uncorrected latency and of send lag, counts by outcome); it travels to the parent
as a :class:`Partial`, and :func:`merge` combines every process's partial into the
trial's :class:`RateResult`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.loadgen.drivers import OUTCOMES, Outcome
from harness.loadgen.schedule import RateSpec
from harness.rundir.format import HDR_HIGHEST_US, PERCENTILES, new_histogram, open_loop_summary


def _us(seconds: float) -> int:
    return min(HDR_HIGHEST_US, max(0, round(seconds * 1e6)))


@dataclass
class Tally:
    """What one process saw, accumulated request by request."""

    corrected: HdrHistogram = field(default_factory=new_histogram)
    uncorrected: HdrHistogram = field(default_factory=new_histogram)
    lag: HdrHistogram = field(default_factory=new_histogram)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    first_error: str | None = None
    first_timeout: str | None = None  # this process's own: timeouts are no failure
    corrected_sum_s: float = 0.0
    corrected_max_s: float = 0.0
    uncorrected_sum_s: float = 0.0
    uncorrected_max_s: float = 0.0
    last_answer: float = -math.inf
    capped: int = 0
    in_flight: int = 0
    in_flight_peak: int = 0

    def fired(self, intended: float, now: float) -> None:
        """A request's task started (late by ``now - intended``)."""
        self.lag.record_value(_us(now - intended))

    def answered(self, outcome: Outcome, intended: float, sent: float, end: float) -> None:
        """A request ended; only successful answers enter the latency figures. The first
        failure's detail is kept; a timeout is counted but is no failure (see
        :meth:`RateResult.first_error`)."""
        self.counts[outcome.kind] += 1
        if outcome.kind == "timeout":
            self.first_timeout = self.first_timeout or outcome.detail
            return
        if outcome.kind != "ok":
            self.first_error = self.first_error or outcome.detail
            return
        corrected, uncorrected = end - intended, end - sent
        self.corrected.record_value(max(1, _us(corrected)))
        self.uncorrected.record_value(max(1, _us(uncorrected)))
        self.corrected_sum_s += corrected
        self.uncorrected_sum_s += uncorrected
        self.corrected_max_s = max(self.corrected_max_s, corrected)
        self.uncorrected_max_s = max(self.uncorrected_max_s, uncorrected)
        self.last_answer = max(self.last_answer, end)


@dataclass(frozen=True)
class Partial:
    """One process's tally in plain, picklable form (histograms encoded)."""

    corrected: str
    uncorrected: str
    lag: str
    counts: dict[str, int]
    first_error: str | None
    corrected_sum_s: float
    corrected_max_s: float
    uncorrected_sum_s: float
    uncorrected_max_s: float
    last_answer: float
    capped: int
    in_flight_peak: int
    start: float
    cpu_s: float
    wait_s: float | None
    wall_s: float

    @classmethod
    def of(cls, tally: Tally, start: float, cpu_s: float, wait_s: float | None,
           wall_s: float) -> Partial:
        """Freeze a tally with its start time and the process's CPU use over ``wall_s``."""
        def enc(h: HdrHistogram) -> str:
            return str(h.encode().decode("ascii"))

        return cls(enc(tally.corrected), enc(tally.uncorrected), enc(tally.lag),
                   dict(tally.counts), tally.first_error, tally.corrected_sum_s,
                   tally.corrected_max_s, tally.uncorrected_sum_s, tally.uncorrected_max_s,
                   tally.last_answer, tally.capped, tally.in_flight_peak, start, cpu_s, wait_s,
                   wall_s)


def _lag_summary(hist: HdrHistogram) -> dict[str, float | None]:
    if not hist.get_total_count():
        return dict.fromkeys(("p50", "p90", "p99", "p999", "max"), None)
    out: dict[str, float | None] = {k: hist.get_value_at_percentile(p) / 1000
                                    for k, p in PERCENTILES}
    out["max"] = hist.get_max_value() / 1000
    return out


@dataclass
class RateResult:
    """A rate trial's load, merged over its processes; quacks like ``ScenarioResult``
    for the runner (``counts``, ``first_error``, ``metrics``, ``duration_s``)."""

    spec: RateSpec
    offered: int
    duration_s: float
    metrics: dict[str, float]
    request_counts: dict[str, int]
    error: str | None
    latency_ms: dict[str, float | None]
    uncorrected_latency_ms: dict[str, float | None]
    send_lag_ms: dict[str, float | None]
    hdr: str
    uncorrected_hdr: str
    loadgen_cpu: float
    loadgen_wait: float | None
    loadgen_wait_s: float | None
    in_flight_peak: int
    in_flight_capped: int
    process_cpu: list[float]
    workers: list[dict[str, Any]] = field(default_factory=list)  # each worker's self-checks
    disturbed: str | None = None  # why the load cannot be trusted (a worker lost, late ...)

    def counts(self) -> dict[str, int]:
        """Requests by outcome, with a ``total``."""
        return dict(self.request_counts)

    def first_error(self) -> str | None:
        """A one-line summary of the failures, or None if every request succeeded or
        timed out.

        A timeout is not a failure here: an open-loop schedule offers what the stack may
        not carry, and the requests it could not answer in time are part of the result
        (the served rate and the share timed out), not a broken trial.
        """
        bad = {k: self.request_counts[k] for k in OUTCOMES
               if k not in ("ok", "timeout") and self.request_counts[k]}
        if not bad:
            return None
        kinds = ", ".join(f"{n} {k}" for k, n in bad.items())
        return (f"{sum(bad.values())} of {self.request_counts['total']} requests failed "
                f"({kinds}; first: {self.error})")


def merge(spec: RateSpec, offered: int, partials: Sequence[Partial]) -> RateResult:
    """Add the processes' histograms and counts; work out the trial's metrics.

    ``achieved_rps`` is successful answers / max(duration, start -> last answer): it
    equals the offered rate when every answer comes within the schedule, and falls
    below it when answers lag behind or time out. Latency percentiles count the requests
    that timed out as slower than every answer, and are left out where too few requests
    support them (``rundir.format.open_loop_summary``).
    """
    hists = {name: new_histogram() for name in ("corrected", "uncorrected", "lag")}
    counts = dict.fromkeys(OUTCOMES, 0)
    error = None
    for p in partials:
        for name, hist in hists.items():
            hist.add(HdrHistogram.decode(getattr(p, name)))
        for kind in OUTCOMES:
            counts[kind] += p.counts.get(kind, 0)
        error = error or p.first_error
    counts["total"] = sum(counts[k] for k in OUTCOMES)
    start = min((p.start for p in partials), default=0.0)
    last = max((p.last_answer for p in partials), default=-math.inf)
    span = max(spec.duration_s, last - start) if math.isfinite(last) else spec.duration_s
    latency = open_loop_summary(hists["corrected"], sum(p.corrected_sum_s for p in partials),
                                max((p.corrected_max_s for p in partials), default=0.0),
                                counts["total"])
    metrics: dict[str, float] = {"achieved_rps": counts["ok"] / span}
    for key in ("p50", "p90", "p99", "p999"):
        value = latency[key]
        if value is not None:
            metrics[f"{key}_ms"] = value
    cpu = [p.cpu_s / p.wall_s if p.wall_s > 0 else 0.0 for p in partials]
    waits = [(min(1.0, p.wait_s / p.wall_s), p.wait_s) for p in partials
             if p.wait_s is not None and p.wall_s > 0]
    known = len(waits) == len(partials) and waits
    return RateResult(
        spec=spec, offered=offered, duration_s=span, metrics=metrics, request_counts=counts,
        error=error, latency_ms=latency,
        uncorrected_latency_ms=open_loop_summary(
            hists["uncorrected"], sum(p.uncorrected_sum_s for p in partials),
            max((p.uncorrected_max_s for p in partials), default=0.0), counts["total"]),
        send_lag_ms=_lag_summary(hists["lag"]),
        hdr=str(hists["corrected"].encode().decode("ascii")),
        uncorrected_hdr=str(hists["uncorrected"].encode().decode("ascii")),
        loadgen_cpu=max(cpu, default=0.0),
        loadgen_wait=max(w[0] for w in waits) if known else None,
        loadgen_wait_s=max(w[1] for w in waits) if known else None,
        in_flight_peak=max((p.in_flight_peak for p in partials), default=0),
        in_flight_capped=sum(p.capped for p in partials),
        process_cpu=[round(c, 4) for c in cpu],
    )

