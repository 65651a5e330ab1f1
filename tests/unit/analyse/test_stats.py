"""harness.analyse.stats against values computed by hand (the arithmetic is in the comments)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.analyse import stats

# Two-sided 95% Student quantiles in closed form (no table look-up):
#   df=2: t = (2p-1) / sqrt(2p(1-p)), p = 0.975 -> 0.95 / sqrt(0.04875)
#   df=4: a = 4p(1-p), q = cos(acos(sqrt(a))/3) / sqrt(a), t = 2 sqrt(q-1)
T2 = 0.95 / math.sqrt(2 * 0.975 * 0.025)  # 4.3026527297...
_A = 4 * 0.975 * 0.025
T4 = 2 * math.sqrt(math.cos(math.acos(math.sqrt(_A)) / 3) / math.sqrt(_A) - 1)  # 2.7764451052

E = math.e


def test_closed_form_quantiles_match_the_tables() -> None:
    assert abs(T2 - 4.302653) < 1e-6
    assert abs(T4 - 2.776445) < 1e-6


# --- describe -------------------------------------------------------------------


def test_describe_four_values() -> None:
    # mean 2.5; squared deviations 2.25+0.25+0.25+2.25 = 5; var = 5/3; sd = 1.2909944...
    d = stats.describe([1, 2, 3, 4])
    assert d == stats.Description(n=4, mean=2.5, median=2.5, sd=math.sqrt(5 / 3), min=1, max=4)
    assert d.sd == pytest.approx(1.2909944487358056, rel=1e-12)


def test_describe_one_value_has_zero_sd() -> None:
    assert stats.describe([7.0]) == stats.Description(1, 7.0, 7.0, 0.0, 7.0, 7.0)


def test_describe_odd_count_median() -> None:
    assert stats.describe([5, 1, 3]).median == 3


@pytest.mark.parametrize("bad", [[], [1.0, math.nan], [math.inf]])
def test_describe_rejects_empty_and_non_finite(bad: list[float]) -> None:
    with pytest.raises(ValueError):
        stats.describe(bad)


# --- orientation ------------------------------------------------------------------


def test_orient_puts_baseline_on_top_for_durations() -> None:
    assert stats.orient([1.0], [4.0], higher_is_better=False) == ([4.0], [1.0])
    assert stats.orient([1.0], [4.0], higher_is_better=True) == ([1.0], [4.0])


def test_ratio_of_means() -> None:
    assert stats.ratio_of_means([2, 4], [1, 2]) == 2.0
    with pytest.raises(ValueError):
        stats.ratio_of_means([1], [0])
    with pytest.raises(ValueError):
        stats.ratio_of_means([], [1])


# --- Welch-Satterthwaite ------------------------------------------------------------


def test_welch_df() -> None:
    # equal variances of the means, n=3 each: (2v)^2 / (v^2/2 + v^2/2) = 4
    assert stats.welch_df(1 / 3, 3, 1 / 3, 3) == pytest.approx(4.0)
    # one arm without variance: df = n-1 of the other
    assert stats.welch_df(0.5, 5, 0.0, 3) == pytest.approx(4.0)
    assert stats.welch_df(0.0, 3, 0.0, 3) == math.inf
    with pytest.raises(ValueError):
        stats.welch_df(1.0, 1, 1.0, 3)


# --- Fieller ------------------------------------------------------------------------


def test_fieller_constant_denominator() -> None:
    # num = 9,10,11: mean 10, s^2 = 1, v11 = 1/3; den = 5,5,5: mean 5, v22 = 0.
    # df = n_num - 1 = 2; g = 0, so the bounds are (10 +- t2*sqrt(1/3)) / 5
    #    = (10 +- 4.3026527*0.5773503) / 5 = (10 +- 2.4841377) / 5 = [1.5031725, 2.4968275]
    ci = stats.fieller_ratio_ci([9, 10, 11], [5, 5, 5], 0.95)
    assert ci.method == "fieller" and ci.bounded
    assert ci.low == pytest.approx((10 - T2 * math.sqrt(1 / 3)) / 5, rel=1e-12)
    assert ci.high == pytest.approx((10 + T2 * math.sqrt(1 / 3)) / 5, rel=1e-12)
    assert (ci.low, ci.high) == pytest.approx((1.5031725, 2.4968275), abs=1e-7)


def test_fieller_both_arms_vary() -> None:
    # num = 9,10,11 (mx=10, v11=1/3); den = 4.5,5,5.5 (my=5, s^2=0.25, v22=1/12); R = 2.
    # WS df at R: a = v11 = 1/3, b = R^2 v22 = 1/3 -> (2/3)^2 / ((1/9)/2 + (1/9)/2) = 4.
    # Bounds = (mx my -+ t sqrt(my^2 v11 + mx^2 v22 - t^2 v11 v22)) / (my^2 - t^2 v22)
    #        = (50 -+ t4 sqrt(25/3 + 100/12 - t4^2/36)) / (25 - t4^2/12)
    #        = (50 -+ 2.7764451*4.0561669) / 24.3576174 = [1.5903964, 2.5150963]
    ci = stats.fieller_ratio_ci([9, 10, 11], [4.5, 5, 5.5], 0.95)
    root = math.sqrt(25 / 3 + 100 / 12 - T4**2 / 36)
    denom = 25 - T4**2 / 12
    assert ci.low == pytest.approx((50 - T4 * root) / denom, rel=1e-12)
    assert ci.high == pytest.approx((50 + T4 * root) / denom, rel=1e-12)
    assert (ci.low, ci.high) == pytest.approx((1.5903964, 2.5150963), abs=1e-7)
    # Fieller bounds are the roots of (mx - r my)^2 = t^2 (v11 + r^2 v22).
    for r in (ci.low, ci.high):
        assert (10 - 5 * r) ** 2 == pytest.approx(T4**2 * (1 / 3 + r**2 / 12), rel=1e-9)


def test_fieller_is_scale_equivariant() -> None:
    base = stats.fieller_ratio_ci([9, 10, 11], [4.5, 5, 5.5], 0.95)
    scaled = stats.fieller_ratio_ci([90, 100, 110], [4.5, 5, 5.5], 0.95)
    assert (scaled.low, scaled.high) == pytest.approx((10 * base.low, 10 * base.high))


def test_fieller_unbounded_when_denominator_not_significant() -> None:
    # den = 0.1, 5, 9: mean 4.7, s^2 = 19.87, v22 = 6.62; t^2 v22 >> my^2 = 22.09
    ci = stats.fieller_ratio_ci([9, 10, 11], [0.1, 5, 9], 0.95)
    assert not ci.bounded
    assert (ci.low, ci.high) == (-math.inf, math.inf)


def test_fieller_constant_arms_give_a_point() -> None:
    ci = stats.fieller_ratio_ci([6, 6], [3, 3], 0.95)
    assert (ci.low, ci.high, ci.bounded) == (2.0, 2.0, True)


@pytest.mark.parametrize(
    ("num", "den", "confidence"),
    [([1.0], [1.0, 2.0], 0.95), ([1.0, 2.0], [1.0, -1.0], 0.95), ([1.0, 2.0], [1.0, 2.0], 1.0)],
)
def test_fieller_rejects_bad_input(num: list[float], den: list[float], confidence: float) -> None:
    with pytest.raises(ValueError):
        stats.fieller_ratio_ci(num, den, confidence)


# --- welch-log ----------------------------------------------------------------------


def test_welch_log_interval() -> None:
    # logs: num 1,2,3 and den 0,1,2 -> difference 1, each var 1, va = vb = 1/3,
    # df = (2/3)^2 / (2 * (1/9)/2) = 4, se = sqrt(2/3) = 0.8164966
    # CI = exp(1 -+ 2.7764451*0.8164966) = exp(1 -+ 2.2669579) = [0.2816872, 26.2314202]
    ci = stats.welch_log_ratio_ci([E, E**2, E**3], [1, E, E**2], 0.95)
    assert ci.method == "welch-log"
    assert ci.low == pytest.approx(math.exp(1 - T4 * math.sqrt(2 / 3)), rel=1e-12)
    assert ci.high == pytest.approx(math.exp(1 + T4 * math.sqrt(2 / 3)), rel=1e-12)
    assert (ci.low, ci.high) == pytest.approx((0.2816872, 26.2314202), abs=1e-6)


def test_welch_log_constant_denominator() -> None:
    # logs 1,2,3 vs 0,0,0: df = 2, CI = exp(2 -+ 4.3026527*sqrt(1/3)) = [0.6162283, 88.6005187]
    ci = stats.welch_log_ratio_ci([E, E**2, E**3], [1, 1, 1], 0.95)
    assert (ci.low, ci.high) == pytest.approx((0.6162283, 88.6005187), rel=1e-7)


def test_welch_log_targets_the_geometric_mean_ratio() -> None:
    # With constant arms the interval collapses on GM(num)/GM(den) = sqrt(2*8)/1 = 4,
    # while the ratio of means is 5.
    ci = stats.welch_log_ratio_ci([2, 8], [1, 1], 0.95)
    assert ci.low < 4 < ci.high
    point = stats.welch_log_ratio_ci([4, 4], [1, 1], 0.95)
    assert (point.low, point.high) == pytest.approx((4.0, 4.0))


def test_welch_log_rejects_non_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        stats.welch_log_ratio_ci([1.0, 0.0], [1.0, 2.0], 0.95)


def test_welch_log_test_p_value() -> None:
    # Same logs as above: t = 1 / sqrt(2/3) = 1.2247449, df = 4. Student's CDF for
    # df=4 in closed form: F(t) = 1/2 + (3/8) t/sqrt(1+t^2/4) (1 - t^2/(12 (1+t^2/4)))
    # -> F = 0.8560679, p = 2 (1 - F) = 0.2878641
    tt = 1 / math.sqrt(2 / 3)
    cdf = 0.5 + 3 / 8 * tt / math.sqrt(1 + tt**2 / 4) * (1 - tt**2 / (12 * (1 + tt**2 / 4)))
    p = stats.welch_log_test([E, E**2, E**3], [1, E, E**2])
    assert p == pytest.approx(2 * (1 - cdf), rel=1e-9)
    assert p == pytest.approx(0.2878641, abs=1e-7)


def test_welch_log_test_with_one_constant_arm_is_quiet() -> None:
    # Identical values in one arm (the same peak RSS in both trials) once raised scipy's
    # precision-loss warning, an error under the test suite's settings.
    p = stats.welch_log_test([4.55929377, 4.55929377], [4.6, 4.7])
    assert 0.0 < p < 1.0


def test_welch_log_test_constant_samples() -> None:
    assert stats.welch_log_test([2, 2], [2, 2]) == 1.0
    assert stats.welch_log_test([2, 2], [3, 3]) == 0.0
    with pytest.raises(ValueError):
        stats.welch_log_test([2], [3, 3])


# --- bootstrap ----------------------------------------------------------------------


def _lognormal(seed: int, mean: float, n: int) -> list[float]:
    rng = np.random.default_rng(seed)
    return [float(v) for v in rng.lognormal(math.log(mean), 0.1, n)]


def test_bootstrap_is_seeded_and_close_to_fieller() -> None:
    num, den = _lognormal(1, 4.0, 25), _lognormal(2, 1.0, 25)
    a = stats.bootstrap_ratio_ci(num, den, 0.95, seed=42, n_resamples=999)
    b = stats.bootstrap_ratio_ci(num, den, 0.95, seed=42, n_resamples=999)
    assert a == b
    assert a.method == "bca-bootstrap"
    ratio = stats.ratio_of_means(num, den)
    assert a.low < ratio < a.high
    fieller = stats.fieller_ratio_ci(num, den, 0.95)
    assert a.low == pytest.approx(fieller.low, rel=0.03)
    assert a.high == pytest.approx(fieller.high, rel=0.03)


def test_bootstrap_constant_arms_give_a_point() -> None:
    ci = stats.bootstrap_ratio_ci([2.0] * 20, [1.0] * 20, 0.95, seed=1)
    assert (ci.low, ci.high) == (2.0, 2.0)


# --- speedup: orientation and method choice ------------------------------------------


def test_speedup_lower_is_better_uses_baseline_over_stack() -> None:
    # durations: baseline 9,10,11 vs stack 4.5,5,5.5 -> speedup = the Fieller example above
    sp = stats.speedup([4.5, 5, 5.5], [9, 10, 11], False, 0.95, seed=0)
    assert sp.ratio == pytest.approx(2.0)
    assert sp.method == "fieller"
    assert (sp.low, sp.high) == pytest.approx((1.5903964, 2.5150963), abs=1e-7)
    assert (sp.n_stack, sp.n_baseline, sp.bootstrap) == (3, 3, None)
    assert sp.p_value is not None and 0 < sp.p_value < 0.01


def test_speedup_higher_is_better_uses_stack_over_baseline() -> None:
    sp = stats.speedup([9, 10, 11], [4.5, 5, 5.5], True, 0.95, seed=0)
    assert sp.ratio == pytest.approx(2.0)
    assert (sp.low, sp.high) == pytest.approx((1.5903964, 2.5150963), abs=1e-7)


def test_speedup_falls_back_to_welch_log_when_fieller_unbounded() -> None:
    sp = stats.speedup([9, 10, 11], [0.1, 5, 9], True, 0.95, seed=0)
    assert sp.method == "welch-log (fieller unbounded)"
    expected = stats.welch_log_ratio_ci([9, 10, 11], [0.1, 5, 9], 0.95)
    assert (sp.low, sp.high) == (expected.low, expected.high)


def test_primary_interval_is_cut_at_zero() -> None:
    # num 1,3 (mean 2, v11 = 1) over den 2,2.2 (mean 2.1, v22 = 0.01): the denominator
    # is clearly non-zero so Fieller is bounded, but num is so noisy that its lower
    # root is negative; a ratio of positive means cannot be, so the report cuts at 0.
    raw = stats.fieller_ratio_ci([1, 3], [2, 2.2], 0.95)
    assert raw.bounded and raw.low < 0
    ci = stats.primary_interval([1, 3], [2, 2.2], 0.95)
    assert (ci.low, ci.high, ci.method) == (0.0, raw.high, "fieller")


def test_speedup_insufficient_trials() -> None:
    sp = stats.speedup([1.0], [2.0, 2.0], False, 0.95, seed=0)
    assert sp.method == "insufficient-trials"
    assert (sp.ratio, sp.low, sp.high, sp.p_value) == (2.0, None, None, None)
    empty = stats.speedup([], [2.0, 2.0], False, 0.95, seed=0)
    assert (empty.ratio, empty.n_stack) == (None, 0)


def test_speedup_adds_bootstrap_from_twenty_trials() -> None:
    num, den = _lognormal(3, 4.0, 20), _lognormal(4, 1.0, 20)
    sp = stats.speedup(num, den, True, 0.95, seed=5, n_resamples=999)
    assert sp.bootstrap is not None and sp.bootstrap.method == "bca-bootstrap"
    assert sp.method == "fieller"
    short = stats.speedup(num[:19], den, True, 0.95, seed=5, n_resamples=999)
    assert short.bootstrap is None


# --- properties -------------------------------------------------------------------------

samples = st.lists(st.floats(0.01, 100.0), min_size=2, max_size=12)


@given(num=samples, den=samples)
def test_intervals_contain_their_point_estimates(num: list[float], den: list[float]) -> None:
    ratio = stats.ratio_of_means(num, den)
    fieller = stats.fieller_ratio_ci(num, den, 0.95)
    assert fieller.low <= ratio * (1 + 1e-9) and ratio <= fieller.high * (1 + 1e-9)
    log = stats.welch_log_ratio_ci(num, den, 0.95)
    gm = math.exp(float(np.mean(np.log(num)) - np.mean(np.log(den))))
    assert log.low <= gm * (1 + 1e-9) and gm <= log.high * (1 + 1e-9)
