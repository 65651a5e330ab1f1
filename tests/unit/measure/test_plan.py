"""The trial plan: a pure function of the config, the seed and (adaptive rounds) the counts."""

from __future__ import annotations

import dataclasses

from harness.config.load import config_from_dict
from harness.measure.plan import plan_cells, plan_round, stack_order, trials_per_round

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


def test_counts_of_one_give_the_full_rounds_order() -> None:
    every = {t.cell: 1 for t in plan_round(CONFIG, 4)}
    assert plan_cells(CONFIG, 4, 0, every) == plan_round(CONFIG, 4)


def test_adaptive_round_runs_only_the_counted_cells_with_unique_stable_ids() -> None:
    counts = {("clients", 20, "flask-gunicorn"): 3, ("clients", 20, "quart-hypercorn"): 1,
              ("fanout", 10, "fastapi-uvicorn"): 2}
    trials = plan_cells(CONFIG, 5, 40, counts)
    assert sorted(t.trial_id for t in trials) == sorted([
        "r005-flask-gunicorn-clients-20", "r005-flask-gunicorn-clients-20-t2",
        "r005-flask-gunicorn-clients-20-t3", "r005-quart-hypercorn-clients-20",
        "r005-fastapi-uvicorn-fanout-10", "r005-fastapi-uvicorn-fanout-10-t2"])
    assert [t.order for t in trials] == list(range(40, 46))
    assert trials == plan_cells(CONFIG, 5, 40, dict(reversed(counts.items())))  # seeded
    stacks = [t.stack for t in trials]  # a stack's trials run together, stacks in seeded order
    assert stacks == sorted(stacks, key=stacks.index)
    assert list(dict.fromkeys(stacks)) == [s for s in stack_order(CONFIG, 5) if s in stacks]
    flask = [t.repeat for t in trials if t.stack == "flask-gunicorn"]
    assert flask == [1, 2, 3]  # the repeats are numbered in the order they run
    assert plan_cells(CONFIG, 5, 0, {}) == []
