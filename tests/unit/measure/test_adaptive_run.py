"""The runner's rounds under the adaptive allocation and the budget, without servers: a
stand-in for ``run_stack_trials`` writes records whose values and costs are drawn from
each arm's spread, and moves a stubbed clock by what each start and trial costs."""

from __future__ import annotations

import dataclasses
import json
import math
import random
from pathlib import Path
from typing import Any

import pytest

from harness.analyse.allocation import MIN_TRIALS_TO_MEET
from harness.analyse.summary import summarise
from harness.config.load import config_from_dict
from harness.config.schema import Config, StackSpec
from harness.errors import RunDirError
from harness.measure import rerun
from harness.measure.plan import PlannedTrial
from harness.measure.progress import Progress, SilentProgress
from harness.measure.resume import recorded_config, resume_point
from harness.measure.runner import (
    GIVEN_UP_KEY,
    RETRY_FLAG,
    START_ATTEMPTS,
    BudgetSpent,
    execute,
)
from harness.measure.trial import base_record, failed_record
from harness.report.precision import render_precision
from harness.report.render import render_html, render_markdown
from harness.rundir.reader import load_run
from harness.rundir.writer import TrialWriter

START_S = 0.5  # what starting a stack costs on the stubbed clock
# (cv, cost = duration in s) of each arm: at N = 1 every arm is tight; at N = 10 the
# baseline is noisy and slow, the two others tight and fast.
ARMS = {("fanout", 1, "flask-gunicorn"): (0.001, 0.1),
        ("fanout", 1, "quart-hypercorn"): (0.001, 0.1),
        ("fanout", 1, "fastapi-uvicorn"): (0.001, 0.1),
        ("fanout", 10, "flask-gunicorn"): (0.2, 1.0),
        ("fanout", 10, "quart-hypercorn"): (0.02, 0.1),
        ("fanout", 10, "fastapi-uvicorn"): (0.03, 0.1)}


def make_config(**run: Any) -> Config:
    return config_from_dict({
        "run": {"stacks": ["flask-gunicorn", "quart-hypercorn", "fastapi-uvicorn"],
                "seed": 9, "allocation": "adaptive", "min_rounds": 3, "max_rounds": 40,
                "target_ci": 0.1, "quiet_wait_s": 0, "placement": "none",
                "warmup_requests": 0, **run},
        "scenarios": {"fanout": {"levels": [1, 10]}},
    })


class Clock:
    """A stubbed monotonic clock that only moves when told."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Stacks:
    """Stands in for ``run_stack_trials``: asks ``admit`` as it does, writes one record per
    trial (its duration drawn from the arm's spread, seeded by the trial id), and moves
    the clock by a start and by each trial's duration. ``stop_after`` trials it raises
    KeyboardInterrupt, as Ctrl-C would."""

    def __init__(self, clock: Clock, stop_after: int | None = None,
                 broken: tuple[str, int] | None = None) -> None:
        self.clock = clock
        self.stop_after = stop_after
        self.broken = broken  # (stack, first round): from then on it never starts
        self.ran = 0
        self.starts = 0
        self.asked: list[tuple[int, str]] = []  # (round, stack) of every call

    def __call__(self, config: Config, spec: StackSpec, trials: list[PlannedTrial],
                 run_id: str, writer: TrialWriter, progress: Progress, *args: Any,
                 admit: Any, **where: Any) -> tuple[int, str | None]:
        if not admit(trials[0], True):
            raise BudgetSpent(trials[0])
        self.asked.append((trials[0].round, spec.name))
        if self.broken and spec.name == self.broken[0] and trials[0].round >= self.broken[1]:
            # As run_stack_trials does: the first failed start fails one trial, the
            # START_ATTEMPTS-th the round's others (args[4]: failed starts in a row before).
            in_a_row = args[4]
            for i, trial in enumerate(trials):
                in_a_row = min(in_a_row + 1, START_ATTEMPTS) if i < START_ATTEMPTS else in_a_row
                record = failed_record(run_id, trial, f"{spec.name} exited with code 1")
                writer.write(record)
                progress.advance(record)
            return in_a_row, f"{spec.name} exited with code 1"
        self.starts += 1
        self.clock.now += START_S
        for i, trial in enumerate(trials):
            if i and not admit(trial, False):
                raise BudgetSpent(trial)
            if self.stop_after is not None and self.ran >= self.stop_after:
                raise KeyboardInterrupt
            cv, mean = ARMS[trial.cell]
            sigma = math.sqrt(math.log1p(cv**2))
            duration = random.Random(trial.trial_id).lognormvariate(
                math.log(mean) - sigma**2 / 2, sigma)
            record = base_record(run_id, trial)
            record.update(status="ok", error=None, requests={"ok": 1, "total": 1},
                          latency_ms=None, hdr=None, checks=None, resources=None,
                          metrics={"duration_s": duration, "calls_per_s": trial.level / duration},
                          wall_s=duration)
            self.clock.now += duration
            writer.write(record)
            progress.advance(record)
            self.ran += 1
        return 0, None


def new_run(tmp_path: Path, config: Config, name: str = "run") -> Path:
    run_dir = tmp_path / name
    run_dir.mkdir()
    manifest = {"run_id": name, "seed": config.seed, "config": config.resolved(),
                "stop_reason": "running", "rounds_completed": 0}
    (run_dir / "manifest.json").write_text(json.dumps(manifest))
    (run_dir / "trials.jsonl").write_text("")
    return run_dir


def records(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]


def manifest(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "manifest.json").read_text())


def test_converged_cells_get_no_trials_and_the_noisy_arm_gets_the_most(tmp_path: Path) -> None:
    config = make_config()
    run_dir = new_run(tmp_path, config)
    clock = Clock()
    outcome = execute(config, run_dir, SilentProgress(), clock=clock, run_stack=Stacks(clock))
    assert outcome.stop_reason.startswith("target reached: all 4 headline intervals within "
                                          "±10.0% after ")
    done = records(run_dir)
    assert len({r["trial_id"] for r in done}) == len(done)
    per_arm = {key: sum((r["scenario"], r["level"], r["stack"]) == key for r in done)
               for key in ARMS}
    # N = 1 is within the target at once: its arms get only the floor's trials (in the
    # first adaptive rounds, as a full round's seconds allow), then none while N = 10 goes on.
    for key in ARMS:
        if key[1] == 1:
            assert per_arm[key] == MIN_TRIALS_TO_MEET
            last = max(r["round"] for r in done if (r["scenario"], r["level"], r["stack"]) == key)
            assert last < outcome.rounds_completed
    # Neyman: cv / sqrt(cost) is 0.2 for the baseline at N = 10, 0.06 and 0.09 for the others.
    base = per_arm[("fanout", 10, "flask-gunicorn")]
    assert base > per_arm[("fanout", 10, "quart-hypercorn")]
    assert base > per_arm[("fanout", 10, "fastapi-uvicorn")]
    written = manifest(run_dir)
    plans = written["allocation"]["rounds"]
    assert sorted(map(int, plans)) == list(range(4, outcome.rounds_completed + 1))
    for round_no, entries in plans.items():  # what ran is what was recorded
        ran = {(r["scenario"], r["level"], r["stack"]): 0 for r in done
               if r["round"] == int(round_no)}
        for r in done:
            if r["round"] == int(round_no):
                ran[(r["scenario"], r["level"], r["stack"])] += 1
        assert ran == {(s, lv, st): n for s, lv, st, n in entries}
    cells = written["allocation"]["cells"]
    assert [c["why"] for c in cells] == ["target met"] * 4
    assert written["allocation"]["met"] == 4
    assert written["allocation"]["trial_s"] == pytest.approx(sum(r["wall_s"] for r in done))
    fixed = written["allocation"]["fixed"]
    assert fixed["rounds"] >= base  # every arm as often as the noisy one
    assert fixed["trial_s"] > written["allocation"]["trial_s"]
    with pytest.raises(RunDirError, match="already finished"):
        recorded_config(run_dir)


def test_max_rounds_stop_names_the_widest_cell_and_how_many_met(tmp_path: Path) -> None:
    config = make_config(target_ci=0.01, max_rounds=8)
    run_dir = new_run(tmp_path, config)
    clock = Clock()
    outcome = execute(config, run_dir, SilentProgress(), clock=clock, run_stack=Stacks(clock))
    assert outcome.rounds_completed == 8
    assert outcome.stop_reason.startswith("max rounds reached: 8 rounds, widest headline "
                                          "interval ±")
    assert outcome.stop_reason.endswith("> target ±1.0%; 2 of 4 met it")
    whys = {(c["level"], c["stack"]): c["why"] for c in manifest(run_dir)["allocation"]["cells"]}
    assert whys == {(1, "quart-hypercorn"): "target met", (1, "fastapi-uvicorn"): "target met",
                    (10, "quart-hypercorn"): "max rounds reached",
                    (10, "fastapi-uvicorn"): "max rounds reached"}


@pytest.mark.parametrize("allocation", ["adaptive", "fixed"])
def test_the_budget_is_kept(tmp_path: Path, allocation: str) -> None:
    budget = 25.0
    config = make_config(target_ci=0.01, budget=budget, allocation=allocation,
                         max_rounds=1000)
    run_dir = new_run(tmp_path, config)
    clock = Clock()
    stacks = Stacks(clock)
    outcome = execute(config, run_dir, SilentProgress(), clock=clock, run_stack=stacks)
    spent = clock.now - 1000.0
    assert outcome.stop_reason.startswith("budget spent: ")
    assert spent <= budget
    # ... and not for want of trying: the round it did not start would not have fitted.
    assert spent > budget - 6 * (START_S + 1.0 + 0.2)
    assert manifest(run_dir)["allocation"]["spent_s"] == pytest.approx(spent, abs=1e-3)
    assert "of 25s after" in outcome.stop_reason


def test_a_budget_shorter_than_a_round_stops_within_the_round(tmp_path: Path) -> None:
    config = make_config(budget=2, allocation="fixed", rounds=3, target_ci=0.1)
    run_dir = new_run(tmp_path, config)
    clock = Clock()
    outcome = execute(config, run_dir, SilentProgress(), clock=clock, run_stack=Stacks(clock))
    assert outcome.stop_reason.startswith("budget spent during round ")
    assert "and the rest of the round not run" in outcome.stop_reason
    assert outcome.rounds_completed < 3


def test_an_interrupted_adaptive_run_resumes_to_the_same_trials(tmp_path: Path) -> None:
    config = make_config()
    whole = new_run(tmp_path, config, "whole")
    clock = Clock()
    execute(config, whole, SilentProgress(), clock=clock, run_stack=Stacks(clock))
    expected = [r["trial_id"] for r in records(whole)]
    assert len(expected) > 3 * 6 + 4  # adaptive rounds ran

    cut = new_run(tmp_path, config, "cut")
    clock = Clock()
    with pytest.raises(KeyboardInterrupt):  # in round 5: an adaptive round
        execute(config, cut, SilentProgress(), clock=clock,
                run_stack=Stacks(clock, stop_after=expected.index(
                    next(t for t in expected if t.startswith("r005-"))) + 1))
    assert manifest(cut)["stop_reason"] == "interrupted (SIGINT) during round 5"
    assert "5" in manifest(cut)["allocation"]["rounds"]  # the plan was written first
    point = resume_point(cut)
    assert (point.start_round, point.rounds_done) == (5, 4)
    clock = Clock()
    execute(point.config, cut, SilentProgress(), start_round=point.start_round,
            skip=point.done_ids, rounds_done=point.rounds_done, first_order=point.first_order,
            clock=clock, run_stack=Stacks(clock))
    resumed = records(cut)
    assert [r["trial_id"] for r in resumed] == expected
    assert [r["order"] for r in resumed] == [r["order"] for r in records(whole)]
    assert manifest(cut)["stop_reason"] == manifest(whole)["stop_reason"]


def test_a_repeated_trial_is_rebuilt_for_a_rerun(tmp_path: Path) -> None:
    config = make_config()
    run_dir = new_run(tmp_path, config)
    clock = Clock()
    execute(config, run_dir, SilentProgress(), clock=clock, run_stack=Stacks(clock))
    repeated = next(r for r in records(run_dir) if r["trial_id"].endswith("-t2"))
    assert repeated["repeat"] == 2
    target = rerun.load_target(run_dir, repeated["trial_id"])
    assert target.trial.trial_id == repeated["trial_id"]
    assert target.trial.params == repeated["params"]


def test_a_fixed_run_keeps_its_full_rounds(tmp_path: Path) -> None:
    config = dataclasses.replace(make_config(allocation="fixed", max_rounds=4), target_ci=0.01)
    run_dir = new_run(tmp_path, config)
    clock = Clock()
    outcome = execute(config, run_dir, SilentProgress(), clock=clock, run_stack=Stacks(clock))
    assert outcome.stop_reason.startswith("max rounds reached: 4 rounds")
    assert len(records(run_dir)) == 4 * 6
    assert "rounds" not in manifest(run_dir)["allocation"]


def test_the_report_and_the_stats_show_precision_per_cell(tmp_path: Path) -> None:
    config = make_config(target_ci=0.01, max_rounds=8)
    run_dir = new_run(tmp_path, config)
    clock = Clock()
    execute(config, run_dir, SilentProgress(), clock=clock, run_stack=Stacks(clock))
    summary = summarise(load_run(run_dir))
    text = render_precision(summary)
    assert "fanout N=10 | quart-hypercorn vs flask-gunicorn | " in text
    assert "max rounds reached" in text and "target met" in text
    assert "2 of 4 headline intervals met the target ±1.0%" in text
    assert "A fixed plan (every cell every round) would need" in text
    markdown = render_markdown(summary, manifest(run_dir), {})
    assert "## Precision per cell" in markdown
    assert "| fanout N=1 | quart-hypercorn | flask-gunicorn | " in markdown
    assert "Allocation: adaptive: after 3 full rounds" in markdown
    html = render_html(summary, manifest(run_dir), {})
    assert '<section id="precision">' in html and "would need" in html


def test_a_stack_given_up_in_an_adaptive_round_gets_no_more_trials(tmp_path: Path) -> None:
    config = make_config()
    run_dir = new_run(tmp_path, config)
    clock = Clock()
    stacks = Stacks(clock, broken=("fastapi-uvicorn", 4))  # fails in the first adaptive round
    outcome = execute(config, run_dir, SilentProgress(), clock=clock, run_stack=stacks)
    written = manifest(run_dir)
    assert list(written[GIVEN_UP_KEY]) == ["fastapi-uvicorn"]
    assert written[GIVEN_UP_KEY]["fastapi-uvicorn"].startswith(
        f"not started: fastapi-uvicorn failed to start {START_ATTEMPTS} times in a row, the "
        "last in round 4")
    # Started in rounds 1-4 only; no later adaptive plan names it, and the others went on.
    assert {r for r, name in stacks.asked if name == "fastapi-uvicorn"} == {1, 2, 3, 4}
    plans = written["allocation"]["rounds"]
    assert "4" in plans and any(st == "fastapi-uvicorn" for _, _, st, _ in plans["4"])
    later = [entry for r, entries in plans.items() if int(r) > 4 for entry in entries]
    assert later and all(st != "fastapi-uvicorn" for _, _, st, _ in later)
    assert all(r["status"] == "failed" for r in records(run_dir)
               if r["stack"] == "fastapi-uvicorn" and r["round"] >= 4)
    # Its cells cannot meet the target, the others did: nothing is left to plan.
    assert outcome.stop_reason.startswith("no trial left to plan after ")
    assert "fastapi-uvicorn not started again; 2 of 4 headline intervals within ±10.0%" \
        in outcome.stop_reason
    whys = {(c["level"], c["stack"]): c["why"] for c in written["allocation"]["cells"]}
    assert whys[(10, "quart-hypercorn")] == "target met"
    assert whys[(1, "fastapi-uvicorn")] == whys[(10, "fastapi-uvicorn")] \
        == "fastapi-uvicorn not started again"
    shown = summarise(load_run(run_dir))["precision"]["cells"]  # the report reads the same
    assert [c["why"] for c in shown] == [c["why"] for c in written["allocation"]["cells"]]


def test_a_stack_given_up_in_the_full_rounds_is_recorded_not_started(tmp_path: Path) -> None:
    config = make_config()
    run_dir = new_run(tmp_path, config)
    clock = Clock()
    stacks = Stacks(clock, broken=("fastapi-uvicorn", 1))
    outcome = execute(config, run_dir, SilentProgress(), clock=clock, run_stack=stacks)
    assert [r for r, name in stacks.asked if name == "fastapi-uvicorn"] == [1]
    theirs = [r for r in records(run_dir) if r["stack"] == "fastapi-uvicorn"]
    assert {r["round"] for r in theirs} == {1, 2, 3}  # the full rounds, then no more
    assert all(r["error"].startswith("not started: ") and RETRY_FLAG in r["error"]
               for r in theirs if r["round"] > 1)
    assert outcome.stop_reason.startswith("no trial left to plan after ")
    assert all(st != "fastapi-uvicorn" for entries in
               manifest(run_dir)["allocation"]["rounds"].values() for _, _, st, _ in entries)


def test_the_flag_keeps_planning_a_stack_that_fails_to_start(tmp_path: Path) -> None:
    config = make_config(max_rounds=6)
    run_dir = new_run(tmp_path, config)
    clock = Clock()
    stacks = Stacks(clock, broken=("fastapi-uvicorn", 1))
    outcome = execute(config, run_dir, SilentProgress(), clock=clock, run_stack=stacks,
                      retry_failed_starts=True)
    # Its cells have no interval: every adaptive round asks for them again.
    assert [r for r, name in stacks.asked if name == "fastapi-uvicorn"] == [1, 2, 3, 4, 5, 6]
    assert manifest(run_dir)[GIVEN_UP_KEY] == {}
    assert outcome.stop_reason.startswith("max rounds reached: 6 rounds, widest headline "
                                          "interval undefined")
