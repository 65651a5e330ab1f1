"""The harness's side of a distributed trial's results: the master's reply, validated
worker by worker (:mod:`messages`), merged exactly (:mod:`closed`, :mod:`tally`), with each
worker's self-checks and the first problem (by worker) as the reason the load is
``disturbed``. Pure: no process, no socket.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from harness.loadgen import messages
from harness.loadgen.closed import ClosedPartial, ClosedResult, PoolWait, merge_closed
from harness.loadgen.drivers import OUTCOMES
from harness.loadgen.openloop import GRACE_S
from harness.loadgen.scenario import Job
from harness.loadgen.tally import Partial, RateResult, merge
from harness.rundir.format import latency_summary, new_histogram

REPORT_MARGIN_S = 30.0        # beyond the load's own longest time, before a worker is late


def budget_s(job: Job) -> float:
    """How long a share may take at most before its worker counts as late."""
    timeout = float(job.params.get("timeout_s", 60.0))
    if job.scenario == "rate":
        return float(job.params["duration_s"]) + timeout + GRACE_S + REPORT_MARGIN_S
    if job.scenario == "warm":
        return 2 * timeout + REPORT_MARGIN_S
    if job.scenario == "peak":
        return float(job.params["duration_s"]) + timeout + REPORT_MARGIN_S
    return job.bursts() * (timeout + REPORT_MARGIN_S)


def empty_closed(disturbed: str | None) -> ClosedResult:
    """A closed-loop result with nothing counted (no worker's part could be used)."""
    hist = new_histogram()
    return ClosedResult(metrics={}, request_counts={**dict.fromkeys(OUTCOMES, 0),
                                                    "total": 0},
                        failures=[], latency_ms=latency_summary(hist, 0.0, 0.0),
                        hdr=str(hist.encode().decode("ascii")), bursts=[],
                        pool_wait=PoolWait(), disturbed=disturbed)


def _fraction(part: float | None, whole: float | None) -> float | None:
    if part is None or not whole:
        return None
    return round(min(1.0, part / whole), 4) if part <= whole else 1.0


def worker_checks(index: int, worker: str, envelope: dict[str, Any],
                  partial: ClosedPartial | Partial) -> dict[str, Any]:
    """One worker's self-checks for ``checks.workers`` (the envelope is untrusted: only a
    bounded host name and an integer pid are kept)."""
    host, pid = envelope.get("host"), envelope.get("pid")
    entry: dict[str, Any] = {
        "worker": index, "id": worker[:80],
        "host": host[:100] if isinstance(host, str) else None,
        "pid": pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        "requests": sum(partial.counts.values()),
        "cpu": _fraction(partial.cpu_s, partial.wall_s),
        "wait": _fraction(partial.wait_s, partial.wall_s),
        "wait_s": None if partial.wait_s is None else round(partial.wait_s, 4)}
    if isinstance(partial, Partial):
        lag = messages.decode_hdr(partial.lag, "lag")
        entry["send_lag_p99_ms"] = (lag.get_value_at_percentile(99.0) / 1000
                                    if lag.get_total_count() else None)
    return entry


def collect(job: Job, parts: int, reply: dict[str, Any]) -> ClosedResult | RateResult:
    """The trial's load from the master's reply: every usable report validated and merged,
    the first problem (by worker) as ``disturbed``."""
    takers = [str(w) for w in reply.get("workers", [])]
    problems = {str(k): str(v)[:300] for k, v in dict(reply.get("problems") or {}).items()}
    reports = dict(reply.get("reports") or {})
    partials: list[Any] = []
    checks: list[dict[str, Any]] = []
    for index, worker in enumerate(takers):
        if worker in problems:
            continue
        envelope = reports.get(worker)
        try:
            if not isinstance(envelope, dict):
                raise messages.MessageError("no report")
            partial = messages.parse_report(envelope.get("report"), job, index, parts)
        except messages.MessageError as exc:
            problems[worker] = f"worker {index} sent a malformed report: {exc}"
            continue
        if partial is not None:
            partials.append(partial)
            checks.append(worker_checks(index, worker, envelope, partial))
    order = {w: i for i, w in enumerate(takers)}
    disturbed = (problems[min(problems, key=lambda w: order.get(w, len(order)))]
                 if problems else None)
    if job.scenario == "rate":
        spec = job.rate_spec(parts)
        # Each worker timed its share on its own clock, from its own release.
        rebased = [dataclasses.replace(p, start=0.0, last_answer=p.last_answer - p.start)
                   for p in partials]
        rate = merge(spec, len(spec.offsets()), rebased)
        rate.workers, rate.disturbed = checks, disturbed
        return rate
    if not partials:  # the warm-up reports nothing; a trial always does
        return empty_closed(disturbed if disturbed or job.scenario == "warm"
                            else "no worker reported")
    closed = merge_closed(partials)
    cpu = [c["cpu"] for c in checks if c["cpu"] is not None]
    waits = [c["wait"] for c in checks if c["wait"] is not None]
    waits_s = [c["wait_s"] for c in checks if c["wait_s"] is not None]
    closed.loadgen_cpu = max(cpu, default=None)
    closed.loadgen_wait = max(waits, default=None) if len(waits) == len(checks) else None
    closed.loadgen_wait_s = max(waits_s, default=None) if len(waits_s) == len(checks) else None
    closed.workers, closed.disturbed = checks, disturbed
    return closed
