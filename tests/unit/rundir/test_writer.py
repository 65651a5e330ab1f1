"""The run folder's writer: one complete, sorted line per trial; a crash's torn last line
dropped without touching earlier ones; JSON files replaced whole."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.rundir.format import SCHEMA_VERSION, encode_latencies, latency_summary
from harness.rundir.reader import parse_trials
from harness.rundir.writer import TrialWriter, dumps, repair_tail, write_json_atomic


def record(trial_id: str, status: str = "ok") -> dict[str, object]:
    return {"schema_version": SCHEMA_VERSION, "trial_id": trial_id, "scenario": "fanout",
            "stack": "s", "level": 1, "status": status, "metrics": {"duration_s": 0.1}}


def test_each_write_is_one_sorted_line_that_the_reader_reads_back(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    with TrialWriter(path) as writer:
        writer.write(record("a"))
        assert path.read_text().count("\n") == 1  # on disk before the next trial starts
        writer.write(record("b", "invalid"))
    lines = path.read_text().splitlines()
    assert lines[0] == dumps(record("a"))
    assert list(json.loads(lines[0])) == sorted(json.loads(lines[0]))
    trials, skipped = parse_trials(path.read_bytes())
    assert [t["trial_id"] for t in trials] == ["a", "b"] and skipped == []


def test_the_writer_appends_and_refuses_unknown_statuses(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    path.write_text(dumps(record("a")) + "\n")
    with TrialWriter(path) as writer:
        with pytest.raises(ValueError, match="status 'weird'"):
            writer.write(record("b", "weird"))
        writer.write(record("c"))
    assert [json.loads(x)["trial_id"] for x in path.read_text().splitlines()] == ["a", "c"]


def test_records_never_hold_nan(tmp_path: Path) -> None:
    with TrialWriter(tmp_path / "t.jsonl") as writer, pytest.raises(ValueError):
        writer.write({**record("a"), "metrics": {"duration_s": float("nan")}})


@pytest.mark.parametrize(("tail", "dropped"), [
    (b"{\"trial_id\": \"c\", \"sta", 22),        # no newline: a torn write
    (b"not json at all\n", 16),                # a complete line that does not parse
    (b"[1, 2]\n", 7),                          # JSON, but not a record
])
def test_repair_tail_drops_only_the_incomplete_last_line(tmp_path: Path, tail: bytes,
                                                         dropped: int) -> None:
    path = tmp_path / "trials.jsonl"
    good = (dumps(record("a")) + "\n" + dumps(record("b")) + "\n").encode()
    path.write_bytes(good + tail)
    repair = repair_tail(path)
    assert path.read_bytes() == good
    assert (repair.kept_lines, repair.dropped_bytes) == (2, dropped)
    assert repair.dropped_text == tail[:80].decode()


def test_repair_tail_leaves_a_sound_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "trials.jsonl"
    data = (dumps(record("a")) + "\n").encode()
    path.write_bytes(data)
    assert repair_tail(path).dropped_bytes == 0 and path.read_bytes() == data
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    assert repair_tail(empty).kept_lines == 0 and empty.read_bytes() == b""


def test_write_json_atomic_replaces_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "manifest.json"
    write_json_atomic(path, {"b": 1, "a": [1, 2]})
    write_json_atomic(path, {"run_id": "x"})
    assert json.loads(path.read_text()) == {"run_id": "x"}
    assert [p.name for p in tmp_path.iterdir()] == ["manifest.json"]  # no temporary left


def test_latency_summary_is_exact_for_mean_and_max() -> None:
    latencies = [0.010, 0.020, 0.030, 0.100]
    _, hist = encode_latencies(latencies)
    summary = latency_summary(hist, sum(latencies), max(latencies))
    assert summary["mean"] == 40.0 and summary["max"] == 100.0
    assert summary["p50"] == pytest.approx(20.0, rel=1e-3)
    _, empty = encode_latencies([])
    assert set(latency_summary(empty, 0.0, 0.0).values()) == {None}
