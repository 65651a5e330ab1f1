"""harness.rundir.reader: reading run folders, forgiving on trial lines, strict on the manifest."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.rundir.reader import Run, RunDirError, load_run, parse_trials

MANIFEST = {"run_id": "r1", "seed": 7, "config": {"baseline": "flask-gunicorn"}}


def trial(trial_id: str, status: str = "ok", **overrides: Any) -> dict[str, Any]:
    """A minimal trial record of schema version 1."""
    record: dict[str, Any] = {
        "schema_version": 1,
        "run_id": "r1",
        "trial_id": trial_id,
        "round": 0,
        "order": 0,
        "scenario": "fanout",
        "stack": "flask-gunicorn",
        "level": 10,
        "params": {"n": 10, "delay_ms": 100},
        "status": status,
        "error": None if status == "ok" else "boom",
        "metrics": {"duration_s": 1.0, "calls_per_s": 10.0} if status == "ok" else {},
    }
    record.update(overrides)
    return record


def line(record: dict[str, Any]) -> str:
    return json.dumps(record, sort_keys=True) + "\n"


def make_run(tmp_path: Path, trials_text: str | bytes, manifest: Any = MANIFEST) -> Path:
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "manifest.json").write_text(json.dumps(manifest))
    data = trials_text.encode() if isinstance(trials_text, str) else trials_text
    (folder / "trials.jsonl").write_bytes(data)
    return folder


def test_reads_manifest_and_trials(tmp_path: Path) -> None:
    folder = make_run(tmp_path, line(trial("a")) + line(trial("b", "failed")))
    run = load_run(folder)
    assert isinstance(run, Run)
    assert run.manifest == MANIFEST
    assert [t["trial_id"] for t in run.trials] == ["a", "b"]
    assert run.skipped_lines == []
    assert load_run(str(folder)).trials == run.trials


def test_truncated_last_line_is_skipped(tmp_path: Path) -> None:
    partial = line(trial("c"))[:40]  # the crash cut the last write short
    folder = make_run(tmp_path, line(trial("a")) + line(trial("b")) + partial)
    run = load_run(folder)
    assert [t["trial_id"] for t in run.trials] == ["a", "b"]
    assert len(run.skipped_lines) == 1
    number, reason = run.skipped_lines[0]
    assert number == 3
    assert "truncated last line" in reason and "invalid JSON" in reason


def test_garbage_lines_are_skipped_with_line_numbers(tmp_path: Path) -> None:
    text = (
        line(trial("a"))
        + "this is not json\n"
        + "[1, 2]\n"
        + "\n"
        + line(trial("b"))
        + line({**trial("x"), "schema_version": 99})
        + line({k: v for k, v in trial("y").items() if k != "stack"})
        + line(trial("z", status="weird"))
        + line(trial("a"))  # duplicate id
    )
    run = load_run(make_run(tmp_path, text.encode() + b"\xff\xfe{\n"))
    assert [t["trial_id"] for t in run.trials] == ["a", "b"]
    reasons = dict(run.skipped_lines)
    assert sorted(reasons) == [2, 3, 4, 6, 7, 8, 9, 10]
    assert reasons[2].startswith("invalid JSON")
    assert "not an object" in reasons[3]
    assert reasons[4] == "blank line"
    assert "schema_version 99" in reasons[6]
    assert "'stack'" in reasons[7]
    assert "unknown status 'weird'" in reasons[8]
    assert reasons[9] == "duplicate trial_id 'a' (first on line 1)"
    assert "not UTF-8" in reasons[10]


def test_ok_trial_without_metrics_is_skipped() -> None:
    trials, skipped = parse_trials(line(trial("a", metrics=None)).encode())
    assert trials == []
    assert skipped == [(1, "ok trial without a 'metrics' object")]


def test_level_must_be_an_integer_not_a_bool() -> None:
    _, skipped = parse_trials(line(trial("a", level=True)).encode())
    assert skipped == [(1, "missing or non-int 'level'")]


def test_empty_trials_file(tmp_path: Path) -> None:
    run = load_run(make_run(tmp_path, ""))
    assert run.trials == [] and run.skipped_lines == []


def test_missing_folder(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="run folder not found") as info:
        load_run(tmp_path / "nope")
    assert "\n" not in str(info.value)


def test_missing_manifest(tmp_path: Path) -> None:
    folder = make_run(tmp_path, "")
    (folder / "manifest.json").unlink()
    with pytest.raises(RunDirError, match=r"no manifest\.json in run folder"):
        load_run(folder)


def test_missing_trials_file(tmp_path: Path) -> None:
    folder = make_run(tmp_path, "")
    (folder / "trials.jsonl").unlink()
    with pytest.raises(RunDirError, match=r"no trials\.jsonl"):
        load_run(folder)


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ("{not json", "not valid JSON"),
        ([1, 2], "must hold a JSON object"),
        ({"run_id": "r1", "config": {}}, "lacks required key"),
        ({"run_id": "r1", "seed": "7", "config": {}}, "'seed' must be an integer"),
        ({"run_id": "r1", "seed": 7, "config": []}, "'config' must be a JSON object"),
    ],
)
def test_bad_manifest(tmp_path: Path, manifest: Any, message: str) -> None:
    folder = make_run(tmp_path, "")
    text = manifest if isinstance(manifest, str) else json.dumps(manifest)
    (folder / "manifest.json").write_text(text)
    with pytest.raises(RunDirError, match=message) as info:
        load_run(folder)
    assert "\n" not in str(info.value)


def test_run_dir_error_is_an_exception() -> None:
    assert issubclass(RunDirError, Exception)
