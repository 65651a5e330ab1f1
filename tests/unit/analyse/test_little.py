"""Little's law as a self-check: the 10% tolerance just inside and just outside, both
sides, and what a trial without the figures gets."""

from __future__ import annotations

import pytest

from harness.analyse.little import (
    LITTLE_TOLERANCE,
    invalid_reason,
    little_check,
    little_ratio,
    within,
)


def test_the_ratio_is_throughput_times_mean_response_over_the_intended() -> None:
    # 200 clients, 950 req/s, 0.2 s mean response: 190 in flight on average, 0.95 of 200.
    assert little_ratio(950.0, 0.2, 200) == pytest.approx(0.95)


@pytest.mark.parametrize(("ratio", "inside"), [
    (1.0, True), (0.9, True), (1.1, True),          # the bound itself is within
    (0.901, True), (0.899, False), (1.099, True), (1.101, False), (0.5, False),
])
def test_tolerance_just_inside_and_just_outside(ratio: float, inside: bool) -> None:
    assert LITTLE_TOLERANCE == 0.10
    assert within(ratio) is inside


@pytest.mark.parametrize(("throughput", "inside"), [(91.0, True), (89.0, False)])
def test_the_check_names_a_trial_outside(throughput: float, inside: bool) -> None:
    # C = 10 clients, 0.1 s each: 100 req/s keeps 10 in flight; 91 keeps 9.1 (within),
    # 89 keeps 8.9 (more than 10% off).
    check = little_check(throughput, 0.1, 10)
    assert check is not None
    assert check["within"] is inside
    assert check["intended"] == 10 and check["measured"] == pytest.approx(throughput / 10)


def test_missing_figures_give_no_check() -> None:
    assert little_check(None, 0.1, 10) is None
    assert little_check(100.0, None, 10) is None
    assert little_check(100.0, 0.1, 0) is None


@pytest.mark.parametrize("args", [(-1.0, 0.1, 10), (1.0, float("nan"), 10), (1.0, 0.1, 0)])
def test_impossible_figures_are_refused(args: tuple[float, float, float]) -> None:
    with pytest.raises(ValueError):
        little_ratio(*args)


@pytest.mark.parametrize(("throughput", "judges", "invalid"), [
    (91.0, True, False), (89.0, True, True),    # sustained: the law must hold
    (89.0, False, False), (50.0, False, False),  # bursts or open loop: named only
])
def test_only_a_sustained_trial_is_judged_by_the_law(throughput: float, judges: bool,
                                                    invalid: bool) -> None:
    check = little_check(throughput, 0.1, 10, judges)
    assert check is not None and check["judges"] is judges
    reason = invalid_reason(check)
    assert (reason is not None) is invalid
    if reason is not None:
        assert reason.startswith("Little's law: throughput x mean response kept 8.9 requests "
                                 "in flight of the 10 clients meant to be (ratio 0.89")
    assert invalid_reason(None) is None
