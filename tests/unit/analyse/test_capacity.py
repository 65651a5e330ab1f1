"""Capacity in the summary: the knee per stack from capacity records, its sentence, and a
rate level a stack could not carry as the verdict "saturated" instead of "insufficient
data"."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.analyse.capacity import capacity_rows, saturated_cells, stack_words, trial_point
from harness.analyse.cells import group_ok
from harness.analyse.summary import summarise
from harness.config.catalogue import BUILTIN_STACKS
from harness.config.ladder import Ladder
from harness.rundir.reader import load_run
from tests.unit.analyse.test_summary import ASYNC, BASE, CONFIG, record, write_run

LADDER = Ladder(step=1.5, start=0.5, p99_multiple=2.0)
CAPACITY_CONFIG: dict[str, Any] = {
    **CONFIG, "scenarios": {"capacity": {"levels": [], "duration_s": 2.0,
                                         "ladder": LADDER.resolved()}}}


def open_loop(scenario: str, stack: str, rate: int, round_: int, served: float,
              p99: float | None, *, timed_out: float = 0.0, total: int = 2000,
              rung: int = 0) -> dict[str, Any]:
    """An ok open-loop record: ``served`` share of ``rate`` answered, ``timed_out`` of the
    requests without an answer, a p99 (None: left out, as the tally leaves it)."""
    metrics = {"achieved_rps": served * rate}
    if p99 is not None:
        metrics["p99_ms"] = p99
    trial = record(f"r{round_:03d}-{stack}-{scenario}-{rate}", scenario, stack, rate, metrics,
                   round_=round_)
    timeouts = round(timed_out * total)
    trial["requests"].update(total=total, ok=total - timeouts, timeout=timeouts)
    trial["latency_ms"]["p99"] = p99
    trial["params"] = {"delay_ms": 100, "cpu_ms": 0, "rate_rps": rate, "duration_s": 2.0,
                       "timeout_s": 10.0, "rung": rung}
    trial["checks"] = {"server_cpus": [1]}
    return trial


def sweep(stack: str, p99s: dict[int, float], rounds: int = 3) -> list[dict[str, Any]]:
    """Capacity records of ``stack``: each rate's p99 in every round, +-2% from round to
    round, every request answered."""
    return [open_loop("capacity", stack, rate, r, 1.0, p99 * (1 + 0.02 * (r - 1)), rung=j)
            for r in range(1, rounds + 1) for j, (rate, p99) in enumerate(p99s.items())]


def test_a_censored_p99_counts_as_the_timeout_and_a_missing_one_as_unknown() -> None:
    saturated = open_loop("capacity", BASE, 400, 1, 0.2, None, timed_out=0.6)
    point = trial_point(saturated)
    assert point is not None and point.p99_ms == 10_000.0 and point.served_share == 0.2
    few = open_loop("capacity", BASE, 40, 1, 1.0, None, total=160)  # p99 needs 1,000
    point = trial_point(few)
    assert point is not None and point.p99_ms is None and point.served_share == 1.0


def test_the_knee_of_each_stack_with_its_sentence() -> None:
    trials = (sweep(BASE, {40: 110.0, 60: 150.0, 90: 900.0})
              + sweep(ASYNC, {500: 105.0, 750: 110.0, 1125: 120.0}))
    warnings: list[str] = []
    rows = {r["stack"]: r for r in capacity_rows(trials, CAPACITY_CONFIG, 0.95, 7, warnings)}
    assert warnings == []
    base = rows[BASE]
    assert base["bound_ms"] == 200.0 and base["unloaded_ms"] == 100.0 and base["cpus"] == 1
    assert base["knee"]["status"] == "found"
    assert 60.0 < base["knee"]["estimate"] < 90.0
    assert base["knee"]["low"] <= base["knee"]["estimate"] <= base["knee"]["high"]
    assert base["label"] == "flask-gunicorn gthread 2x4"
    assert base["sentence"].startswith("flask-gunicorn gthread 2x4 keeps p99 under 2x the "
                                       "unloaded latency (100 ms)")
    assert " on one CPU " in base["sentence"] and "its p99 rose above the bound" in base["sentence"]
    assert [g["within"] for g in base["rungs"]] == [True, True, False]
    top = rows[ASYNC]
    assert top["knee"]["status"] == "not reached" and top["knee"]["last_within"] == 1125.0
    assert "its knee was not reached" in top["sentence"]


def test_no_capacity_trials_no_rows_and_no_ladder_a_warning() -> None:
    assert capacity_rows([], CAPACITY_CONFIG, 0.95, 1, []) == []
    warnings: list[str] = []
    assert capacity_rows(sweep(BASE, {40: 110.0}), CONFIG, 0.95, 1, warnings) == []
    assert "no knee" in warnings[0]


@pytest.mark.parametrize(("served", "saturated"), [(0.95, False), (0.949, True)])
def test_a_rate_level_is_saturated_below_95_percent_served(served: float,
                                                           saturated: bool) -> None:
    trials = [open_loop("rate", BASE, 400, r, served, 150.0) for r in (1, 2)]
    found = saturated_cells(group_ok(trials))
    assert (("rate", 400, BASE) in found) is saturated


def test_saturation_is_a_verdict_not_missing_data(tmp_path: Path) -> None:
    # Flask at 400 req/s served 80 (20%), 60% of its requests timed out; Quart carried it.
    trials = [open_loop("rate", BASE, 400, r, 0.17 + 0.01 * r, None, timed_out=0.6)
              for r in range(1, 6)]
    trials += [open_loop("rate", ASYNC, 400, r, 1.0 - 0.001 * r, 105.0 + r) for r in range(1, 6)]
    summary = summarise(load_run(write_run(tmp_path / "run", trials)))
    p99 = next(sp for sp in summary["speedups"] if sp["metric"] == "p99_ms")
    assert p99["verdict"] == "saturated"
    assert p99["verdict_why"] == ("flask-gunicorn cannot carry 400 req/s: it served 80 req/s "
                                  "(20% of offered) and 60% of its requests timed out "
                                  "(5 trials)")
    served = next(sp for sp in summary["speedups"] if sp["metric"] == "achieved_rps")
    assert served["verdict"] == "faster"  # the served rates compare as ever
    headline = next(h for h in summary["headlines"] if h["scenario"] == "rate")
    assert "saturated" in headline["sentence"] and "cannot carry 400 req/s" in headline["sentence"]


def test_hostile_records_and_config_never_break_the_summary(tmp_path: Path) -> None:
    junk = sweep(BASE, {40: 110.0, 60: 150.0})
    junk[0]["params"] = "rate"
    junk[1]["metrics"] = {"achieved_rps": "fast"}
    junk[2]["requests"] = ["total"]
    junk[3]["checks"] = {"server_cpus": "all"}
    junk[4]["params"] = {"delay_ms": "slow", "rate_rps": -5, "rung": "x"}
    junk[5]["latency_ms"] = None
    config = {**CAPACITY_CONFIG, "stacks": ["not", "a", "table"]}
    summary = summarise(load_run(write_run(tmp_path / "run", junk, config=config)))
    assert isinstance(summary["capacity"], list)
    broken = {**CAPACITY_CONFIG, "scenarios": ["capacity"]}
    summary = summarise(load_run(write_run(tmp_path / "other", junk, config=broken)))
    assert summary["capacity"] == [] and any("no knee" in w for w in summary["warnings"])


@pytest.mark.parametrize(("name", "words"), [
    ("flask-gunicorn", "flask-gunicorn gthread 4x2"),
    ("flask-granian", "flask-granian wsgi 4x2"),      # Granian's blocking threads: slots too
    ("flask-gunicorn-gevent", "flask-gunicorn-gevent"),
    ("quart-granian", "quart-granian"),
    ("quart-hypercorn", "quart-hypercorn"),
])
def test_a_stack_with_worker_slots_is_named_with_them(name: str, words: str) -> None:
    assert stack_words(name, BUILTIN_STACKS[name]) == words
    assert stack_words(name, None) == name
