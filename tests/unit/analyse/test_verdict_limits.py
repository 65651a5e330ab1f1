"""The verdict's limits: how many trials an inconclusive interval needs at and around the
edges of the equivalence band, magnitudes at an interval touching 1, and the unbounded
and undetermined cases with their words."""

from __future__ import annotations

import pytest

from harness.analyse.verdicts import judge, magnitude, trials_needed

LOW, HIGH = 1 / 1.05, 1.05


@pytest.mark.parametrize(("ratio", "low", "high", "needed"), [
    (1.02, 0.97, 1.12, 112),    # inside the band: the upper side must fit (3.33x too wide)
    (1.0, 0.9, 1.1, 45),
    (HIGH, 0.9, 1.2, 90),       # on the band's upper edge: a difference, to clear 1
    (LOW, 0.9, 1.2, 271),       # on the lower edge
    (1.3, 0.9, 1.5, 18),
    (2.5, 0.9, 4.0, 12),
    (0.7, 0.5, 1.1, 18),
])
def test_trials_needed_at_and_around_the_band(ratio: float, low: float, high: float,
                                              needed: int) -> None:
    assert trials_needed(ratio, low, high, 10) == needed


def test_trials_needed_never_asks_for_fewer_than_the_run_has() -> None:
    assert trials_needed(1.3, 1.0, 1.35, 10) == 10


def test_an_interval_reaching_1_has_no_magnitude() -> None:
    assert magnitude(0.5, 1.0) == "none" and magnitude(1.0, 3.0) == "none"
    assert magnitude(0.9, 0.999) == "small slowdown" and magnitude(1.001, 1.1) == "small speedup"
    assert magnitude(0.5, 0.999) == "small to large slowdown"
    assert magnitude(1.001, 3.0) == "small to large speedup"


def test_no_bounded_interval_is_undetermined_with_its_reason() -> None:
    why = ("no bounded interval for the ratio of means (the denominator's mean is not "
           "distinguishable from 0)")
    for status, low, high in (("unbounded", 0.9, 1.1), ("ok", None, 1.2), ("ok", 0.8, None)):
        found = judge(status, 1.0, low, high, 10, "duration_s")
        assert (found.word, found.why, found.trials_needed) == ("undetermined", why, None)


def test_an_inconclusive_verdict_uses_the_runs_band() -> None:
    found = judge("ok", 1.02, 0.95, 1.15, 10, "duration_s", 10.0)
    assert (found.word, found.why, found.trials_needed) == (
        "inconclusive", "need more trials: about 27 per arm", 27)
    assert judge("ok", 1.02, 0.95, 1.15, 10, "duration_s").trials_needed == 188
    assert judge("ok", 1.0, 0.99, 1.01, 10, "duration_s").why == "within 5%"
    assert judge("ok", 1.0, 0.99, 1.01, 10, "duration_s", 2.5).why == "within 2.5%"
