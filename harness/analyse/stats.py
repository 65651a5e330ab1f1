"""Statistics over per-trial values: pure functions, no I/O, no printing.

A *sample* is one value per trial (a trial's duration, throughput or p99); the
requests inside one trial are never treated as independent samples.

Speedups are ratios oriented so that ``> 1`` means the stack is better than the
baseline: for a lower-is-better metric (a duration, a latency) the ratio is
``mean(baseline) / mean(stack)``; for a higher-is-better metric (a rate) it is
``mean(stack) / mean(baseline)``. The interval functions take the numerator and
the denominator of that ratio; :func:`orient` says which arm goes where.

Interval methods (all two-sided, at a given confidence level):

``fieller``
    Fieller's interval for the ratio of the means of two independent samples, with
    Welch–Satterthwaite degrees of freedom. Unbounded when the denominator's mean
    is not significantly different from zero.
``welch-log``
    Welch's t interval for the difference of the mean logs, exponentiated: an
    interval for the ratio of *geometric* means. It equals the ratio of means
    only when both arms have the same log-scale spread.
``bca-bootstrap``
    scipy's BCa bootstrap of the ratio of means, the two arms resampled
    independently; used once each arm has :data:`MIN_TRIALS_FOR_BOOTSTRAP` trials.

:func:`speedup` picks the reported ("primary") interval: Fieller's, at every n.
``scripts/coverage_sim.py`` decided it (lognormal trials, true ratio of means
4.0, nominal 95%; 2000 data sets per cell, 20000 at n = 5, default seed):

* equal log-scale spreads (sigma 0.05, 0.2, 0.5): Fieller covers 95.7-96.3% at
  n = 5, 94.8-95.5% at n = 10 and 94.3-95.0% at n = 30. It does not under-cover
  at small n, so welch-log (95.7-95.8% at n = 5) has no coverage to offer there.
* unequal spreads (0.1 vs 0.4, either way round): Fieller 92.8-93.0% at n = 5,
  93.4-93.8% at n = 10, 93.7-93.9% at n = 30. welch-log estimates the ratio of
  geometric means, which is then another quantity: 93.5%, 91.9-92.3%, and
  83.4-83.9% at n = 30, getting worse as n grows.

Fieller is unbounded in 1.8% of n = 5 data sets with sigma 0.5 (0.5% with
0.1 vs 0.4). No other interval stands in then: welch-log would describe the
ratio of geometric means beside a point estimate of the ratio of means, so the
speedup has ``status="unbounded"`` and no interval. The p-value is Fieller's own
test of ratio 1 (:func:`fieller_test`), so ``p < 1 - confidence`` exactly when the
interval excludes 1. The BCa bootstrap (92.2-93.9% at n = 30, narrower) is
reported beside the primary, never used for the verdict.

A family of ``m`` comparisons is controlled family-wise by Bonferroni: each of its
intervals is built at :func:`familywise_confidence` and its p-value multiplied by
``m`` (:func:`bonferroni`), which keeps interval, p-value and verdict in step.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy import special
from scipy import stats as sps

MIN_TRIALS_FOR_CI = 2
"""An arm needs at least this many trials for any interval or test."""

MIN_TRIALS_FOR_BOOTSTRAP = 20
"""Each arm needs at least this many trials before the BCa bootstrap is reported."""

BOOTSTRAP_RESAMPLES = 9999

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True)
class Description:
    """Summary of one sample: ``sd`` uses ddof=1 and is 0 for a single value."""

    n: int
    mean: float
    median: float
    sd: float
    min: float
    max: float


@dataclass(frozen=True)
class RatioInterval:
    """A confidence interval for a ratio.

    ``bounded`` is False when the interval is not a finite range (Fieller with a
    denominator indistinguishable from zero); ``low`` and ``high`` are then
    ``-inf`` and ``inf``.
    """

    low: float
    high: float
    method: str
    bounded: bool = True


@dataclass(frozen=True)
class Speedup:
    """A speedup of a stack over the baseline with its reported interval.

    ``ratio`` is the ratio of means (``None`` when an arm is empty). ``status`` says
    whether an interval exists: ``"ok"``; ``"insufficient"`` (an arm has fewer than
    :data:`MIN_TRIALS_FOR_CI` trials, ``method`` ``"insufficient-trials"``);
    ``"unbounded"`` (Fieller's set is not a finite range); ``"degenerate"`` (no
    spread in either arm: a resolution artefact, not certainty). Only with ``"ok"``
    are ``low``, ``high`` and ``p_value`` set. ``bootstrap`` is the
    BCa interval when both arms have :data:`MIN_TRIALS_FOR_BOOTSTRAP` trials;
    ``note`` says why it is missing when the bootstrap was degenerate.
    """

    ratio: float | None
    low: float | None
    high: float | None
    method: str
    n_stack: int
    n_baseline: int
    p_value: float | None
    bootstrap: RatioInterval | None
    note: str | None = None
    status: str = "ok"


def _as_array(xs: Sequence[float], name: str, min_n: int = 1) -> FloatArray:
    arr = np.asarray(xs, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be a flat sequence of numbers")
    if arr.size < min_n:
        raise ValueError(f"{name} needs at least {min_n} value(s), got {arr.size}")
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"{name} contains a non-finite value")
    return arr


def _positive(xs: Sequence[float], name: str, min_n: int) -> FloatArray:
    arr = _as_array(xs, name, min_n)
    if np.any(arr <= 0):
        raise ValueError(f"{name} must contain only positive values")
    return arr


def _check_confidence(confidence: float) -> None:
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be strictly between 0 and 1, got {confidence!r}")


def t_quantile(confidence: float, df: float) -> float:
    """Two-sided critical value of Student's t (normal when ``df`` is infinite).

    scipy's special functions behind ``t.ppf`` and ``norm.ppf``, called directly: the
    same values, without the distribution objects' overhead (the adaptive plan and its
    simulation ask for many)."""
    q = 0.5 + confidence / 2.0
    if math.isinf(df):
        return float(special.ndtri(q))
    return float(special.stdtrit(df, q))


def welch_df(var_mean_a: float, n_a: int, var_mean_b: float, n_b: int) -> float:
    """Welch–Satterthwaite degrees of freedom.

    Args:
        var_mean_a, var_mean_b: variance of each arm's mean (``s**2 / n``), possibly
            already scaled by a constant.
        n_a, n_b: the arms' sizes, each at least 2.
    Returns:
        ``(va + vb)**2 / (va**2/(n_a-1) + vb**2/(n_b-1))``; ``inf`` when both are 0.
    """
    if n_a < 2 or n_b < 2:
        raise ValueError("each arm needs at least 2 values for degrees of freedom")
    if var_mean_a < 0 or var_mean_b < 0:
        raise ValueError("variances must be non-negative")
    total = var_mean_a + var_mean_b
    if total == 0.0:
        return math.inf
    return total**2 / (var_mean_a**2 / (n_a - 1) + var_mean_b**2 / (n_b - 1))


def describe(xs: Sequence[float]) -> Description:
    """Count, mean, median, sample sd (ddof=1; 0 for one value), min and max of ``xs``.

    Raises:
        ValueError: ``xs`` is empty or holds a non-finite value.
    """
    arr = _as_array(xs, "xs")
    sd = float(np.std(arr, ddof=1)) if arr.size > 1 else 0.0
    return Description(
        n=int(arr.size),
        mean=float(np.mean(arr)),
        median=float(np.median(arr)),
        sd=sd,
        min=float(np.min(arr)),
        max=float(np.max(arr)),
    )


def orient(
    stack: Sequence[float], baseline: Sequence[float], higher_is_better: bool
) -> tuple[Sequence[float], Sequence[float]]:
    """Return ``(numerator, denominator)`` so that the ratio > 1 means the stack is better."""
    return (stack, baseline) if higher_is_better else (baseline, stack)


def ratio_of_means(num: Sequence[float], den: Sequence[float]) -> float:
    """``mean(num) / mean(den)``.

    Raises:
        ValueError: an arm is empty or non-finite, or ``mean(den)`` is 0.
    """
    a = _as_array(num, "num")
    b = _as_array(den, "den")
    mean_b = float(np.mean(b))
    if mean_b == 0.0:
        raise ValueError("the denominator's mean is 0")
    return float(np.mean(a)) / mean_b


def fieller_ratio_ci(
    num: Sequence[float], den: Sequence[float], confidence: float
) -> RatioInterval:
    """Fieller's interval for ``mean(num) / mean(den)``, independent samples.

    The interval is the set of ratios ``r`` with
    ``(m_num - r*m_den)**2 <= t**2 * (v_num + r**2 * v_den)``, where ``v = s**2/n``
    is the variance of each mean and ``t`` is Student's quantile with the
    Welch–Satterthwaite degrees of freedom of ``m_num - R*m_den`` at the point
    estimate ``R`` (the "Fieller–Welch" interval). When ``t**2 * v_den >= m_den**2``
    the denominator's mean is not significantly different from 0 and the set is
    unbounded: the result then has ``bounded=False`` and infinite bounds. When both
    arms are constant the interval is the single point ``R``.

    Args:
        num, den: the two samples, each with at least 2 finite values.
        confidence: e.g. 0.95.
    Raises:
        ValueError: fewer than 2 values in an arm, a non-finite value, a bad
            confidence level, or ``mean(den) == 0``.
    """
    _check_confidence(confidence)
    x = _as_array(num, "num", MIN_TRIALS_FOR_CI)
    y = _as_array(den, "den", MIN_TRIALS_FOR_CI)
    mx, my = float(np.mean(x)), float(np.mean(y))
    if my == 0.0:
        raise ValueError("the denominator's mean is 0")
    ratio = mx / my
    v11 = float(np.var(x, ddof=1)) / x.size
    v22 = float(np.var(y, ddof=1)) / y.size
    if v11 == 0.0 and v22 == 0.0:
        return RatioInterval(ratio, ratio, "fieller")
    df = welch_df(v11, x.size, ratio**2 * v22, y.size)
    t2 = t_quantile(confidence, df) ** 2
    denom = my**2 - t2 * v22
    if denom <= 0.0:
        return RatioInterval(-math.inf, math.inf, "fieller", bounded=False)
    # denom > 0 makes the discriminant v11*denom + mx**2*v22 positive.
    half = math.sqrt(t2 * (my**2 * v11 + mx**2 * v22 - t2 * v11 * v22))
    return RatioInterval((mx * my - half) / denom, (mx * my + half) / denom, "fieller")


def welch_log_ratio_ci(
    num: Sequence[float], den: Sequence[float], confidence: float
) -> RatioInterval:
    """Welch's t interval on log values, exponentiated.

    This is an interval for the ratio of the *geometric* means
    ``exp(mean(log num) - mean(log den))``. It equals the ratio of arithmetic
    means only when both arms have the same spread on the log scale (for
    lognormal data, the same sigma); otherwise the two differ by
    ``exp((sigma_den**2 - sigma_num**2) / 2)``. Both arms constant gives a point.

    Raises:
        ValueError: fewer than 2 values in an arm, a non-positive or non-finite
            value, or a bad confidence level.
    """
    _check_confidence(confidence)
    lx = np.log(_positive(num, "num", MIN_TRIALS_FOR_CI))
    ly = np.log(_positive(den, "den", MIN_TRIALS_FOR_CI))
    diff = float(np.mean(lx) - np.mean(ly))
    va = float(np.var(lx, ddof=1)) / lx.size
    vb = float(np.var(ly, ddof=1)) / ly.size
    if va == 0.0 and vb == 0.0:
        return RatioInterval(math.exp(diff), math.exp(diff), "welch-log")
    half = t_quantile(confidence, welch_df(va, lx.size, vb, ly.size)) * math.sqrt(va + vb)
    return RatioInterval(math.exp(diff - half), math.exp(diff + half), "welch-log")


def fieller_test(num: Sequence[float], den: Sequence[float], r0: float = 1.0) -> float:
    """Two-sided p-value of Fieller's test that ``mean(num) / mean(den) == r0``.

    The statistic ``(m_num - r0*m_den) / sqrt(v_num + r0**2 * v_den)`` is referred to
    Student's t with the degrees of freedom :func:`fieller_ratio_ci` uses, so ``r0``
    lies outside the interval at confidence ``c`` exactly when ``p < 1 - c``. At
    ``r0 = 1`` the statistic is Welch's t on the difference of the means.

    Raises:
        ValueError: fewer than 2 values in an arm, a non-finite value,
            ``mean(den) == 0``, or no spread in either arm (no test exists).
    """
    x = _as_array(num, "num", MIN_TRIALS_FOR_CI)
    y = _as_array(den, "den", MIN_TRIALS_FOR_CI)
    mx, my = float(np.mean(x)), float(np.mean(y))
    if my == 0.0:
        raise ValueError("the denominator's mean is 0")
    v11 = float(np.var(x, ddof=1)) / x.size
    v22 = float(np.var(y, ddof=1)) / y.size
    if v11 == 0.0 and v22 == 0.0:
        raise ValueError("no spread in either sample: no test")
    df = welch_df(v11, x.size, (mx / my) ** 2 * v22, y.size)
    t = abs(mx - r0 * my) / math.sqrt(v11 + r0**2 * v22)
    return float(2.0 * sps.t.sf(t, df))


def familywise_confidence(confidence: float, family_size: int) -> float:
    """Bonferroni: the level of each of ``family_size`` intervals that hold jointly at
    ``confidence`` (``1 - (1 - confidence) / family_size``)."""
    _check_confidence(confidence)
    if family_size < 1:
        raise ValueError(f"family_size must be at least 1, got {family_size!r}")
    return 1.0 - (1.0 - confidence) / family_size


def bonferroni(p_value: float, family_size: int) -> float:
    """A p-value adjusted for a family of ``family_size`` tests: ``min(1, m * p)``."""
    if family_size < 1:
        raise ValueError(f"family_size must be at least 1, got {family_size!r}")
    return min(1.0, p_value * family_size)


def _mean_ratio_statistic(a: FloatArray, b: FloatArray, axis: int = -1) -> Any:
    return np.mean(a, axis=axis) / np.mean(b, axis=axis)


def bootstrap_ratio_ci(
    num: Sequence[float],
    den: Sequence[float],
    confidence: float,
    seed: int,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
) -> RatioInterval:
    """BCa bootstrap interval for ``mean(num) / mean(den)``.

    The two arms are resampled independently (``paired=False``) by
    ``scipy.stats.bootstrap`` from ``numpy.random.default_rng(seed)``, so the
    same inputs and seed always give the same interval. Meant for arms of at
    least :data:`MIN_TRIALS_FOR_BOOTSTRAP` trials; BCa is unreliable below that.

    Raises:
        ValueError: fewer than 2 values in an arm, a non-finite value, a bad
            confidence level, ``mean(den) == 0``, or a degenerate bootstrap
            distribution (no finite interval).
    """
    _check_confidence(confidence)
    x = _as_array(num, "num", MIN_TRIALS_FOR_CI)
    y = _as_array(den, "den", MIN_TRIALS_FOR_CI)
    ratio = ratio_of_means(x.tolist(), y.tolist())
    if np.ptp(x) == 0.0 and np.ptp(y) == 0.0:
        return RatioInterval(ratio, ratio, "bca-bootstrap")
    with warnings.catch_warnings():
        # A degenerate distribution shows up as NaN bounds, checked below.
        warnings.simplefilter("ignore")
        res = sps.bootstrap(
            (x, y),
            _mean_ratio_statistic,
            n_resamples=n_resamples,
            vectorized=True,
            paired=False,
            confidence_level=confidence,
            method="BCa",
            rng=np.random.default_rng(seed),
        )
    low, high = float(res.confidence_interval.low), float(res.confidence_interval.high)
    if not (math.isfinite(low) and math.isfinite(high)):
        raise ValueError("the bootstrap distribution is degenerate: no finite interval")
    return RatioInterval(low, high, "bca-bootstrap")


def primary_interval(
    num: Sequence[float], den: Sequence[float], confidence: float
) -> RatioInterval:
    """The reported interval for ``mean(num) / mean(den)`` of two positive samples.

    Fieller's interval, cut at 0 from below (a ratio of positive means is
    positive, and intersecting a confidence set with the parameter space keeps
    its coverage; with 2 or 3 noisy trials Fieller's lower root can be negative).
    When Fieller's set is unbounded the result says so (``bounded=False``) and no
    other interval stands in: any other would describe another quantity.

    Raises:
        ValueError: fewer than 2 values in an arm, a non-positive or non-finite
            value, or a bad confidence level.
    """
    x = _positive(num, "num", MIN_TRIALS_FOR_CI).tolist()
    y = _positive(den, "den", MIN_TRIALS_FOR_CI).tolist()
    ci = fieller_ratio_ci(x, y, confidence)
    if ci.bounded:
        return RatioInterval(max(ci.low, 0.0), ci.high, ci.method)
    return ci


def speedup(
    stack: Sequence[float],
    baseline: Sequence[float],
    higher_is_better: bool,
    confidence: float,
    seed: int,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
) -> Speedup:
    """Speedup of ``stack`` over ``baseline`` (> 1 means the stack is better).

    The ratio is oriented by ``higher_is_better`` (see :func:`orient`); the
    interval is :func:`primary_interval` and the p-value :func:`fieller_test` of
    ratio 1; when both arms have :data:`MIN_TRIALS_FOR_BOOTSTRAP` trials the BCa
    bootstrap (seeded with ``seed``) is added. ``status`` says when there is no
    interval (see :class:`Speedup`); an empty arm also gives no ratio.

    Raises:
        ValueError: a non-finite or non-positive value, or a bad confidence level.
    """
    _check_confidence(confidence)
    s = _positive(stack, "stack", 0)
    b = _positive(baseline, "baseline", 0)
    num, den = orient(s.tolist(), b.tolist(), higher_is_better)
    ns, nb = int(s.size), int(b.size)
    if ns < MIN_TRIALS_FOR_CI or nb < MIN_TRIALS_FOR_CI:
        ratio = ratio_of_means(num, den) if ns and nb else None
        return Speedup(ratio, None, None, "insufficient-trials", ns, nb, None, None,
                       status="insufficient")
    ratio = ratio_of_means(num, den)
    if np.ptp(s) == 0.0 and np.ptp(b) == 0.0:
        return Speedup(ratio, None, None, "no spread", ns, nb, None, None,
                       status="degenerate")
    ci = primary_interval(num, den, confidence)
    if not ci.bounded:
        return Speedup(ratio, None, None, "fieller (unbounded)", ns, nb, None, None,
                       status="unbounded")
    boot, note = None, None
    if min(ns, nb) >= MIN_TRIALS_FOR_BOOTSTRAP:
        try:
            boot = bootstrap_ratio_ci(num, den, confidence, seed, n_resamples)
        except ValueError as exc:
            note = f"no bootstrap interval: {exc}"
    return Speedup(ratio=ratio, low=ci.low, high=ci.high, method=ci.method, n_stack=ns,
                   n_baseline=nb, p_value=fieller_test(num, den), bootstrap=boot, note=note)
