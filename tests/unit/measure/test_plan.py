"""The trial plan and the stopping rule: pure functions of the config and the seed."""

from __future__ import annotations

import dataclasses

from harness.config.load import config_from_dict
from harness.measure.plan import plan_round, stack_order, trials_per_round
from harness.measure.runner import stop_decision

CONFIG = config_from_dict({
    "run": {"stacks": ["flask-gunicorn", "quart-hypercorn", "fastapi-uvicorn"], "seed": 5,
            "rounds": 3, "max_rounds": 6, "target_ci": 0.05},
    "scenarios": {"fanout": {"levels": [1, 5, 10]}, "clients": {"levels": [1, 20]}},
})


def test_round_holds_every_cell_once_with_unique_ids() -> None:
    trials = plan_round(CONFIG, 1)
    assert len(trials) == trials_per_round(CONFIG) == 3 * 5
    assert len({t.trial_id for t in trials}) == len(trials)
    assert [t.order for t in trials] == list(range(15))
    cells = {(t.stack, t.scenario, t.level) for t in trials}
    assert len(cells) == 15
    # a stack's trials run together (one fresh start per stack per round)
    stacks = [t.stack for t in trials]
    assert stacks == sorted(stacks, key=stacks.index)


def test_order_is_seeded_and_varies_between_rounds() -> None:
    assert plan_round(CONFIG, 2) == plan_round(CONFIG, 2)
    orders = {tuple(stack_order(CONFIG, r)) for r in range(1, 20)}
    assert len(orders) > 1
    levels = {tuple((t.scenario, t.level) for t in plan_round(CONFIG, r)[:5]) for r in range(1, 20)}
    assert len(levels) > 1
    other = dataclasses.replace(CONFIG, seed=6)
    assert [t.trial_id for t in plan_round(other, 1)] != [t.trial_id for t in plan_round(CONFIG, 1)]


def test_params_rebuild_the_requests() -> None:
    by_id = {t.trial_id: t for t in plan_round(CONFIG, 1, first_order=30)}
    fan = by_id["r001-flask-gunicorn-fanout-10"]
    assert fan.params == {"n": 10, "delay_ms": 100, "cpu_ms": 0, "timeout_s": 60.0}
    assert fan.order >= 30
    cli = by_id["r001-quart-hypercorn-clients-20"]
    assert cli.params == {"clients": 20, "delay_ms": 100, "cpu_ms": 0, "timeout_s": 60.0,
                          "arrival": {"mode": "bursts", "bursts": 1, "gap_ms": 0,
                                      "connection": "keep-alive", "ramp_ms": 0}}


def test_stop_rule() -> None:
    assert stop_decision(CONFIG, 2, None, 0) is None  # below the minimum
    assert stop_decision(CONFIG, 3, 0.08, 4) is None  # too wide: add a round
    assert stop_decision(CONFIG, 3, None, 0) is None  # undefined: add a round
    reached = stop_decision(CONFIG, 4, 0.049, 4)
    assert reached == ("target reached: all 4 headline intervals within ±5.0% after 4 rounds "
                       "(widest ±4.9%)")
    capped = stop_decision(CONFIG, 6, 0.08, 4)
    assert capped == "max rounds reached: 6 rounds, widest headline interval ±8.0% > target ±5.0%"
    fixed = dataclasses.replace(CONFIG, target_ci=0.0)
    assert stop_decision(fixed, 3, None, 0) == "fixed rounds: 3 completed"
