"""Reliability, part 1: bad input. Every mistake gives one clear line and exit 2
(or, when reading records, a warning and the line skipped), never a traceback."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
GOOD = (ROOT / "configs" / "quick.toml").read_text()

CONFIG_ERRORS = [
    ("unknown key", GOOD.replace("rounds = 3", "rounds = 3\nroundz = 4"), "[run] roundz = 4: unknown key"),
    ("wrong type", GOOD.replace("rounds = 3", 'rounds = "3"'), "[run] rounds = '3': expected an integer"),
    ("negative rounds", GOOD.replace("rounds = 3", "rounds = -3"), "[run] rounds = -3: must be an integer in 1..10000"),
    ("empty stack list", GOOD.replace('stacks = ["flask-gunicorn", "quart-hypercorn", "fastapi-uvicorn"]', "stacks = []"), "[run] stacks = []: must name at least one stack"),
    ("unknown stack", GOOD.replace('"fastapi-uvicorn"]', '"django-wsgi"]'), "unknown stack 'django-wsgi'"),
    ("baseline not measured", GOOD.replace('baseline = "flask-gunicorn"', 'baseline = "flask-gunicorn-gevent"'), "[run] baseline = 'flask-gunicorn-gevent': must be one of the measured stacks"),
    ("level out of range", GOOD.replace("levels = [1, 5]", "levels = [0, 5]"), "[scenarios.fanout] levels = [0, 5]"),
    ("delay out of range", GOOD.replace("delay_ms = 20", "delay_ms = 999999"), "[run] delay_ms = 999999"),
    ("invalid TOML", GOOD.replace("[run]", "[run"), "invalid TOML"),
    ("binary file", None, "not a UTF-8 text file"),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in CONFIG_ERRORS],
                         ids=[c[0] for c in CONFIG_ERRORS])
@pytest.mark.parametrize("command", ["run", "check"])
def test_config_errors(tmp_path: Path, capsys: Any, command: str, text: str | None,
                       message: str) -> None:
    path = tmp_path / "bad.toml"
    if text is None:
        path.write_bytes(b"\xff\xfe\x00garbage")
    else:
        path.write_text(text)
    code = main([command, "--config", str(path), *(["--out", str(tmp_path)] if command == "run" else [])])
    captured = capsys.readouterr()
    assert code == 2
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith(f"asyncbench: config error: {path}: ")
    assert message in lines[0]
    assert "Traceback" not in captured.err + captured.out
    assert not list(tmp_path.glob("*/trials.jsonl"))  # nothing started


def test_unreadable_config(tmp_path: Path, capsys: Any) -> None:
    code = main(["check", "--config", str(tmp_path / "nowhere.toml")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err == f"asyncbench: config error: {tmp_path / 'nowhere.toml'}: cannot read config (No such file or directory)"


CLI_MISUSE = [
    ["frobnicate"],
    ["run", "--rounds", "zero"],
    ["run", "--rounds", "0"],
    ["run", "--seed", "-1"],
    ["run", "--target-ci", "1.5"],
    ["run", "--bogus"],
    ["stats", "a", "b"],
]


@pytest.mark.parametrize("argv", CLI_MISUSE, ids=[" ".join(a) for a in CLI_MISUSE])
def test_cli_misuse(argv: list[str], capsys: Any) -> None:
    code = main(argv)
    captured = capsys.readouterr()
    assert code == 2
    errors = [line for line in captured.err.splitlines() if "error" in line]
    assert len(errors) == 1 and errors[0].startswith("asyncbench: error: "), captured.err
    assert "Traceback" not in captured.err


def test_no_command_prints_help(capsys: Any) -> None:
    assert main([]) == 2
    assert "COMMAND" in capsys.readouterr().out


@pytest.mark.parametrize("command", ["stats", "report", "run --resume"])
def test_missing_run_folder(tmp_path: Path, capsys: Any, command: str) -> None:
    argv = [*command.split(), str(tmp_path / "no-such-run")]
    code = main(argv)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and str(tmp_path / "no-such-run") in err, err


def test_no_runs_at_all(tmp_path: Path, capsys: Any) -> None:
    assert main(["stats", "--results", str(tmp_path)]) == 2
    assert "no run folder found" in capsys.readouterr().err


def _trial(i: int, stack: str, value: float) -> dict[str, Any]:
    return {"schema_version": 1, "run_id": "r", "trial_id": f"t{i}", "round": i, "order": i,
            "scenario": "fanout", "stack": stack, "level": 5, "params": {"n": 5},
            "status": "ok", "error": None,
            "requests": {"total": 1, "ok": 1, "connect": 0, "timeout": 0, "http_status": 0,
                         "bad_body": 0},
            "latency_ms": None, "metrics": {"duration_s": value, "calls_per_s": 5 / value},
            "hdr": None, "checks": None, "resources": None}


def _run_folder(tmp_path: Path, tail: bytes) -> Path:
    run = tmp_path / "run"
    run.mkdir()
    config = {"baseline": "a", "confidence": 0.95, "delay_ms": 100, "model_min_efficiency": 0.5,
              "stacks": {s: {"fanout_mode": m, "concurrency_slots": None}
                         for s, m in (("a", "sequential"), ("b", "concurrent"))}}
    (run / "manifest.json").write_text(json.dumps({"run_id": "r", "seed": 1, "config": config}))
    lines = [json.dumps(_trial(i, "ab"[i % 2], 0.5 if i % 2 == 0 else 0.1)) for i in range(6)]
    (run / "trials.jsonl").write_bytes(("\n".join(lines) + "\n").encode() + tail)
    return run


@pytest.mark.parametrize("tail", [b'{"schema_version": 1, "run_id": "r", "tri',
                                  b"\x00\x01garbage\n", b"[1, 2, 3]\n"],
                         ids=["truncated", "garbage", "not-an-object"])
def test_bad_jsonl_lines_are_skipped_with_a_warning(tmp_path: Path, capsys: Any,
                                                    tail: bytes) -> None:
    run = _run_folder(tmp_path, tail)
    before = (run / "trials.jsonl").read_bytes()
    code = main(["stats", str(run), "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    warnings = captured.err.strip().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith("asyncbench: warning: ")
    assert "trials.jsonl:7: skipped" in warnings[0]
    summary = json.loads(captured.out)
    assert summary["counts"]["ok"] == 6 and summary["counts"]["skipped_lines"] == 1
    assert (run / "trials.jsonl").read_bytes() == before  # reading never rewrites


def test_unwritable_results_folder(tmp_path: Path, capsys: Any) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    code = main(["run", "--config", str(ROOT / "configs/quick.toml"), "--out",
                 str(blocker / "results")])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert len(err.splitlines()) == 1 and "cannot create a run folder" in err


def test_stats_with_another_baseline(tmp_path: Path, capsys: Any) -> None:
    run = _run_folder(tmp_path, b"")
    assert main(["stats", str(run), "--json", "--baseline", "b"]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary["baseline"] == "b"
    [duration] = [s for s in summary["speedups"] if s["stack"] == "a" and s["metric"] == "duration_s"]
    assert duration["ratio"] == pytest.approx(0.1 / 0.5)  # a takes 0.5 s where b takes 0.1 s
    assert main(["stats", str(run), "--baseline", "c"]) == 2
    assert "--baseline 'c' is not a stack of this run" in capsys.readouterr().err
