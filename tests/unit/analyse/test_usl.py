"""The Universal Scalability Law fit: it recovers known parameters from synthetic trials
within its intervals, finds the peak where the law puts it, and refuses what it cannot fit."""

from __future__ import annotations

import math

import numpy as np
import pytest

from harness.analyse.usl import fit, fit_with_intervals, throughput

LEVELS = (1, 2, 4, 8, 16, 32, 64, 128, 256)


def synthetic(lam: float, sigma: float, kappa: float, trials: int = 6, noise: float = 0.04,
              seed: int = 11) -> dict[float, list[float]]:
    """Per level, ``trials`` throughputs of the law with lognormal trial-to-trial noise."""
    rng = np.random.default_rng(seed)
    return {float(n): [throughput(n, lam, sigma, kappa) * math.exp(rng.normal(0.0, noise))
                       for _ in range(trials)] for n in LEVELS}


@pytest.mark.parametrize(("lam", "sigma", "kappa"), [
    (10.0, 0.05, 0.0005),    # a peak inside the levels (N* = 43.6)
    (10.0, 0.12, 0.0),       # slots: levels off at lambda / sigma = 83 req/s
    (9.8, 0.008, 0.00002),   # an event loop queueing on its CPU (N* = 222)
])
def test_the_fit_recovers_known_parameters_within_its_intervals(lam: float, sigma: float,
                                                                 kappa: float) -> None:
    result = fit_with_intervals(synthetic(lam, sigma, kappa), 0.95, seed=3)
    assert result.sigma is not None and result.kappa is not None
    assert result.sigma.low is not None and result.sigma.high is not None
    assert result.sigma.low <= sigma <= result.sigma.high
    assert result.kappa.low is not None and result.kappa.high is not None
    assert result.kappa.low <= kappa <= result.kappa.high
    assert result.fit.lam == pytest.approx(lam, rel=0.05)
    assert result.points == len(LEVELS) * 6


def test_noiseless_points_give_the_parameters_and_the_peak_exactly() -> None:
    lam, sigma, kappa = 10.0, 0.05, 0.0005
    levels = [float(n) for n in LEVELS]
    found = fit(levels, [throughput(n, lam, sigma, kappa) for n in levels])
    assert (found.lam, found.sigma, found.kappa) == pytest.approx((lam, sigma, kappa), rel=1e-6)
    peak = math.sqrt((1 - sigma) / kappa)
    assert found.peak_n == pytest.approx(peak, rel=1e-6)
    assert found.peak_x == pytest.approx(throughput(peak, lam, sigma, kappa), rel=1e-6)
    assert found.rms_log_error == pytest.approx(0.0, abs=1e-9)


def test_without_coherency_cost_throughput_levels_off_with_no_peak() -> None:
    levels = [float(n) for n in LEVELS]
    found = fit(levels, [throughput(n, 10.0, 0.125, 0.0) for n in levels])
    assert found.kappa == pytest.approx(0.0, abs=1e-12)
    assert found.peak_n is None and found.peak_x == pytest.approx(80.0, rel=1e-6)


def test_the_intervals_are_seeded() -> None:
    data = synthetic(10.0, 0.05, 0.0005)
    assert fit_with_intervals(data, seed=5) == fit_with_intervals(data, seed=5)


def test_one_trial_a_level_gives_a_fit_without_intervals() -> None:
    data = {n: xs[:1] for n, xs in synthetic(10.0, 0.05, 0.0005).items()}
    result = fit_with_intervals(data)
    assert result.sigma is None and result.kappa is None and result.peak_n is None
    assert result.fit.sigma == pytest.approx(0.05, rel=0.5)


@pytest.mark.parametrize(("levels", "values", "words"), [
    ([1, 2], [10.0, 20.0], "at least 3 distinct levels"),
    ([1, 2, 2], [10.0, 20.0, 19.0], "at least 3 distinct levels"),
    ([1, 2, 4], [10.0, 0.0, 30.0], "positive"),
    ([0, 2, 4], [10.0, 20.0, 30.0], ">= 1"),
    ([1, 2, 4], [10.0, 20.0], "same length"),
])
def test_what_cannot_be_fitted_is_refused(levels: list[float], values: list[float],
                                          words: str) -> None:
    with pytest.raises(ValueError, match=words):
        fit(levels, values)
