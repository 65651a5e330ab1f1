"""Reliability: a closed terminal (SIGHUP) or a killed harness (SIGKILL) leaves no server
running. SIGHUP unwinds like SIGTERM (exit 129, the manifest says why); after SIGKILL the
guard every child runs under ends its process group."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from tests.reliability.test_interrupts import CONFIG as INTERRUPT_CONFIG
from tests.reliability.test_interrupts import harness

# A longer run than the interrupt tests' so that it is still going when signalled.
CONFIG = INTERRUPT_CONFIG.replace("rounds = 2", "rounds = 3")


def still_running(pids: set[int]) -> list[int]:
    """The pids that still run; zombies adopted by this process are reaped, not counted."""
    alive = []
    for pid in pids:
        with contextlib.suppress(ChildProcessError, OSError):
            os.waitpid(pid, os.WNOHANG)
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                alive.append(pid)
        except psutil.Error:
            continue
    return alive


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
    deadline = time.monotonic() + 5
    while still_running(seen) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert still_running(seen) == []
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stop_reason"].startswith("terminated (SIGHUP)")


def test_sigkill_of_the_harness_leaves_no_server(tmp_path: Path) -> None:
    proc, seen, _ = start_and_wait_for_servers(tmp_path)
    listening = {c.laddr.port for pid in seen for c in _listening(pid)}
    assert listening, "the servers were not listening before the kill"
    proc.kill()
    proc.communicate(timeout=30)
    deadline = time.monotonic() + 5
    while still_running(seen) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert still_running(seen) == []


def _listening(pid: int) -> list[psutil._common.pconn]:
    try:
        return [c for c in psutil.Process(pid).net_connections(kind="tcp")
                if c.status == psutil.CONN_LISTEN]
    except psutil.Error:
        return []
