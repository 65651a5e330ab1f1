"""The knee detector on synthetic curves: the known knee found (with an interval around
it), "not reached" when the sweep never saturates, "below the lowest rung" when it starts
saturated, and both thresholds (served share, p99 bound) just inside and just outside."""

from __future__ import annotations

import pytest

from harness.analyse.knee import (
    BELOW,
    FOUND,
    NOT_REACHED,
    Rung,
    TrialPoint,
    find_knee,
    load_index,
    within,
)

BOUND = 200.0  # ms: 2 x a 100 ms unloaded latency
SERVED = 0.95


def hockey(rate: float, knee: float) -> float:
    """A p99 (ms): flat at 110 ms, then rising as the sixth power of the rate, through
    BOUND exactly at ``knee`` req/s (a straight line on log-log axes: the interpolation
    between two rungs on it is exact)."""
    return max(110.0, BOUND * (rate / knee) ** 6)


def ladder(rates: list[float], knee: float, trials: int = 5,
           jitter: float = 0.02) -> list[Rung]:
    """Rungs whose trials scatter by +-``jitter`` around the hockey stick, all served."""
    rungs = []
    for rate in rates:
        points = tuple(TrialPoint(1.0, hockey(rate, knee) * (1 + jitter * (i - 2) / 2))
                       for i in range(trials))
        rungs.append(Rung(rate, points))
    return rungs


RATES = [50.0 * 1.5 ** j for j in range(6)]  # 50, 75, 112.5, 168.75, 253.1, 379.7


def test_the_known_knee_is_found_between_its_rungs_with_an_interval_around_it() -> None:
    knee = find_knee(ladder(RATES, 180.0), BOUND, SERVED, seed=1)
    assert knee.status == FOUND
    assert knee.last_within == pytest.approx(168.75)
    assert knee.first_saturated == pytest.approx(253.125)
    assert knee.estimate == pytest.approx(180.0, rel=0.01)  # the trials' jitter moves it
    assert knee.low is not None and knee.high is not None
    assert knee.low <= 180.0 <= knee.high
    assert knee.limit == "p99"


def test_without_noise_the_interpolation_finds_the_knee_exactly() -> None:
    knee = find_knee(ladder(RATES, 180.0, jitter=0.0), BOUND, SERVED)
    assert knee.estimate == pytest.approx(180.0, rel=1e-9)
    assert knee.low == pytest.approx(180.0) and knee.high == pytest.approx(180.0)


def test_a_sweep_that_never_saturates_says_not_reached() -> None:
    knee = find_knee(ladder(RATES, 10_000.0), BOUND, SERVED, seed=1)
    assert knee.status == NOT_REACHED and knee.estimate is None
    assert knee.last_within == pytest.approx(RATES[-1]) and knee.first_saturated is None
    assert knee.high is None  # every resample: beyond the highest rung


def test_a_sweep_saturated_from_its_first_rung_puts_the_knee_below_it() -> None:
    knee = find_knee(ladder(RATES, 20.0), BOUND, SERVED, seed=1)
    assert knee.status == BELOW and knee.estimate is None
    assert knee.first_saturated == pytest.approx(RATES[0]) and knee.low is None


def test_the_served_share_saturates_a_rung_whose_p99_looks_fine() -> None:
    rungs = [Rung(100.0, (TrialPoint(1.0, 120.0),) * 3),
             Rung(150.0, (TrialPoint(0.80, 150.0),) * 3)]
    knee = find_knee(rungs, BOUND, SERVED)
    assert knee.status == FOUND and knee.limit == "served"
    assert 100.0 <= (knee.estimate or 0) < 150.0


@pytest.mark.parametrize(("share", "inside"), [(0.95, True), (0.9499, False), (1.0, True)])
def test_served_share_threshold(share: float, inside: bool) -> None:
    assert within([TrialPoint(share, 100.0)], BOUND, SERVED) is inside


@pytest.mark.parametrize(("p99", "inside"), [(200.0, True), (200.01, False), (199.99, True)])
def test_p99_bound_threshold(p99: float, inside: bool) -> None:
    assert within([TrialPoint(1.0, p99)], BOUND, SERVED) is inside


@pytest.mark.parametrize(("multiple", "inside"), [(2.0, True), (1.999, False)])
def test_the_bound_is_a_multiple_of_the_unloaded_latency(multiple: float, inside: bool) -> None:
    unloaded = 100.0
    assert within([TrialPoint(1.0, 200.0)], multiple * unloaded, SERVED) is inside


def test_a_rung_without_a_p99_is_judged_on_its_served_share_alone() -> None:
    assert within([TrialPoint(0.99, None)], BOUND, SERVED)
    assert not within([TrialPoint(0.90, None)], BOUND, SERVED)
    assert load_index([TrialPoint(0.95, None)], BOUND, SERVED) == pytest.approx(1.0)


def test_the_interval_is_seeded_and_covers_noisy_rungs() -> None:
    rungs = ladder(RATES, 180.0, trials=6, jitter=0.3)
    first, again = (find_knee(rungs, BOUND, SERVED, seed=9) for _ in range(2))
    assert first == again
    assert first.low is not None and first.high is not None and first.low < first.high


def test_one_trial_a_rung_gives_no_interval() -> None:
    knee = find_knee(ladder(RATES, 180.0, trials=1), BOUND, SERVED)
    assert knee.status == FOUND and (knee.low, knee.high) == (None, None)


def test_nothing_to_judge_is_refused() -> None:
    with pytest.raises(ValueError, match="no rung"):
        find_knee([Rung(100.0, ())], BOUND, SERVED)
    with pytest.raises(ValueError, match="confidence"):
        find_knee(ladder(RATES, 180.0), BOUND, SERVED, confidence=1.0)


def test_a_rung_below_without_a_p99_puts_the_knee_at_that_rung() -> None:
    rungs = [Rung(60.0, (TrialPoint(1.0, None),) * 3), Rung(90.0, (TrialPoint(1.0, 400.0),) * 3)]
    knee = find_knee(rungs, BOUND, SERVED)
    assert knee.status == FOUND and knee.estimate == 60.0 and knee.limit == "p99"
