"""The knee of a latency-against-load curve: the highest offered rate a stack carries
within its bound, with a bootstrap interval over its trials.

Pure functions over per-trial points. A rung (one offered rate) holds trials; each trial
gives the share of the offered rate it served and its p99. A rung is **within** when its
mean served share is at least ``served_min`` and its mean p99 at most the bound; it is
**saturated** otherwise. Each test has its index, at most 1 while it passes, and the rung's
load index is the larger::

    g = max(mean p99 / bound, served_min / mean served share)      (g <= 1: within)

Walking up the rungs, the knee lies between the last rung within and the first saturated
one, where the failing test's own index crosses 1 on a straight line in log-log (the curve
between two rungs is not measured; the line is the interpolation, and the rungs bracketing
it are reported beside it). When no rung is saturated the knee was **not reached** (it
lies above the highest rung); when the lowest is, it lies **below** the lowest rung.

The interval resamples each rung's trials with replacement (the trials are the samples,
never the requests) and takes percentiles of the knees found; a resample whose knee was
not reached counts as above every rate, so an upper bound that such resamples decide is
None ("beyond the highest rung"), and likewise a lower bound below the lowest rung.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

FOUND = "found"
NOT_REACHED = "not reached"
BELOW = "below the lowest rung"
RESAMPLES = 2000


@dataclass(frozen=True)
class TrialPoint:
    """One trial of a rung: the share of the offered rate served, and its p99 (ms; None
    when the trial held too few requests for one, so only the served share judges it).
    A p99 beyond the timeout is given as the timeout (a lower bound, still saturated)."""

    served_share: float
    p99_ms: float | None


@dataclass(frozen=True)
class Rung:
    """One offered rate (req/s) and its trials."""

    rate: float
    trials: tuple[TrialPoint, ...]


@dataclass(frozen=True)
class Knee:
    """Where a stack stops carrying its load.

    ``estimate`` is the interpolated rate (None unless ``status`` is ``found``);
    ``low``/``high`` its interval (None where resamples put it beyond the rungs);
    ``last_within`` and ``first_saturated`` the measured rungs around it; ``limit`` which
    test the first saturated rung failed (``p99`` or ``served``)."""

    status: str
    estimate: float | None
    low: float | None
    high: float | None
    last_within: float | None
    first_saturated: float | None
    limit: str | None
    confidence: float


def _mean(xs: Sequence[float]) -> float:
    return sum(xs) / len(xs)


def indexes(trials: Sequence[TrialPoint], bound_ms: float,
            served_min: float) -> tuple[float, float | None]:
    """A rung's two load indexes: ``served_min / mean served share`` and ``mean p99 /
    bound`` (None without a p99); each is at most 1 while its test passes.

    Raises:
        ValueError: no trials, or a bound or served_min that is not positive.
    """
    if not trials:
        raise ValueError("a rung needs at least one trial")
    if not (bound_ms > 0 and served_min > 0):
        raise ValueError(f"bound_ms ({bound_ms}) and served_min ({served_min}) must be positive")
    served = _mean([t.served_share for t in trials])
    p99 = [t.p99_ms for t in trials if t.p99_ms is not None]
    return (served_min / served if served > 0 else math.inf,
            _mean(p99) / bound_ms if p99 else None)


def load_index(trials: Sequence[TrialPoint], bound_ms: float, served_min: float) -> float:
    """A rung's ``g`` (see the module docstring): at most 1 when the rung is within."""
    served, p99 = indexes(trials, bound_ms, served_min)
    return served if p99 is None else max(served, p99)


def within(trials: Sequence[TrialPoint], bound_ms: float, served_min: float) -> bool:
    """True when a rung (or one trial) is within its bound: it served at least
    ``served_min`` of the offered rate and its p99 was at most ``bound_ms``."""
    return load_index(trials, bound_ms, served_min) <= 1.0


def _crossing(lower: tuple[float, float], upper: tuple[float, float]) -> float:
    """The rate where ``log index`` crosses 0 between ``(rate, index)`` points on each side."""
    (r0, g0), (r1, g1) = lower, upper
    if math.isinf(g1) or r1 <= r0:
        return r0
    l0, l1 = math.log(max(g0, 1e-12)), math.log(g1)
    fraction = (0.0 - l0) / (l1 - l0) if l1 > l0 else 0.0
    return math.exp(math.log(r0) + min(1.0, max(0.0, fraction)) * (math.log(r1) - math.log(r0)))


Indexes = tuple[float, float | None]


def _estimate(rates: Sequence[float],
              found: Sequence[Indexes]) -> tuple[str, float | None, int, str | None]:
    """(status, interpolated rate, index of the first saturated rung or -1, the test that
    crossed first: ``served`` or ``p99``). Each test that fails at the first saturated rung
    is interpolated on its own index (the other's would floor it); the lower crossing wins."""
    for j, (served, p99) in enumerate(found):
        failing = [(name, value) for name, value in (("served", served), ("p99", p99))
                   if value is not None and value > 1.0]
        if not failing:
            continue
        if j == 0:
            return BELOW, None, 0, failing[0][0]
        below = dict(zip(("served", "p99"), found[j - 1], strict=True))
        # A test the rung below could not judge (no p99 on its trials) gives no line to
        # follow: the knee is put at that rung, the highest rate known within.
        crossings = [(rates[j - 1] if below[name] is None else
                      _crossing((rates[j - 1], below[name] or 0.0), (rates[j], value)), name)
                     for name, value in failing]
        rate, name = min(crossings)
        return FOUND, rate, j, name
    return NOT_REACHED, None, -1, None


def find_knee(rungs: Sequence[Rung], bound_ms: float, served_min: float,
              confidence: float = 0.95, seed: int = 0, resamples: int = RESAMPLES) -> Knee:
    """The knee of ``rungs`` (any order; rungs without trials are ignored) and its
    bootstrap interval at ``confidence``, seeded by ``seed``.

    Raises:
        ValueError: no rung with trials, or a confidence outside (0, 1).
    """
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be in (0, 1), got {confidence!r}")
    measured = sorted((r for r in rungs if r.trials), key=lambda r: r.rate)
    if not measured:
        raise ValueError("no rung with trials: nothing to find a knee in")
    rates = [r.rate for r in measured]
    status, estimate, first, limit = _estimate(
        rates, [indexes(r.trials, bound_ms, served_min) for r in measured])
    low, high = _interval(measured, bound_ms, served_min, confidence, seed, resamples)
    last_within = None
    if status == FOUND:
        last_within = rates[first - 1]
    elif status == NOT_REACHED:
        last_within = rates[-1]
    saturated = rates[first] if first >= 0 else None
    return Knee(status, estimate, low, high, last_within, saturated, limit, confidence)


def _interval(rungs: Sequence[Rung], bound_ms: float, served_min: float, confidence: float,
              seed: int, resamples: int) -> tuple[float | None, float | None]:
    """Percentile interval of the knee over resampled trials (see the module docstring);
    (None, None) when no rung has two trials to resample."""
    if all(len(r.trials) < 2 for r in rungs):
        return None, None
    rng = np.random.default_rng(seed)
    rates = [r.rate for r in rungs]
    knees = np.empty(resamples)
    for b in range(resamples):
        found = []
        for rung in rungs:
            picks = rng.integers(0, len(rung.trials), len(rung.trials))
            found.append(indexes([rung.trials[i] for i in picks], bound_ms, served_min))
        status, estimate, _, _ = _estimate(rates, found)
        knees[b] = (estimate if status == FOUND else math.inf if status == NOT_REACHED
                    else 0.0)
    alpha = 1.0 - confidence
    low, high = np.quantile(knees, [alpha / 2, 1 - alpha / 2], method="inverted_cdf")
    return (float(low) if 0 < low < math.inf else None,
            float(high) if 0 < high < math.inf else None)
