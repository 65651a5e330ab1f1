"""rerun and compare end to end, on two quick runs this module makes (real servers on 127.0.0.1).

Run A has a 50 ms upstream delay, run B 150 ms; everything else is the same.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.analyse.compare import compare_runs
from harness.cli.main import main
from harness.config.load import config_from_dict
from harness.config.schema import Config
from harness.measure.rerun import compare_to_reruns
from harness.measure.runner import SilentProgress, start_run
from harness.rundir.reader import load_run
from tests.procs import living_children

DELAY_A_MS, DELAY_B_MS = 50, 150
FIELDS = {"schema_version", "run_id", "trial_id", "round", "order", "scenario", "stack", "level",
          "params", "status", "error", "requests", "latency_ms", "metrics", "hdr", "checks",
          "resources"}


def quick_config(delay_ms: int) -> Config:
    return config_from_dict({
        "run": {"stacks": ["flask-gunicorn", "quart-hypercorn"], "rounds": 3, "seed": 11,
                "delay_ms": delay_ms, "warmup_requests": 2},
        "scenarios": {"fanout": {"levels": [1, 5]}, "clients": {"levels": [10]}},
        "stacks": {"flask-gunicorn": {"workers": 2}, "quart-hypercorn": {"workers": 2}},
    }, source=f"<integration delay {delay_ms} ms>")


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("results")
    made = {name: start_run(quick_config(delay), root, SilentProgress(), argv=["run"]).run_dir
            for name, delay in (("a", DELAY_A_MS), ("b", DELAY_B_MS))}
    assert not living_children()
    return made


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_rerun_of_a_fanout_trial_agrees_with_its_original(
        runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = runs["a"]
    before = (run_dir / "trials.jsonl").read_bytes()
    # Flask's fan-out of 5 at 50 ms is five sequential upstream waits: 250 ms plus a little
    # overhead, so it reproduces well. Take the cell's median trial, a typical one.
    cell = sorted((r for r in read_lines(run_dir / "trials.jsonl")
                   if (r["stack"], r["scenario"], r["level"], r["status"])
                   == ("flask-gunicorn", "fanout", 5, "ok")),
                  key=lambda r: r["metrics"]["duration_s"])
    assert cell, "no ok flask fan-out trial to rerun"
    original = cell[len(cell) // 2]
    trial_id = original["trial_id"]

    assert main(["rerun", str(run_dir), trial_id, "--repeat", "5"]) == 0
    out = capsys.readouterr().out

    assert (run_dir / "trials.jsonl").read_bytes() == before  # reruns go elsewhere
    files = sorted((run_dir / "reruns").glob("*.jsonl"))
    assert len(files) == 1 and files[0].name.startswith(f"{trial_id}-")
    reruns = read_lines(files[0])
    assert [r["trial_id"] for r in reruns] == [f"{trial_id}-rerun{i:02d}" for i in range(1, 6)]
    for r in reruns:
        assert set(r) >= FIELDS, FIELDS - set(r)
        assert r["status"] == "ok", r["error"]
        assert r["rerun"]["of"] == trial_id and r["run_id"] == original["run_id"]
        for key in ("stack", "scenario", "level", "params"):
            assert r[key] == original[key]
        assert 5 * DELAY_A_MS / 1000 <= r["metrics"]["duration_s"] < 5 * DELAY_A_MS / 1000 * 1.3

    headline = compare_to_reruns(original, reruns).headline
    assert headline is not None and headline.metric == "duration_s"
    assert headline.original is not None and headline.ratio is not None
    assert headline.min is not None and headline.max is not None
    # Within the reruns' spread, with 10% of room for how the (shared) machine drifted
    # between the run and the rerun; five reruns alone hold the original in their
    # min..max only 4 times in 6 even when nothing at all has changed.
    assert 0.9 * headline.min <= headline.original <= 1.1 * headline.max
    assert 0.9 <= headline.ratio <= 1.1
    assert "Total duration (s) *" in out and f"original/mean = {headline.ratio:.3f}" in out
    assert not living_children()


def test_rerun_names_a_bad_trial_or_folder(runs: dict[str, Path], tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["rerun", str(runs["a"]), "r042-flask-gunicorn-fanout-5"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "no trial 'r042-flask-gunicorn-fanout-5'" in err
    assert main(["rerun", str(tmp_path / "nope"), "r001-flask-gunicorn-fanout-5"]) == 2
    assert str(tmp_path / "nope") in capsys.readouterr().err


def test_a_run_compared_with_itself_shows_no_difference(
        runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    run = load_run(runs["a"])
    comparison = compare_runs(run, run)
    assert len(comparison.rows) >= 2 * (2 * 2 + 3) - 2  # nearly every cell has ok trials
    assert {r.verdict for r in comparison.rows} <= {
        "equivalent", "inconclusive", "insufficient data", "undetermined", "degenerate"}
    assert comparison.warnings == []
    args = ["compare", str(runs["a"]), str(runs["a"]), "--fail-on-regression", "10"]
    assert main([*args, "--allow-missing"]) == 0
    assert "gate passed: no metric is slower by more than 10%" in capsys.readouterr().out


def test_a_larger_upstream_delay_is_detected_as_a_regression(
        runs: dict[str, Path], capsys: pytest.CaptureFixture[str]) -> None:
    comparison = compare_runs(load_run(runs["a"]), load_run(runs["b"]))
    assert comparison.warnings == [
        f"configs differ in more than seed/rounds: delay_ms: {DELAY_A_MS} -> {DELAY_B_MS}"]
    durations = [r for r in comparison.rows
                 if r.scenario == "fanout" and r.metric == "duration_s"]
    assert {(r.stack, r.level) for r in durations} == {
        (s, n) for s in ("flask-gunicorn", "quart-hypercorn") for n in (1, 5)}
    for row in durations:  # about 50/150 = 1/3, a little more for the fixed overhead
        assert row.verdict == "slower", row
        assert row.ci_high is not None and row.ci_high < 1
        assert row.ratio is not None and 0.2 < row.ratio < 0.6, row

    code = main(["compare", str(runs["a"]), str(runs["b"]), "--fail-on-regression", "10"])
    captured = capsys.readouterr()
    assert code == 1
    assert "FAIL fanout N=5 flask-gunicorn Total duration (s): slower by" in captured.out
    assert "FAIL fanout N=5 quart-hypercorn Total duration (s): slower by" in captured.out
    assert f"delay_ms: {DELAY_A_MS} -> {DELAY_B_MS}" in captured.err
