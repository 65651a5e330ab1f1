"""The capacity sweep's climb: a deterministic ladder anchored at the model's estimate,
rungs that line up across rounds, up until saturated, down when even the first is, and
never more than max_steps a round."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.config.load import config_from_dict
from harness.measure import rounds
from harness.measure.climb import Climb, anchor_rps, judge, lowest_rung, next_rung
from harness.measure.plan import order_slots, plan_round, trials_per_round
from harness.measure.resume import resume_point
from harness.measure.trial import failed_record


def config(**ladder: Any) -> Any:
    return config_from_dict({
        "run": {"stacks": ["flask-gunicorn", "quart-hypercorn"], "delay_ms": 100, "seed": 3},
        "scenarios": {"clients": {"levels": [1, 10]},
                      "capacity": {"duration_s": 2.0, "max_duration_s": 10.0, **ladder}},
    })


def test_the_anchor_is_the_models_estimate() -> None:
    cfg = config()
    # gthread 4 x 2: 8 slots, each holding a request for 100 ms + 1 ms of CPU.
    assert anchor_rps(cfg, cfg.stack("flask-gunicorn"), 1) == pytest.approx(8 / 0.101)
    # An event loop: its CPUs (at most one per worker) over 1 ms of CPU per request.
    assert anchor_rps(cfg, cfg.stack("quart-hypercorn"), 1) == pytest.approx(1000.0)
    assert anchor_rps(cfg, cfg.stack("quart-hypercorn"), 2) == pytest.approx(2000.0)
    assert anchor_rps(cfg, cfg.stack("quart-hypercorn"), 64) == pytest.approx(4000.0)


def test_rungs_are_the_same_rates_in_every_round() -> None:
    ladder = config().scenario("capacity").ladder
    assert [ladder.rate(1000.0, j) for j in (-2, -1, 0, 1, 2)] == [222, 333, 500, 750, 1125]
    # Consecutive rungs stay distinct after rounding: never below 1 / (step - 1) req/s.
    low = lowest_rung(ladder, 3.0)
    rates = [ladder.rate(3.0, j) for j in range(low, low + 6)]
    assert len(set(rates)) == len(rates) and rates[0] >= 2


def test_a_round_climbs_until_a_rung_saturates() -> None:
    states: dict[int, bool | None] = {}
    assert next_rung(states, set(), 8, -10) == 0
    states[0] = False
    assert next_rung(states, set(), 8, -10) == 1
    states[1] = False
    assert next_rung(states, set(), 8, -10) == 2
    states[2] = True
    assert next_rung(states, set(), 8, -10) is None


def test_a_stack_saturated_at_its_first_rung_steps_down() -> None:
    states: dict[int, bool | None] = {0: True}
    assert next_rung(states, set(), 8, -10) == -1
    states[-1] = True
    assert next_rung(states, set(), 8, -10) == -2
    states[-2] = False
    assert next_rung(states, set(), 8, -10) is None  # -2 within, -1 and 0 beyond


def test_later_rounds_cover_every_rung_an_earlier_round_ran() -> None:
    earlier = {-1, 0, 1, 2}
    states: dict[int, bool | None] = {}
    assert next_rung(states, earlier, 8, -10) == -1
    states.update({-1: False, 0: True})  # saturated early this round: go on to rung 2 anyway
    assert next_rung(states, earlier, 8, -10) == 1
    states[1] = True
    assert next_rung(states, earlier, 8, -10) == 2
    states[2] = True
    assert next_rung(states, earlier, 8, -10) is None


def test_an_unjudged_rung_does_not_stop_the_climb_and_max_steps_does() -> None:
    assert next_rung({0: False, 1: None}, set(), 8, -10) == 2
    assert next_rung({0: False, 1: False, 2: False}, set(), 3, -10) is None  # not reached


def test_the_descent_stops_at_the_lowest_rung() -> None:
    assert next_rung({-3: True}, set(), 8, -3) is None


def capacity_record(round_: int, rung: int, rate: int, served: float, p99: float | None,
                    status: str = "ok") -> dict[str, Any]:
    metrics = {"achieved_rps": served * rate} | ({"p99_ms": p99} if p99 is not None else {})
    return {"scenario": "capacity", "stack": "quart-hypercorn", "round": round_,
            "status": status, "level": rate, "metrics": metrics,
            "requests": {"total": 2000, "ok": 2000, "timeout": 0},
            "latency_ms": {"p99": p99},
            "params": {"rung": rung, "rate_rps": rate, "delay_ms": 100, "cpu_ms": 0,
                       "timeout_s": 10.0}}


@pytest.mark.parametrize(("served", "p99", "status", "saturated"), [
    (1.0, 200.0, "ok", False), (1.0, 200.1, "ok", True), (0.95, 150.0, "ok", False),
    (0.949, 150.0, "ok", True), (1.0, 150.0, "failed", True), (1.0, 150.0, "invalid", None),
])
def test_a_rung_is_judged_by_its_trial(served: float, p99: float, status: str,
                                       saturated: bool | None) -> None:
    ladder = config().scenario("capacity").ladder
    assert judge(capacity_record(1, 0, 500, served, p99, status), ladder) is saturated


def test_the_climb_plans_trials_from_what_was_measured() -> None:
    cfg = config()
    climb = Climb(cfg, "quart-hypercorn", 1000.0)
    first = climb.next_trial(1, 100)
    assert first is not None
    assert (first.trial_id, first.order, first.level) == ("r001-quart-hypercorn-capacity-500",
                                                          100, 500)
    assert first.params["rung"] == 0 and first.params["anchor_rps"] == 1000.0
    assert first.params["duration_s"] == 2.0  # 500 req/s x 2 s holds the 1,000 a p99 needs
    climb.observe(capacity_record(1, 0, 500, 1.0, 120.0))
    second = climb.next_trial(1, 100)
    assert second is not None and second.level == 750 and second.order == 101
    climb.observe(capacity_record(1, 1, 750, 0.8, 900.0))
    assert climb.next_trial(1, 100) is None
    # Round 2 runs rungs 0 and 1 again, whatever it finds on the way.
    again = climb.next_trial(2, 200)
    assert again is not None and again.level == 500 and again.round == 2


def test_a_retried_or_foreign_record_is_not_taken_into_account() -> None:
    climb = Climb(config(), "quart-hypercorn", 1000.0)
    climb.observe({**capacity_record(1, 0, 500, 1.0, 120.0), "retried": True})
    climb.observe({**capacity_record(1, 0, 500, 1.0, 120.0), "stack": "flask-gunicorn"})
    assert climb.rounds == {}


def test_low_rungs_run_longer_to_hold_enough_answers_for_a_p99() -> None:
    climb = Climb(config(), "flask-gunicorn", 79.2)
    trial = climb.next_trial(1, 0)
    assert trial is not None and trial.level == 40
    assert trial.params["duration_s"] == 10.0  # 1,000 / 40 = 25 s, capped at max_duration_s


def test_capacity_trials_are_not_in_the_shuffled_plan_but_have_reserved_orders() -> None:
    cfg = config(max_steps=5)
    assert {t.scenario for t in plan_round(cfg, 1)} == {"clients"}
    assert trials_per_round(cfg) == 4
    assert order_slots(cfg) == 4 + 2 * 5


def test_a_capacity_sweep_alone_resumes_after_its_last_complete_round(tmp_path: Path) -> None:
    cfg = config_from_dict({"run": {"stacks": ["quart-hypercorn"],
                                    "baseline": "quart-hypercorn", "rounds": 4},
                            "scenarios": {"capacity": {}}})
    manifest = {"run_id": "r", "seed": 1, "config": cfg.resolved(), "rounds_completed": 2,
                "stop_reason": "interrupted"}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    record = {**capacity_record(3, 0, 500, 1.0, 120.0), "trial_id": "r003-x", "schema_version": 1}
    (tmp_path / "trials.jsonl").write_text(json.dumps(record) + "\n")
    point = resume_point(tmp_path)
    assert (point.start_round, point.rounds_done) == (3, 2)
    assert point.done_ids == {"r003-x"}


def test_full_rounds_reserve_the_climbs_orders_and_adaptive_rounds_do_not() -> None:
    cfg = config_from_dict({
        "run": {"stacks": ["flask-gunicorn", "quart-hypercorn"], "delay_ms": 100, "seed": 3,
                "allocation": "adaptive", "rounds": 2, "max_rounds": 5, "target_ci": 0.1},
        "scenarios": {"clients": {"levels": [1, 10]}, "capacity": {"max_steps": 5}}})
    planned = plan_round(cfg, 2)
    assert rounds.orders_taken(cfg, 2, planned) == 4 + 2 * 5 == order_slots(cfg)
    assert rounds.orders_taken(cfg, 3, planned[:3]) == 3      # adaptive: no climb


def test_a_resumed_run_goes_on_after_the_orders_its_full_rounds_took(tmp_path: Path) -> None:
    cfg = config(max_steps=5)
    done = [t for r in (1, 2) for t in plan_round(cfg, r, (r - 1) * order_slots(cfg))]
    manifest = {"run_id": "r", "seed": 3, "config": cfg.resolved(), "rounds_completed": 2,
                "stop_reason": "interrupted"}
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    lines = [json.dumps(failed_record("r", t, "stopped")) for t in done]
    (tmp_path / "trials.jsonl").write_text("\n".join(lines) + "\n")
    point = resume_point(tmp_path)
    assert (point.start_round, point.rounds_done) == (3, 2)
    assert point.first_order == 2 * order_slots(cfg) == 28
