"""Why a run stops, and what the wall-clock budget expects: on hand-made states and a
stubbed clock."""

from __future__ import annotations

import dataclasses

import pytest

from harness.analyse.allocation import MIN_TRIALS_TO_MEET, Arm, Cell
from harness.analyse.precision import HeadlineState, stop_kind, trial_cost
from harness.config.load import config_from_dict
from harness.measure import rounds
from harness.measure.budget import Budget
from harness.measure.plan import plan_round

CONFIG = config_from_dict({
    "run": {"stacks": ["flask-gunicorn", "quart-hypercorn", "fastapi-uvicorn"], "seed": 5,
            "rounds": 3, "max_rounds": 6, "target_ci": 0.05},
    "scenarios": {"fanout": {"levels": [1, 5]}},
})
B1, B5 = ("fanout", 1, "flask-gunicorn"), ("fanout", 5, "flask-gunicorn")
S1, S5 = ("fanout", 1, "quart-hypercorn"), ("fanout", 5, "quart-hypercorn")
F1, F5 = ("fanout", 1, "fastapi-uvicorn"), ("fanout", 5, "fastapi-uvicorn")


def state(widths: tuple[float | None, ...], n: int = MIN_TRIALS_TO_MEET) -> HeadlineState:
    arms = {key: Arm(n, 0.05, 1.0) for key in (B1, B5, S1, S5, F1, F5)}
    cells = [Cell(stack, base, width) for (stack, base), width in
             zip(((S1, B1), (F1, B1), (S5, B5), (F5, B5)), widths, strict=True)]
    return HeadlineState(arms, cells, 0.9875)


def test_stop_rule() -> None:
    assert rounds.stop_decision(CONFIG, 2, None) is None  # below the minimum
    assert rounds.stop_decision(CONFIG, 3, state((0.08, 0.01, 0.01, 0.01))) is None
    assert rounds.stop_decision(CONFIG, 3, state((None, 0.01, 0.01, 0.01))) is None
    reached = rounds.stop_decision(CONFIG, 4, state((0.049, 0.01, 0.05, 0.02)))
    assert reached == ("target reached: all 4 headline intervals within ±5.0% after 4 rounds "
                       "(widest ±5.0%)")
    # Within the target, but one trial short of the floor: not yet.
    assert rounds.stop_decision(CONFIG, 4, state((0.049, 0.01, 0.05, 0.02),
                                                 n=MIN_TRIALS_TO_MEET - 1)) is None
    capped = rounds.stop_decision(CONFIG, 6, state((0.08, 0.01, 0.0501, 0.02)))
    assert capped == ("max rounds reached: 6 rounds, widest headline interval ±8.0% > target "
                      "±5.0%; 2 of 4 met it")
    fixed = dataclasses.replace(CONFIG, target_ci=0.0)
    assert rounds.stop_decision(fixed, 3, None) == "fixed rounds: 3 completed"


def test_stop_kind_is_the_reason_before_its_details() -> None:
    assert stop_kind("max rounds reached: 6 rounds, widest ...") == "max rounds reached"
    assert stop_kind("terminated (SIGHUP) during round 2") == "terminated"
    assert stop_kind("budget spent during round 4: 9m58s of 10m0s; ...") == (
        "budget spent during round 4")
    assert stop_kind("running") is None and stop_kind(None) is None


class Clock:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


def record(key: tuple[str, int, str], wall: float | None) -> dict[str, object]:
    return {"scenario": key[0], "level": key[1], "stack": key[2], "wall_s": wall}


def test_the_budget_learns_costs_from_trials_starts_and_rounds() -> None:
    clock = Clock()
    budget = Budget(60.0, clock, spent_before_s=10.0)
    assert budget.limited and budget.spent() == 10.0 and budget.left() == 50.0
    assert budget.trial_cost(B1) == 0.0 and budget.expected([B1, S1]) == 0.0  # nothing seen
    # A round: 1 s waiting for a quiet machine, then two stacks, each 2 s of start and
    # warm-up around its trials (flask: 3 s and 1 s; quart: 0.5 s).
    clock.now += 1.0
    for key, wall in ((B1, 3.0), (B1, 1.0), (S1, 0.5), (S1, None)):
        budget.observe(record(key, wall))
    budget.stack_ran(2.0 + 4.0)
    budget.stack_ran(2.0 + 0.5)
    clock.now += 8.5
    budget.round_ran()
    assert budget.trial_cost(B1) == 2.0 and budget.trial_cost(S1) == 0.5
    assert budget.trial_cost(F1) == pytest.approx(1.25)  # unseen: the mean of the arms seen
    assert budget.start_cost() == pytest.approx(2.0)
    assert budget.round_cost() == pytest.approx(1.0)
    # Round cost + 2 stacks x 2 s + 2 + 2 + 0.5 of trials.
    assert budget.expected([B1, B1, S1]) == pytest.approx(1.0 + 4.0 + 4.5)
    assert budget.spent() == pytest.approx(19.5) and budget.left() == pytest.approx(40.5)
    assert budget.fits(40.5) and not budget.fits(40.6)
    assert budget.words() == "20s of 1m0s"


def test_admission_counts_a_start_only_before_a_stack_starts() -> None:
    clock = Clock()
    budget = Budget(10.0, clock)
    trial = plan_round(CONFIG, 2)[0]
    budget.observe(record(trial.cell, 3.0))
    budget.stack_ran(5.0)  # 2 s of start beside the 3 s trial
    clock.now += 6.0  # 4 s left: a trial (3 s) fits, a start and a trial (5 s) do not
    assert budget.admits(trial, starting=False)
    assert not budget.admits(trial, starting=True)
    assert Budget(0.0, clock).admits(trial, starting=True)  # no budget: everything fits


def test_the_resumed_run_knows_the_costs_but_not_the_time_of_its_earlier_part() -> None:
    clock = Clock()
    budget = Budget(100.0, clock, spent_before_s=30.0)
    budget.seen([record(B1, 4.0), record(B1, 2.0), record(S1, "x")])
    assert budget.trial_cost(B1) == 3.0 and budget.trial_s == 0.0
    assert budget.spent() == 30.0


def test_recorded_plans_rebuild_their_rounds() -> None:
    adaptive = dataclasses.replace(CONFIG, allocation="adaptive")
    allocation = {rounds.PLANS: {"4": rounds.plan_entries({S5: 2, B5: 1})}}
    assert rounds.plan_entries({S5: 2, B5: 1}) == [["fanout", 5, "flask-gunicorn", 1],
                                                    ["fanout", 5, "quart-hypercorn", 2]]
    assert rounds.recorded_plan(adaptive, allocation, 3, 0) == plan_round(adaptive, 3, 0)
    fourth = rounds.recorded_plan(adaptive, allocation, 4, 18)
    assert fourth is not None
    assert sorted(t.trial_id for t in fourth) == ["r004-flask-gunicorn-fanout-5",
                                                   "r004-quart-hypercorn-fanout-5",
                                                   "r004-quart-hypercorn-fanout-5-t2"]
    assert rounds.recorded_plan(adaptive, allocation, 5, 21) is None  # to be planned
    assert rounds.recorded_plan(CONFIG, allocation, 5, 0) == plan_round(CONFIG, 5, 0)


def test_a_trial_costs_its_elapsed_time_else_its_load() -> None:
    assert trial_cost({"elapsed_s": 0.4, "wall_s": 0.1}) == 0.4
    assert trial_cost({"wall_s": 0.1}) == 0.1  # a record from before elapsed_s
    assert trial_cost({"elapsed_s": None, "wall_s": None}) is None
    assert trial_cost({"elapsed_s": True, "wall_s": 0.2}) == 0.2
    budget = Budget(0.0, Clock())
    budget.observe({**record(B1, 0.1), "elapsed_s": 0.3})
    assert budget.trial_cost(B1) == 0.3 and budget.trial_s == 0.3
