"""harness.analyse.compare on synthetic runs: orientation, statistics, regressions, warnings, CLI."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.analyse import stats
from harness.analyse.compare import (
    compare_runs,
    config_differences,
    flatten,
    render_markdown,
    render_table,
    to_json,
)
from harness.cli.main import main
from harness.rundir.reader import Run

BASE, ASYNC = "flask-gunicorn", "quart-hypercorn"
CONFIG: dict[str, Any] = {
    "baseline": BASE, "confidence": 0.95, "delay_ms": 50, "rounds": 3, "max_rounds": 3,
    "seed": 1, "source": "configs/a.toml",
    "stacks": {BASE: {"workers": 2, "threads": 2}, ASYNC: {"workers": 2}},
    "scenarios": {"fanout": {"levels": [5]}, "clients": {"levels": [10]}},
}
FANOUT_A = [0.262, 0.265, 0.270]
CLIENTS_A = [38.0, 40.0, 41.0]


def fanout(stack: str, round_no: int, duration: float, status: str = "ok") -> dict[str, Any]:
    return {"trial_id": f"r{round_no:03d}-{stack}-fanout-5", "round": round_no, "order": 0,
            "scenario": "fanout", "stack": stack, "level": 5, "status": status,
            "metrics": {"duration_s": duration, "calls_per_s": 5 / duration}}


def clients(stack: str, round_no: int, rps: float) -> dict[str, Any]:
    return {"trial_id": f"r{round_no:03d}-{stack}-clients-10", "round": round_no, "order": 1,
            "scenario": "clients", "stack": stack, "level": 10, "status": "ok",
            "metrics": {"duration_s": 10 / rps, "mean_response_s": 5 / rps,
                        "throughput_rps": rps}}


def make_run(run_id: str, fanout_s: Sequence[float] = FANOUT_A,
             clients_rps: Sequence[float] = CLIENTS_A, *, config: dict[str, Any] | None = None,
             extra: Sequence[dict[str, Any]] = (), **manifest: Any) -> Run:
    trials = []
    for stack in (BASE, ASYNC):
        for i, (d, r) in enumerate(zip(fanout_s, clients_rps, strict=True), start=1):
            trials.append(fanout(stack, i, d))
            trials.append(clients(stack, i, r))
    trials.extend(extra)
    head = {"run_id": run_id, "seed": 7, "config": config or CONFIG, "compat_id": "c1",
            "machine_id": "m1", **manifest}
    return Run(path=Path(run_id), manifest=head, trials=trials)


def rows_by(comparison: Any) -> dict[tuple[str, int, str, str], Any]:
    return {(r.scenario, r.level, r.stack, r.metric): r for r in comparison.rows}


def test_a_run_against_itself_is_never_different() -> None:
    run = make_run("a")
    comparison = compare_runs(run, run)
    assert len(comparison.rows) == 2 * (2 + 3)  # two stacks; fanout 2 metrics, clients 3
    for row in comparison.rows:
        assert row.ratio == pytest.approx(1.0)
        assert row.ci_low is not None and row.ci_high is not None
        assert row.ci_low < 1.0 < row.ci_high
        assert row.verdict in ("equivalent", "inconclusive")
    assert comparison.warnings == [] and comparison.regressions(0) == []


def test_slower_b_is_oriented_below_one_with_the_run_statistics() -> None:
    slow = [2 * x for x in FANOUT_A]
    comparison = compare_runs(make_run("a"), make_run("b", slow, [x / 2 for x in CLIENTS_A]))
    rows = rows_by(comparison)
    duration = rows[("fanout", 5, BASE, "duration_s")]
    # B as the stack, A as baseline; a headline row: Bonferroni over the 4 headline tests.
    expected = stats.speedup(slow, FANOUT_A, False, 1 - 0.05 / 4, 0)
    assert duration.ratio == pytest.approx(0.5)
    assert (duration.ci_low, duration.ci_high) == pytest.approx((expected.low, expected.high))
    assert duration.p_value == pytest.approx(expected.p_value)
    assert duration.verdict == "slower" and duration.headline
    assert duration.family == "headline" and duration.confidence == pytest.approx(0.9875)
    assert duration.p_adjusted == pytest.approx(4 * expected.p_value)
    assert (duration.mean_a, duration.mean_b) == pytest.approx((sum(FANOUT_A) / 3,
                                                                sum(slow) / 3))
    throughput = rows[("clients", 10, ASYNC, "throughput_rps")]
    assert throughput.higher_is_better and throughput.ratio == pytest.approx(0.5)
    assert throughput.verdict == "slower"


def test_faster_b_is_above_one_and_no_regression() -> None:
    comparison = compare_runs(make_run("a"), make_run("b", [x * 0.8 for x in FANOUT_A]))
    duration = rows_by(comparison)[("fanout", 5, ASYNC, "duration_s")]
    assert duration.ratio == pytest.approx(1.25)
    assert duration.verdict == "faster"
    assert comparison.regressions(10) == []


def test_regressions_need_significance_and_the_threshold() -> None:
    slow = [2 * x for x in FANOUT_A]  # ratio 0.5: twice as slow, "slower by 100%"
    comparison = compare_runs(make_run("a"), make_run("b", slow))
    names = {(r.stack, r.metric) for r in comparison.regressions(10)}
    assert names == {(s, m) for s in (BASE, ASYNC) for m in ("duration_s", "calls_per_s")}
    assert len(comparison.regressions(99)) == 4 and comparison.regressions(101) == []
    noisy = [0.2, 0.4, 0.3]  # a 10% worse mean that is not significant
    comparison = compare_runs(make_run("a", [0.22, 0.38, 0.30]), make_run("b", noisy))
    assert all(r.verdict in ("inconclusive", "equivalent") for r in comparison.rows)
    assert comparison.regressions(0) == []
    with pytest.raises(ValueError):
        comparison.regressions(-1)


def test_only_ok_trials_count_and_single_trials_are_insufficient() -> None:
    failed = fanout(BASE, 9, 99.0, status="failed")
    a = make_run("a", extra=[failed])
    b = Run(Path("b"), {**a.manifest, "run_id": "b"},
            [fanout(BASE, 1, 0.27), *(fanout(ASYNC, i, d) for i, d in
                                      enumerate([0.05, 0.051, 0.052], start=1))])
    rows = rows_by(compare_runs(a, b))
    assert rows[("fanout", 5, BASE, "duration_s")].n_a == 3
    single = rows[("fanout", 5, BASE, "duration_s")]
    assert single.n_b == 1 and single.verdict == "insufficient data" and single.ci_low is None
    assert rows[("fanout", 5, ASYNC, "duration_s")].verdict == "faster"


def test_cells_in_one_run_only_are_listed() -> None:
    a = make_run("a")
    b = Run(Path("b"), {**a.manifest, "run_id": "b"},
            [t for t in a.trials if t["scenario"] == "fanout"])
    comparison = compare_runs(a, b)
    missing = [r for r in comparison.rows if r.scenario == "clients"]
    assert missing and all(r.n_b == 0 and r.mean_b is None for r in missing)
    assert comparison.only_in_a == [f"clients C=10, {BASE}", f"clients C=10, {ASYNC}"]
    assert comparison.only_in_b == []


def test_unknown_metrics_are_warned_about_not_compared() -> None:
    odd = fanout(BASE, 1, 0.27)
    odd["metrics"]["weird"] = 1.0
    a = make_run("a", extra=[{**odd, "trial_id": "x1"}])
    comparison = compare_runs(a, a)
    assert "metric 'weird' has no known orientation: not compared" in comparison.warnings
    assert all(r.metric != "weird" for r in comparison.rows)


def test_config_differences_name_the_keys_but_not_seed_or_rounds() -> None:
    other = json.loads(json.dumps(CONFIG))
    other.update(seed=99, rounds=10, max_rounds=10, source="configs/b.toml", delay_ms=60)
    other["stacks"][BASE]["workers"] = 4
    assert config_differences(CONFIG, other) == [
        "delay_ms: 50 -> 60", f"stacks.{BASE}.workers: 2 -> 4"]
    assert config_differences(CONFIG, {**CONFIG, "target_ci": 0.05}) == [
        "target_ci: (absent) -> 0.05"]
    assert flatten({"a": {"b": [1]}, "c": 2}) == {"a.b": [1], "c": 2}


def test_warnings_for_config_compat_and_machine() -> None:
    other = {**CONFIG, "delay_ms": 60, "seed": 5}
    b = make_run("b", config=other, compat_id="c2", machine_id="m2")
    warnings = compare_runs(make_run("a"), b).warnings
    assert warnings == [
        "configs differ in more than seed/rounds: delay_ms: 50 -> 60",
        "compat ids (harness version + lock hash) differ: A c1, B c2",
        "machines differ: A m1, B m2",
    ]
    assert compare_runs(make_run("a"), make_run("b", config={**CONFIG, "seed": 3})).warnings == []


def test_json_and_table() -> None:
    comparison = compare_runs(make_run("a"), make_run("b", [2 * x for x in FANOUT_A]))
    data = json.loads(json.dumps(to_json(comparison, 10.0), allow_nan=False))
    assert data["run_a"] == "a" and data["run_b"] == "b"
    assert len(data["rows"]) == 10 and len(data["regressions"]) == 4
    assert "regressions" not in to_json(comparison)
    table = render_table(comparison)
    assert "A = a" in table and "B = b" in table
    assert f"fanout   N=5     {BASE}" in table and "0.500x [" in table and "slower" in table
    # One name per metric: the compare table uses the report's and stats' words.
    assert "Upstream calls/s" in table and "calls_per_s" not in table


def test_markdown_table_escapes_what_a_run_folder_says() -> None:
    comparison = compare_runs(make_run("a|b"), make_run("b", [2 * x for x in FANOUT_A]))
    text = render_markdown(comparison)
    assert "| Scenario | Level | Stack | Metric | A mean | B mean | B vs A (95% CI) |" in text
    assert f"| fanout | N=5 | {BASE} | **Total duration (s)** |" in text
    assert "| **Upstream calls/s** |" in text and "a\\|b" in text
    rows = [line for line in text.splitlines() if line.startswith("| fanout")]
    assert len(rows) == 4 and all(line.count(" | ") == 8 for line in rows)


# --- the CLI ------------------------------------------------------------------------------

def write(root: Path, run: Run) -> Path:
    folder = root / str(run.manifest["run_id"])
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(run.manifest))
    lines = [{"schema_version": 1, "run_id": run.manifest["run_id"], **t} for t in run.trials]
    (folder / "trials.jsonl").write_text("".join(json.dumps(t) + "\n" for t in lines))
    return folder


def test_cli_fails_on_regression_listing_them(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path, make_run("a"))
    b = write(tmp_path, make_run("b", [2 * x for x in FANOUT_A]))
    assert main(["compare", str(a), str(b)]) == 0
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--fail-on-regression", "10"]) == 1
    out = capsys.readouterr().out
    assert "gate failed: 4 row(s) slower by more than 10%" in out
    assert out.count("FAIL ") == 4
    assert f"FAIL fanout N=5 {BASE} Total duration (s): slower by 100.0%, more than 10%" in out
    assert main(["compare", str(a), str(b), "--fail-on-regression", "101"]) == 0
    capsys.readouterr()
    assert main(["compare", str(a), str(b), "--format", "md"]) == 0
    assert "| Scenario | Level | Stack | Metric |" in capsys.readouterr().out
    assert main(["compare", str(a), str(a), "--fail-on-regression", "0"]) == 0


def test_cli_json_stays_parseable(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path, make_run("a"))
    b = write(tmp_path, make_run("b", [2 * x for x in FANOUT_A], config={**CONFIG,
                                                                          "delay_ms": 60}))
    assert main(["compare", str(a), str(b), "--json", "--fail-on-regression", "10"]) == 1
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert len(data["regressions"]) == 4
    assert "warning: configs differ in more than seed/rounds: delay_ms: 50 -> 60" in captured.err
    assert "FAIL" in captured.err
    assert len(data["gate"]) == len(data["rows"]) == 10
    assert {g["outcome"] for g in data["gate"]} == {"pass", "fail"}
    assert all(g["reason"] for g in data["gate"])


@pytest.mark.parametrize("pct", ["-1", "1e7", "ten", "nan"])
def test_cli_rejects_a_bad_percentage(tmp_path: Path, pct: str,
                                      capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["compare", str(tmp_path), str(tmp_path), "--fail-on-regression", pct]) == 2
    assert "--fail-on-regression" in capsys.readouterr().err


def test_cli_bad_run_folder_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    a = write(tmp_path, make_run("a"))
    assert main(["compare", str(a), str(tmp_path / "missing")]) == 2
    assert capsys.readouterr().err == f"asyncbench: run folder not found: {tmp_path / 'missing'}\n"
