"""Reliability: a run folder from someone else is untrusted input.

Each test crafts a hostile run folder in a temporary folder, runs the command a user
would run on it, and checks the one-line refusal, the exit code, and that no file
outside the run folder changed. None of these starts a server: every refusal comes
before anything is started.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.config.load import config_from_dict
from tests.unit.report.test_bundle import RUN_ID, read_members, write_run

Snapshot = dict[str, str]


def snapshot(root: Path, skip: Path) -> Snapshot:
    """Every path under ``root`` but outside ``skip``: its link target or content hash."""
    found: Snapshot = {}
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        if here == skip or skip in here.parents:
            dirnames.clear()
            continue
        for name in dirnames + filenames:
            path = here / name
            if path == skip:
                continue
            if path.is_symlink():
                found[str(path)] = "link:" + os.readlink(path)
            elif path.is_file():
                found[str(path)] = hashlib.sha256(path.read_bytes()).hexdigest()
            else:
                found[str(path)] = "dir"
    return found


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    path = write_run(tmp_path / "results")
    (tmp_path / "victim.txt").write_text("the user's own file\n")
    (tmp_path / "outside").mkdir()
    (tmp_path / "outside" / "secret.svg").write_text("<svg>secret</svg>\n")
    return path


def refused(capsys: pytest.CaptureFixture[str], argv: list[str], code: int = 2) -> str:
    """Run the CLI; assert ``code`` and a one-line error without a traceback; return it."""
    assert main(argv) == code
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("asyncbench: "), err
    assert "Traceback" not in err
    return err


def edit_manifest(run_dir: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = run_dir / "manifest.json"
    manifest = json.loads(path.read_text())
    change(manifest)
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")


# --- item 1: writes through links ---------------------------------------------------------

@pytest.mark.parametrize("name", ["report.md", "report.html", "figures/fanout_duration.svg"])
def test_report_never_writes_through_a_linked_run_file(
        tmp_path: Path, run_dir: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    (run_dir / name).unlink()
    (run_dir / name).symlink_to(tmp_path / "victim.txt")
    before = snapshot(tmp_path, run_dir)
    err = refused(capsys, ["report", str(run_dir)])
    assert f"{run_dir / name}: a symbolic link where a run file belongs" in err
    assert snapshot(tmp_path, run_dir) == before
    assert (tmp_path / "victim.txt").read_text() == "the user's own file\n"


def test_a_linked_figures_folder_is_neither_written_nor_packed(
        tmp_path: Path, run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for path in (run_dir / "figures").iterdir():
        path.unlink()
    (run_dir / "figures").rmdir()
    (run_dir / "figures").symlink_to(tmp_path / "outside")
    before = snapshot(tmp_path, run_dir)
    assert "figures: a symbolic link" in refused(capsys, ["report", str(run_dir)])
    assert "figures: a symbolic link" in refused(capsys, ["publish", str(run_dir)])
    assert snapshot(tmp_path, run_dir) == before
    assert not list(tmp_path.rglob("*.tar.gz"))


def test_publish_never_packs_a_linked_figure(
        tmp_path: Path, run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (run_dir / "figures" / "stolen.svg").symlink_to(tmp_path / "outside" / "secret.svg")
    before = snapshot(tmp_path, run_dir)
    err = refused(capsys, ["publish", str(run_dir)])
    assert "stolen.svg: a symbolic link" in err
    assert snapshot(tmp_path, run_dir) == before
    assert not list(tmp_path.rglob("*.tar.gz"))


@pytest.mark.parametrize("name", ["trials.jsonl", "manifest.json"])
def test_resume_never_appends_or_truncates_through_a_link(
        tmp_path: Path, run_dir: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    victim = tmp_path / "victim.txt"
    tail = b'{"half a line' if name == "trials.jsonl" else b""  # repair_tail would cut it
    victim.write_bytes((run_dir / name).read_bytes() + tail)
    (run_dir / name).unlink()
    (run_dir / name).symlink_to(victim)
    before = snapshot(tmp_path, run_dir)
    err = refused(capsys, ["run", "--resume", str(run_dir), "--no-report"])
    assert f"{run_dir / name}: a symbolic link" in err
    assert snapshot(tmp_path, run_dir) == before


@pytest.mark.parametrize("name", ["logs", "reruns"])
def test_resume_and_rerun_never_write_into_a_linked_folder(
        tmp_path: Path, run_dir: Path, capsys: pytest.CaptureFixture[str], name: str) -> None:
    (run_dir / name).symlink_to(tmp_path / "outside")
    before = snapshot(tmp_path, run_dir)
    if name == "logs":
        argv = ["run", "--resume", str(run_dir), "--no-report"]
    else:
        argv = ["rerun", str(run_dir), "r001-flask-gunicorn-fanout-1", "--repeat", "1"]
    assert f"{run_dir / name}: a symbolic link" in refused(capsys, argv)
    assert snapshot(tmp_path, run_dir) == before
    assert sorted(p.name for p in (tmp_path / "outside").iterdir()) == ["secret.svg"]


# --- item 3: publish trusts nothing in the manifest ---------------------------------------

@pytest.mark.parametrize("run_id", ["../../escaped", "/tmp/escaped", "a/b", "..", "other-run"])
def test_publish_refuses_a_run_id_that_is_not_the_folders_name(
        tmp_path: Path, run_dir: Path, capsys: pytest.CaptureFixture[str], run_id: str) -> None:
    def hostile(manifest: dict[str, Any]) -> None:
        manifest["run_id"] = run_id

    edit_manifest(run_dir, hostile)
    before = snapshot(tmp_path, run_dir)
    err = refused(capsys, ["publish", str(run_dir)])
    assert f"run_id {run_id!r}" in err and "refusing to publish" in err
    assert snapshot(tmp_path, run_dir) == before
    assert not list(tmp_path.rglob("*.tar.gz")) and not Path("/tmp/escaped.tar.gz").exists()


def test_publish_never_packs_a_config_file_from_outside_the_project(
        tmp_path: Path, run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    secret = tmp_path / "outside" / "id_rsa"
    secret.write_text("PRIVATE KEY\n")

    def hostile(manifest: dict[str, Any]) -> None:
        manifest["config"]["source"] = str(secret)

    edit_manifest(run_dir, hostile)
    out = tmp_path / "b.tar.gz"
    assert main(["publish", str(run_dir), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert f"config file {str(secret)!r} is not inside the project" in err
    members = read_members(out)
    assert f"{RUN_ID}/config.toml" not in members
    assert not any(b"PRIVATE KEY" in data for data in members.values())


# --- item 4: reruns and resumes do not obey foreign network settings ---------------------

EXTERNAL = config_from_dict({
    "run": {"stacks": ["flask-gunicorn"], "target": "external", "delay_ms": 50},
    "scenarios": {"fanout": {"levels": [1, 5]}},
    "external": {"upstream_url": "http://203.0.113.9:18000",
                 "stacks": {"flask-gunicorn": "http://203.0.113.9:18001"}},
})


@pytest.mark.parametrize("command", ["rerun", "resume"])
@pytest.mark.parametrize("kind", ["host", "external"])
def test_a_foreign_network_setting_is_shown_then_refused(
        tmp_path: Path, run_dir: Path, capsys: pytest.CaptureFixture[str], command: str,
        kind: str) -> None:
    def hostile(manifest: dict[str, Any]) -> None:
        if kind == "host":
            manifest["config"]["host"] = "0.0.0.0"
        else:
            manifest["config"] = EXTERNAL.resolved()

    edit_manifest(run_dir, hostile)
    before = snapshot(tmp_path, tmp_path / "none")  # the run folder included
    argv = (["rerun", str(run_dir), "r001-flask-gunicorn-fanout-1", "--repeat", "1"]
            if command == "rerun" else ["run", "--resume", str(run_dir), "--no-report"])
    assert main(argv) == 2
    captured = capsys.readouterr()
    if kind == "host":
        assert "host: 0.0.0.0" in captured.out
        assert "host '0.0.0.0' is not a loopback address" in captured.err
    else:
        assert "target: external" in captured.out
        assert "URLs: http://203.0.113.9:18000, http://203.0.113.9:18001" in captured.out
        assert "target 'external' sends requests" in captured.err
    assert captured.err.count("\n") == 1 and "pass --allow-remote" in captured.err
    assert snapshot(tmp_path, tmp_path / "none") == before  # nothing written anywhere


# --- items 1 and 7: recorded strings in the report ----------------------------------------

def test_recorded_strings_cannot_add_lines_or_links_to_the_report(run_dir: Path) -> None:
    def hostile(manifest: dict[str, Any]) -> None:
        manifest["command"] = ("python -m harness run\n```\n# Injected heading\n"
                               "see https://evil.example/x or www.evil.example $x^2$")
        manifest["stop_reason"] = "box\n# Injected too https://evil.example"

    edit_manifest(run_dir, hostile)
    assert main(["report", str(run_dir)]) == 0
    lines = (run_dir / "report.md").read_text().splitlines()
    assert not any(line.startswith("# Injected") for line in lines)
    command = [i for i, line in enumerate(lines) if "python -m harness run" in line]
    assert len(command) == 1  # the command, flattened to one line in its code block
    assert lines[command[0] - 1].startswith("```") and lines[command[0] + 1].startswith("```")
    prose = "\n".join(line for i, line in enumerate(lines) if i != command[0])
    assert r"box \# Injected too https&#58;//evil.example" in prose  # flattened, unlinked
    assert "https://evil" not in prose and "www.evil" not in prose


def test_hostile_bursts_windows_and_arrivals_cannot_break_the_report(
        run_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Clients trials whose bursts, window and arrival are malformed or hostile: the report
    and stats still come out, and nothing recorded adds a line to the report."""
    hostile_bursts: list[Any] = [
        {"duration_s": 2.0, "throughput_rps": 10.0, "busiest_worker": "all\n# Injected",
         "connections": [1, 2], "workers": "x"},
        {"duration_s": -1, "throughput_rps": 1e308},
        "not a burst", None, {"duration_s": 1.0, "throughput_rps": 20.0, "busiest_worker": 1e300},
    ]
    arrivals: list[Any] = [
        {"mode": "bursts\n# Injected", "bursts": 3},
        {"mode": "sustained", "duration_s": 5, "warmup_s": 9},
        "burst", None, {"mode": "bursts", "bursts": 10**9},
    ]
    lines = []
    for round_no, (stack, arrival) in enumerate(
            [(s, a) for s in ("flask-gunicorn", "quart-hypercorn") for a in arrivals], 1):
        lines.append({
            "schema_version": 1, "run_id": RUN_ID, "round": round_no, "order": 0,
            "trial_id": f"r{round_no:03d}-{stack}-clients-20", "scenario": "clients",
            "stack": stack, "level": 20, "status": "ok", "error": None,
            "params": {"clients": 20, "delay_ms": "slow", "arrival": arrival},
            "requests": {"ok": 20, "total": 20}, "latency_ms": {"mean": 100.0},
            "metrics": {"duration_s": 1.0 + round_no / 100, "throughput_rps": 20.0},
            "bursts": hostile_bursts if round_no % 2 else {"a": 1},
            "window": ["not", "a", "window"], "checks": {}, "resources": {}})
    with (run_dir / "trials.jsonl").open("a") as fh:
        fh.write("".join(json.dumps(line) + "\n" for line in lines))
    assert main(["report", str(run_dir)]) == 0
    report = (run_dir / "report.md").read_text()
    assert not any(line.startswith("# Injected") for line in report.splitlines())
    assert "Every burst: the spread beside the mean" in report
    capsys.readouterr()
    assert main(["stats", str(run_dir), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out)
    rows = [r for r in summary["bursts"] if r["stack"] == "flask-gunicorn"]
    assert rows and rows[0]["arrival"] is None  # the trials arrived in no one stated way
