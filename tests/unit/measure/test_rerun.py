"""harness.measure.rerun's pure parts: rebuilding a trial from its record, agreement, warnings."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from harness.config.load import config_from_dict
from harness.errors import ConfigError, RunDirError
from harness.measure.rerun import (
    agreement,
    agreement_sentence,
    compare_to_reruns,
    environment_warnings,
    load_target,
    planned_from_record,
    records_path,
    render_comparison,
)

CONFIG = config_from_dict({"run": {"stacks": ["flask-gunicorn"], "delay_ms": 50},
                           "scenarios": {"fanout": {"levels": [5]}}})
NOW = {"harness_version": "0.1.0", "lock_hash": "ab" * 32, "compat_id": "c-now",
       "machine_id": "m-now"}


def fanout(trial_id: str, duration: float | None, status: str = "ok") -> dict[str, Any]:
    metrics = None if duration is None else {"duration_s": duration, "calls_per_s": 5 / duration}
    return {"schema_version": 1, "run_id": "r", "trial_id": trial_id, "round": 2, "order": 7,
            "scenario": "fanout", "stack": "flask-gunicorn", "level": 5,
            "params": {"n": 5, "delay_ms": 50, "timeout_s": 60.0}, "status": status,
            "error": None if status == "ok" else "boom", "metrics": metrics}


def test_planned_from_record_keeps_identity_and_params() -> None:
    trial = planned_from_record(fanout("r002-flask-gunicorn-fanout-5", 0.26))
    assert trial.trial_id == "r002-flask-gunicorn-fanout-5"
    assert (trial.round, trial.order, trial.level) == (2, 7, 5)
    assert trial.params == {"n": 5, "delay_ms": 50, "timeout_s": 60.0}
    with pytest.raises(RunDirError, match="lacks round, order or params"):
        planned_from_record({**fanout("x", 0.26), "params": None})


def test_a_clients_record_with_a_hostile_arrival_is_refused_in_one_line() -> None:
    record = {**fanout("r001-quart-hypercorn-clients-50", 0.2), "scenario": "clients",
              "level": 50, "params": {"clients": 50, "timeout_s": 60.0,
                                      "arrival": {"mode": "bursts", "gap_ms": -1}}}
    with pytest.raises(RunDirError) as caught:
        planned_from_record(record)
    assert str(caught.value) == ("trial 'r001-quart-hypercorn-clients-50': [run.arrival] "
                                 "gap_ms = -1: must be an integer in 0..600000 (ms); cannot "
                                 "rerun it")
    record["params"]["arrival"] = {"mode": "sustained", "duration_s": 2, "warmup_s": 0.5}
    assert planned_from_record(record).params["arrival"]["mode"] == "sustained"


def test_agreement_by_hand() -> None:
    row = agreement("duration_s", 0.27, [0.26, 0.27, 0.28], headline=True)
    assert row.mean == pytest.approx(0.27) and row.sd == pytest.approx(0.01)
    assert (row.min, row.max, row.n) == (0.26, 0.28, 3)
    assert row.ratio == pytest.approx(1.0)
    assert row.within_range and row.within_2sd
    outside = agreement("duration_s", 0.295, [0.26, 0.27, 0.28])
    assert not outside.within_range and not outside.within_2sd  # 0.295 > 0.27 + 2 * 0.01
    assert outside.ratio == pytest.approx(0.295 / 0.27)
    wide = agreement("duration_s", 0.285, [0.26, 0.27, 0.28])
    assert not wide.within_range and wide.within_2sd
    single = agreement("duration_s", 0.27, [0.27])
    assert single.within_range and single.within_2sd is None and single.sd is None
    empty = agreement("duration_s", 0.27, [])
    assert empty.n == 0 and empty.ratio is None and empty.within_range is None


def test_compare_to_reruns_puts_the_headline_first_and_skips_bad_reruns() -> None:
    original = fanout("t", 0.27)
    reruns = [fanout("t-1", 0.26), fanout("t-2", 0.28), fanout("t-3", None, "failed")]
    comparison = compare_to_reruns(original, reruns)
    assert [m.metric for m in comparison.metrics] == ["duration_s", "calls_per_s"]
    assert comparison.headline is comparison.metrics[0]
    assert (comparison.reruns, comparison.reruns_ok) == (3, 2)
    assert comparison.rerun_errors == ["failed: boom"]
    assert comparison.metrics[0].mean == pytest.approx(0.27)
    table = render_comparison(comparison)
    assert "Total duration (s) *" in table and "(2 of 3)" in table
    assert agreement_sentence(comparison).startswith(
        "Total duration (s): original 0.27 is within the reruns' range 0.26..0.28 and within mean")


def test_sentences_for_a_failed_original_and_no_ok_rerun() -> None:
    failed = compare_to_reruns(fanout("t", None, "failed"), [fanout("t-1", 0.26)])
    assert agreement_sentence(failed) == ("the original trial (failed) has no headline "
                                          "value to reproduce")
    none_ok = compare_to_reruns(fanout("t", 0.27), [fanout("t-1", None, "failed")])
    assert agreement_sentence(none_ok) == ("no headline value to compare it with: "
                                           "no rerun was ok")


def test_environment_warnings() -> None:
    same = {"compat_id": "c-now", "machine_id": "m-now"}
    assert environment_warnings(same, NOW) == []
    other = {"compat_id": "c-old", "machine_id": "m-old", "harness_version": "0.0.9",
             "lock_hash": "cd" * 32, "environment": {"hostname": "box", "cpu_model": "X",
                                                      "cpu_count": 8}}
    warnings = environment_warnings(other, NOW)
    assert len(warnings) == 2
    assert warnings[0].startswith("compat id differs: the run was made with c-old (harness "
                                  "0.0.9, lock cdcdcdcdcdcd), this is c-now")
    assert warnings[1] == ("machine differs: the run was made on m-old (box, X, 8 CPUs), "
                           "this is m-now")


def test_records_path_is_new_and_safe(tmp_path: Path) -> None:
    now = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    first = records_path(tmp_path, "r001-a-fanout-5", now)
    assert first == tmp_path / "reruns" / "r001-a-fanout-5-20260102T030405Z.jsonl"
    first.touch()
    assert records_path(tmp_path, "r001-a-fanout-5", now).name.endswith("Z-2.jsonl")
    assert records_path(tmp_path, "../../x", now).parent == tmp_path / "reruns"


def write_run(root: Path, trials: list[dict[str, Any]],
              config: dict[str, Any] | None = None) -> Path:
    root.mkdir()
    manifest = {"run_id": "r", "seed": 1, "config": config or CONFIG.resolved()}
    (root / "manifest.json").write_text(json.dumps(manifest))
    (root / "trials.jsonl").write_text("".join(json.dumps(t) + "\n" for t in trials))
    return root


def test_load_target_from_the_folder_alone(tmp_path: Path) -> None:
    run_dir = write_run(tmp_path / "run", [fanout("r002-flask-gunicorn-fanout-5", 0.26)])
    target = load_target(run_dir, "r002-flask-gunicorn-fanout-5")
    assert target.config == CONFIG
    assert target.trial.params["n"] == 5 and target.trial_id == "r002-flask-gunicorn-fanout-5"
    with pytest.raises(RunDirError, match=r"no trial 'r009' in trials.jsonl \(e\.g\. r002"):
        load_target(run_dir, "r009")


def test_load_target_rejects_a_broken_config_or_an_unknown_stack(tmp_path: Path) -> None:
    broken = write_run(tmp_path / "a", [fanout("t", 0.26)], config={"stacks": {}})
    with pytest.raises(ConfigError, match=r"manifest\.json"):
        load_target(broken, "t")
    other = write_run(tmp_path / "b", [{**fanout("t", 0.26), "stack": "fastapi-uvicorn"}])
    with pytest.raises(ConfigError, match="unknown stack 'fastapi-uvicorn'"):
        load_target(other, "t")
