"""The adaptive allocation on synthetic variances and costs, against hand-computed totals."""

from __future__ import annotations

import math

import pytest

from harness.analyse import stats
from harness.analyse.allocation import (
    MIN_TRIALS_TO_MEET,
    ROUND_CAP,
    Arm,
    Cell,
    fixed_equivalent,
    full_round_s,
    met,
    neyman_totals,
    relative_variance,
    round_allocation,
    totals,
)

LEVEL = 0.95


def test_neyman_puts_trials_where_the_spread_is() -> None:
    # n ~ cv / sqrt(cost): k = (0.1*1 + 0.2*1) / 0.001 = 300, so 30 and 60 trials;
    # 0.01/30 + 0.04/60 = 0.001 (equal shares would need 50 + 50 = 100 trials, not 90).
    n_s, n_b = neyman_totals(Arm(3, 0.1, 1.0), Arm(3, 0.2, 1.0), 0.001)
    assert (n_s, n_b) == pytest.approx((30.0, 60.0))


def test_neyman_spends_less_on_the_costly_arm() -> None:
    # Same spread, the stack's trial a quarter of the price: k = (0.1*0.5 + 0.1*1)/0.001 =
    # 150, n_s = 150*0.1/0.5 = 30, n_b = 150*0.1/1 = 15; and a costlier noisy arm can
    # cost its way back to equal shares (cv/sqrt(c) 0.1 both: 50 and 50).
    assert neyman_totals(Arm(3, 0.1, 0.25), Arm(3, 0.1, 1.0), 0.001) == pytest.approx((30, 15))
    assert neyman_totals(Arm(3, 0.1, 1.0), Arm(3, 0.2, 4.0), 0.001) == pytest.approx((50, 50))


def test_an_arm_above_its_share_keeps_it_and_the_other_makes_up_the_rest() -> None:
    # The free solution (30, 60) gives the stack less than its 40: the baseline then
    # needs 0.04 / (0.001 - 0.01/40) = 53.33.
    n_s, n_b = neyman_totals(Arm(40, 0.1, 1.0), Arm(3, 0.2, 1.0), 0.001)
    assert (n_s, n_b) == pytest.approx((40.0, 0.04 / 0.00075))
    assert neyman_totals(Arm(3, 0.0, 1.0), Arm(3, 0.2, 1.0), 0.001) == pytest.approx((3, 40))
    with pytest.raises(ValueError):
        neyman_totals(Arm(3, 0.0, 1.0), Arm(3, 0.0, 1.0), 0.001)


def test_totals_reach_the_target_from_the_cells_own_width() -> None:
    # Large n: Student's quantile hardly moves between now and the plan, so the totals are
    # the hand-computed Neyman ones: variance now 0.01/1000 + 0.04/1000 = 5e-5, width 0.02
    # -> target 0.01 needs 5e-5 * (0.01/0.02)**2 = 1.25e-5: k = 0.3/1.25e-5, 2400 and 4800.
    arms = {"s": Arm(1000, 0.1, 1.0), "b": Arm(1000, 0.2, 1.0)}
    need = totals(arms, [Cell("s", "b", 0.02)], 0.01, confidence=LEVEL, cap=ROUND_CAP)
    assert need["s"] == pytest.approx(2400, rel=0.003)
    assert need["b"] == pytest.approx(4800, rel=0.003)


def test_totals_plan_with_the_quantile_of_the_planned_trials() -> None:
    # Five trials a side at a family-wise level: the quantile now (about 4 degrees of
    # freedom) is far above the one the planned totals will have. Planning with today's
    # quantile would ask for several times the trials; the plan reaches the target with
    # its own quantile, on the side of a trial too many.
    level = stats.familywise_confidence(0.95, 22)
    stack, baseline = Arm(5, 0.05, 0.5), Arm(5, 0.15, 4.0)
    variance = relative_variance(stack, baseline)
    assert variance is not None
    df_now = stats.welch_df(0.05**2 / 5, 5, 0.15**2 / 5, 5)
    width = stats.t_quantile(level, df_now) * math.sqrt(variance)  # no Fieller asymmetry
    need = totals({"s": stack, "b": baseline}, [Cell("s", "b", width)], 0.10,
                  confidence=level, cap=ROUND_CAP)
    naive = neyman_totals(stack, baseline, variance * (0.10 / width) ** 2)
    assert need["b"] < 0.6 * naive[1]

    def width_at(n_s: float, n_b: float) -> float:
        df = stats.welch_df(0.05**2 / n_s, round(n_s), 0.15**2 / n_b, round(n_b))
        return stats.t_quantile(level, df) * math.sqrt(0.05**2 / n_s + 0.15**2 / n_b)

    assert width_at(need["s"], need["b"]) <= 0.10
    assert width_at(need["s"], need["b"] - 2) > 0.10  # not far over the target either


def test_a_met_cell_gets_no_trials_and_its_baseline_serves_the_open_one() -> None:
    arms = {"tight": Arm(6, 0.01, 1.0), "wide": Arm(6, 0.1, 1.0), "base": Arm(6, 0.1, 2.0)}
    cells = [Cell("tight", "base", 0.04), Cell("wide", "base", 0.3)]
    counts = round_allocation(arms, cells, 0.05, confidence=LEVEL)
    assert "tight" not in counts
    assert counts == {"wide": ROUND_CAP, "base": ROUND_CAP}
    everything_met = [Cell("tight", "base", 0.04), Cell("wide", "base", 0.05)]
    assert round_allocation(arms, everything_met, 0.05, confidence=LEVEL) == {}


def test_the_shared_baseline_takes_the_most_any_cell_asks_and_the_stacks_the_rest() -> None:
    base = Arm(10, 0.2, 1.0)
    a, b = Arm(10, 0.1, 1.0), Arm(10, 0.1, 1.0)
    arms = {"a": a, "b": b, "base": base}
    wide, narrow = Cell("a", "base", 0.30), Cell("b", "base", 0.15)
    need = totals(arms, [wide, narrow], 0.10, confidence=LEVEL, cap=ROUND_CAP)
    alone_wide = totals({"a": a, "base": base}, [wide], 0.10, confidence=LEVEL, cap=ROUND_CAP)
    alone_narrow = totals({"b": b, "base": base}, [narrow], 0.10, confidence=LEVEL,
                          cap=ROUND_CAP)
    assert need["base"] == alone_wide["base"] > alone_narrow["base"]
    assert need["a"] == alone_wide["a"]
    # Beside the larger baseline, the narrow cell's stack needs fewer than on its own.
    assert 10 <= need["b"] < alone_narrow["b"]


@pytest.mark.parametrize(("n", "trials"), [(MIN_TRIALS_TO_MEET - 1, 1), (MIN_TRIALS_TO_MEET, 0)])
def test_a_cell_within_the_target_still_needs_the_floor_of_trials(n: int, trials: int) -> None:
    arms = {"s": Arm(n, 0.001, 1.0), "b": Arm(n, 0.001, 1.0)}
    cell = Cell("s", "b", 0.01)
    assert met(cell, arms, 0.05) is (trials == 0)
    counts = round_allocation(arms, [cell], 0.05, confidence=LEVEL)
    assert counts == ({} if trials == 0 else {"s": 1, "b": 1})


@pytest.mark.parametrize(("width", "is_met"), [(0.05, True), (0.0501, False), (None, False)])
def test_the_target_holds_at_its_edge(width: float | None, is_met: bool) -> None:
    arms = {"s": Arm(8, 0.1, 1.0), "b": Arm(8, 0.1, 1.0)}
    assert met(Cell("s", "b", width), arms, 0.05) is is_met


def test_a_cell_without_an_interval_asks_for_a_full_round_cap() -> None:
    arms = {"s": Arm(7, 0.5, 1.0), "b": Arm(7, 0.5, 1.0)}
    assert totals(arms, [Cell("s", "b", None)], 0.05, confidence=LEVEL, cap=2) == {"s": 9, "b": 9}
    assert round_allocation(arms, [Cell("s", "b", None)], 0.05, confidence=LEVEL,
                            cap=2) == {"s": 2, "b": 2}
    # Below the floor the cap still bounds the round: 3 + 2 of the 6 needed.
    few = {"s": Arm(3, 0.5, 1.0), "b": Arm(3, 0.5, 1.0)}
    assert totals(few, [Cell("s", "b", None)], 0.05, confidence=LEVEL, cap=2) == {
        "s": MIN_TRIALS_TO_MEET, "b": MIN_TRIALS_TO_MEET}
    assert round_allocation(few, [Cell("s", "b", None)], 0.05, confidence=LEVEL,
                            cap=2) == {"s": 2, "b": 2}


def test_a_round_is_scaled_to_its_limit_keeping_the_proportions() -> None:
    arms = {"cheap": Arm(3, 0.5, 1.0), "dear": Arm(3, 0.5, 2.0)}
    cells = [Cell("cheap", "dear", None)]  # asks for 3 + 3 trials: 3 s + 6 s
    assert round_allocation(arms, cells, 0.05, confidence=LEVEL, limit_s=9.0) == {
        "cheap": 3, "dear": 3}
    # 4.5 s: half of each share, 1.5 and 1.5, floors 1 and 1 (3 s); the 1.5 s left buys
    # the first largest fraction that fits: a cheap trial (1 s), not a dear one (2 s).
    assert round_allocation(arms, cells, 0.05, confidence=LEVEL, limit_s=4.5) == {
        "cheap": 2, "dear": 1}
    assert round_allocation(arms, cells, 0.05, confidence=LEVEL, limit_s=0.9) == {}
    assert full_round_s(arms) == 3.0


def test_fixed_equivalent_by_hand() -> None:
    # Cell 1: variance 0.01/5 + 0.04/20 = 0.004; equal trials n give (0.01 + 0.04)/n, so
    # its width needs n = 12.5 -> 13 rounds. Cell 2: 0.04/4 + 0.04/4 = 0.02, n = 0.08/0.02 = 4.
    # The same widest width (0.2, cell 2's) needs 12.5 * (0.1/0.2)**2 = 3.1 -> 4 rounds.
    arms = {"s1": Arm(5, 0.1, 1.0), "b1": Arm(20, 0.2, 1.0),
            "s2": Arm(4, 0.2, 1.0), "b2": Arm(4, 0.2, 1.0)}
    cells = [Cell("s1", "b1", 0.1), Cell("s2", "b2", 0.2)]
    found = fixed_equivalent(arms, cells)
    assert found is not None and (found.rounds, found.rounds_widest) == (13, 4)
    assert fixed_equivalent(arms, [Cell("s1", "b1", None)]) is None


def test_arms_are_validated() -> None:
    for bad in ((-1, 0.1, 1.0), (3, -0.1, 1.0), (3, 0.1, 0.0), (3, math.nan, 1.0)):
        with pytest.raises(ValueError):
            Arm(*bad)
    with pytest.raises(ValueError):
        totals({"s": Arm(3, 0.1, 1.0)}, [], 0.0, confidence=LEVEL, cap=3)
