"""A tiny capacity sweep against real servers on 127.0.0.1: the ladder climbs until the
stack saturates, its rungs line up across rounds, Flask's knee lies between the rungs
around its slots' bound, the report has its Capacity section, and nothing is left running.
Also: a load generator whose own pool holds back requests is caught.

The sweep's mechanics are tested here, not its figures: the instrument's limits are
relaxed so that a shared machine's noise does not turn the climb's trials invalid."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from harness.analyse.summary import summarise
from harness.config.load import config_from_dict
from harness.config.schema import Config
from harness.loadgen.drivers import HeldBack, client_session, run_clients
from harness.measure.runner import SilentProgress, start_run
from harness.report.render import render_run_report
from harness.rundir.reader import load_run
from harness.targets.local import running_upstream
from tests.procs import living_children

FLASK, QUART = "flask-gunicorn", "quart-hypercorn"
RELAXED = {"foreign_cpu_max": 64, "loadgen_wait_max": 1.0, "loadgen_cpu_max": 1.0,
           "send_lag_p99_max_ms": 10_000, "upstream_overshoot_p99_max_ms": 10_000,
           "upstream_loop_lag_max_ms": 10_000}


def sweep_config() -> Config:
    # Flask on 1 worker x 2 threads at 20 ms, with the ladder's 5 ms of CPU per request:
    # 2 slots / 25 ms = 80 req/s by the model, so rungs of 40, 80, 160 and 320 req/s; its
    # two threads cannot serve more than 100 req/s.
    return config_from_dict({
        "run": {"stacks": [FLASK, QUART], "baseline": FLASK, "rounds": 2, "seed": 9,
                "delay_ms": 20, "warmup_requests": 5, "request_timeout_s": 5,
                "quiet_wait_s": 0},
        "scenarios": {"capacity": {"duration_s": 1.0, "max_duration_s": 2.0, "step": 2.0,
                                   "start": 0.5, "max_steps": 4, "p99_multiple": 10,
                                   "cpu_ms_per_request": 5}},
        "stacks": {FLASK: {"workers": 1, "threads": 2}, QUART: {"workers": 1}},
        "limits": RELAXED,
    })


def test_a_tiny_capacity_sweep(tmp_path: Path) -> None:
    config = sweep_config()
    ladder = config.scenario("capacity").ladder
    outcome = start_run(config, tmp_path, SilentProgress(), argv=[])
    records = [json.loads(line) for line in
               (outcome.run_dir / "trials.jsonl").read_text().splitlines()]
    records = [r for r in records if not r.get("retried")]
    assert records and {r["scenario"] for r in records} == {"capacity"}
    rungs: dict[tuple[str, int], set[int]] = {}
    for r in records:
        assert r["status"] in ("ok", "invalid"), r["error"]
        params = r["params"]
        assert r["level"] == params["rate_rps"] == ladder.rate(params["anchor_rps"],
                                                                params["rung"])
        assert params["duration_s"] == min(2.0, max(1.0, 1000 / params["rate_rps"]))
        rungs.setdefault((r["stack"], r["round"]), set()).add(params["rung"])
        assert "little" in r["checks"]
    for stack in (FLASK, QUART):
        assert rungs[(stack, 1)] <= rungs[(stack, 2)], rungs  # round 2 covers round 1
    assert sorted(rungs[(FLASK, 1)])[0] == 0  # the first round starts at rung 0
    assert len({r["order"] for r in records}) == len(records)

    summary = summarise(load_run(outcome.run_dir))
    flask = next(row for row in summary["capacity"] if row["stack"] == FLASK)
    assert flask["bound_ms"] == 200.0
    knee: dict[str, Any] = flask["knee"]
    # 160 req/s is beyond 2 slots at 20 ms: Flask saturates by then, and never below 40.
    assert knee["status"] == "found", flask["rungs"]
    assert 40 <= knee["estimate"] < 160 and knee["first_saturated"] <= 160
    assert flask["sentence"].startswith("flask-gunicorn gthread 1x2 keeps p99 under 10x")

    paths = render_run_report(outcome.run_dir)
    report = next(p for p in paths if p.name == "report.md").read_text()
    # Rungs of 2 s hold fewer than the 1,000 answers a p99 needs: judged on their served
    # rate, listed without a p99 (so no hockey stick is drawn from them).
    assert "## Capacity" in report and "- flask-gunicorn gthread 1x2 keeps" in report
    assert all(rung["p99_ms"] is None for rung in flask["rungs"])
    assert living_children() == []


def test_a_generator_holding_requests_back_is_caught() -> None:
    async def burst(pool: int) -> tuple[int, int]:
        held = HeldBack()
        async with client_session(pool, held=held) as session:
            result = await run_clients(session, f"{upstream.base_url}/delay?ms=50", 20, 10.0,
                                       calls_field=None)
        return held.count, result.counts()["ok"]

    with running_upstream() as upstream:
        assert asyncio.run(burst(20)) == (0, 20)  # a pool sized for the load
        waited, ok = asyncio.run(burst(4))
        assert ok == 20 and waited >= 16  # 16 of 20 waited for one of 4 connections
    assert living_children() == []


def test_the_sweep_runs_on_locust_workers(tmp_path: Path) -> None:
    """The same climb with its rungs dealt to two Locust workers, and a clients level whose
    burst the workers share: every rung an open-loop trial of the workers, merged exactly,
    and no request held back by a worker's own pool."""
    config = config_from_dict({
        "run": {"stacks": [FLASK], "baseline": FLASK, "rounds": 1, "seed": 4, "delay_ms": 20,
                "warmup_requests": 4, "request_timeout_s": 5, "quiet_wait_s": 0},
        "scenarios": {"clients": {"levels": [40]},
                      "capacity": {"duration_s": 1.0, "max_duration_s": 1.0, "step": 2.0,
                                   "start": 0.5, "max_steps": 3, "p99_multiple": 10,
                                   "cpu_ms_per_request": 5}},
        "stacks": {FLASK: {"workers": 1, "threads": 2}},
        "loadgen": {"engine": "locust", "workers": 2},
        "limits": RELAXED,
    })
    outcome = start_run(config, tmp_path, SilentProgress(), argv=[])
    records = [r for r in map(json.loads,
                              (outcome.run_dir / "trials.jsonl").read_text().splitlines())
               if not r.get("retried")]
    rungs = [r for r in records if r["scenario"] == "capacity"]
    assert [r["level"] for r in rungs][:2] == [40, 80]  # the same ladder as on one process
    for r in records:
        assert r["status"] == "ok" or not str(r["error"]).startswith("worker"), r["error"]
        assert len(r["checks"]["workers"]) == 2
    for r in rungs:
        assert r["params"]["processes"] == 2 and r["checks"]["loadgen_processes"] == 2
        assert r["requests"]["total"] == r["level"]  # 1 s of sends, dealt to both workers
    [clients] = [r for r in records if r["scenario"] == "clients"]
    assert clients["checks"]["held_back"] == 0 and clients["requests"]["total"] == 40
    assert living_children() == []
