"""Reliability: a closed terminal (SIGHUP) or a killed harness (SIGKILL) leaves no server
running. SIGHUP unwinds like SIGTERM (exit 129, the manifest says why); after SIGKILL the
guard every child runs under ends its process group, and the next run over the same
results folder removes the temporary folders the killed run named in its pid file."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from harness.errors import TargetError
from harness.targets.postgres import find_bin_dir
from tests.behaviour import LIMITS_OFF
from tests.procs import still_running
from tests.reliability.test_interrupts import CONFIG as INTERRUPT_CONFIG
from tests.reliability.test_interrupts import harness

# A longer run than the interrupt tests' so that it is still going when signalled.
CONFIG = INTERRUPT_CONFIG.replace("rounds = 2", "rounds = 3")


def start_and_wait_for_servers(tmp_path: Path) -> tuple[subprocess.Popen[str], set[int], Path]:
    """A run in a subprocess, once it has a trial recorded and its servers are up; with
    every descendant seen so far."""
    config = tmp_path / "hangup.toml"
    config.write_text(CONFIG)
    out = tmp_path / "results"
    proc = harness("run", "--config", str(config), "--out", str(out), "--no-report")
    seen: set[int] = set()
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        children = psutil.Process(proc.pid).children(recursive=True)
        seen.update(p.pid for p in children)
        trials = list(out.glob("*/trials.jsonl"))
        if trials and trials[0].read_text().count("\n") >= 1 and len(children) >= 4:
            return proc, seen | {p.pid for p in children}, trials[0].parent
        time.sleep(0.02)
    proc.kill()
    proc.wait()
    pytest.fail("the run never got going")


def test_sighup_stops_every_server_and_says_why(tmp_path: Path) -> None:
    proc, seen, run_dir = start_and_wait_for_servers(tmp_path)
    try:
        proc.send_signal(signal.SIGHUP)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 129, err
    assert "Traceback" not in err and "terminated (SIGHUP)" in err
    assert still_running(seen, settle_s=5) == []
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stop_reason"].startswith("terminated (SIGHUP)")


def test_sigkill_of_the_harness_leaves_no_server(tmp_path: Path) -> None:
    proc, seen, _ = start_and_wait_for_servers(tmp_path)
    listening = {c.laddr.port for pid in seen for c in _listening(pid)}
    assert listening, "the servers were not listening before the kill"
    proc.kill()
    proc.communicate(timeout=30)
    assert still_running(seen, settle_s=5) == []


def _listening(pid: int) -> list[psutil._common.pconn]:
    try:
        return [c for c in psutil.Process(pid).net_connections(kind="tcp")
                if c.status == psutil.CONN_LISTEN]
    except psutil.Error:
        return []


PG_CONFIG = """
[run]
stacks = ["flask-gunicorn-pg", "fastapi-uvicorn-pg"]
baseline = "flask-gunicorn-pg"
rounds = 3
seed = 5
delay_ms = 20
warmup_requests = 0
quiet_wait_s = 0

[upstream]
kind = "postgres"

[scenarios.clients]
levels = [1, 2]

[stacks.flask-gunicorn-pg]
workers = 1
threads = 2
pool_size = 2

[stacks.fastapi-uvicorn-pg]
workers = 1
pool_size = 2
"""

NEXT_CONFIG = """
[run]
stacks = ["flask-gunicorn", "fastapi-uvicorn"]
rounds = 1
delay_ms = 10
warmup_requests = 0
quiet_wait_s = 0

[scenarios.clients]
levels = [1]

[stacks.flask-gunicorn]
workers = 1

[stacks.fastapi-uvicorn]
workers = 1
""" + LIMITS_OFF


def _recorded_folders(out: Path) -> list[Path]:
    found = []
    for pid_file in out.glob("*/pids.jsonl"):
        for line in pid_file.read_text().splitlines():
            entry = json.loads(line)
            if "folder" in entry:
                found.append(Path(entry["folder"]))
    return found


def test_the_next_run_removes_the_folders_of_a_killed_postgres_run(tmp_path: Path) -> None:
    """SIGKILL unwinds nothing, so PostgreSQL's throw-away data folder stays; the pid file
    names it, and the next run over the same results folder removes it (and says so)."""
    try:
        find_bin_dir()
    except TargetError as exc:
        pytest.skip(str(exc))
    (tmp_path / "pg.toml").write_text(PG_CONFIG)
    (tmp_path / "next.toml").write_text(NEXT_CONFIG)
    out = tmp_path / "results"
    proc = harness("run", "--config", str(tmp_path / "pg.toml"), "--out", str(out),
                   "--no-report")
    seen: set[int] = set()
    folders: list[Path] = []
    try:
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and not folders:
            assert proc.poll() is None, proc.communicate()
            seen.update(p.pid for p in psutil.Process(proc.pid).children(recursive=True))
            folders = [f for f in _recorded_folders(out) if (f / "data" / "PG_VERSION").exists()]
            time.sleep(0.05)
        assert folders, "the run never started its database"
        time.sleep(0.5)  # let the server come up inside it
        seen.update(p.pid for p in psutil.Process(proc.pid).children(recursive=True))
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert still_running(seen, settle_s=10) == []
    assert all(folder.is_dir() for folder in folders)  # what SIGKILL left behind
    bystander = folders[0].parent / f"{folders[0].name[:-1]}Z"  # not a name the harness makes
    bystander.mkdir()
    try:
        nxt = harness("run", "--config", str(tmp_path / "next.toml"), "--out", str(out),
                      "--no-report")
        _, err = nxt.communicate(timeout=300)
        assert nxt.returncode == 0, err
        said = " ".join(err.split())  # the progress display wraps its notes
        for folder in folders:
            assert not folder.exists()
            assert f"removed {folder}, left by an" in said
        assert bystander.is_dir()
    finally:
        shutil.rmtree(bystander, ignore_errors=True)
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
