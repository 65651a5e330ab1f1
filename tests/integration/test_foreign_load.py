"""An honest instrument on a shared machine: other processes' CPU use makes trials invalid
(naming the processes) or stops the run before it measures; placement really pins.

The busy loops are this test's own children and are ended by it. The harness runs as a
separate process (``python -m harness run``) so that the busy loops are not its
descendants: to it they are foreign, as another user's jobs would be.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.paths import PROJECT_ROOT, child_environment
from tests.behaviour import LIMITS_OFF

BUSY = "import time\nend = time.monotonic() + 120\nwhile time.monotonic() < end:\n    pass\n"


@contextlib.contextmanager
def busy_loops(count: int) -> Iterator[list[psutil.Process]]:
    """``count`` processes spinning a CPU each (for two minutes at most); killed on exit."""
    procs = [subprocess.Popen([sys.executable, "-c", BUSY]) for _ in range(count)]
    try:
        yield [psutil.Process(p.pid) for p in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)


def write_config(tmp_path: Path, **run: Any) -> Path:
    lines = ["[run]", 'stacks = ["quart-hypercorn"]', 'baseline = "quart-hypercorn"',
             "rounds = 1", "delay_ms = 50", "warmup_requests = 2"]
    lines += [f"{key} = {json.dumps(value)}" for key, value in run.items()]
    lines += ["", "[scenarios.fanout]", "levels = [1, 2]"]
    path = tmp_path / "busy.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def harness(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "harness", *args], cwd=PROJECT_ROOT,
                          env=child_environment(), capture_output=True, text=True,
                          timeout=timeout, check=False)


def run_dir_of(out: Path) -> Path:
    [manifest] = out.glob("*/manifest.json")
    return manifest.parent


def records(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(x) for x in (run_dir / "trials.jsonl").read_text().splitlines()]


def test_busy_loops_make_trials_invalid_and_are_named(tmp_path: Path) -> None:
    config = write_config(tmp_path, quiet_wait_s=0)
    with busy_loops(2) as loops:
        name = loops[0].name()
        done = harness("run", "--config", str(config), "--out", str(tmp_path / "out"),
                       "--no-report")
    # No arm has an ok trial, so the run fails, its last line saying which and why.
    assert done.returncode == 1, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("asyncbench: error: no ok trial in 2 headline arms: quart-hypercorn "
                           "at fanout N=1, fanout N=2 (last error: foreign load: "), last
    trials = records(run_dir_of(tmp_path / "out"))
    assert len(trials) == 2
    for trial in trials:
        assert trial["status"] == "invalid", trial["error"]
        assert trial["error"].startswith("foreign load: ")
        assert trial["error"].endswith("> limit 0.10")
        assert f"({name} " in trial["error"]  # the busiest processes, by name and CPU
        assert trial["checks"]["foreign_cpu"] > 0.5
        assert trial["checks"]["foreign_top"][0]["name"] == name


def test_a_machine_that_never_gets_quiet_stops_the_run_in_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, quiet_wait_s=3)
    with busy_loops(2):
        done = harness("run", "--config", str(config), "--out", str(tmp_path / "out"),
                       "--no-report")
    assert done.returncode == 2, done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("asyncbench: the machine did not get quiet within 3 s: "), last
    assert "Traceback" not in done.stderr
    assert "waiting for a quiet machine:" in done.stderr
    run_dir = run_dir_of(tmp_path / "out")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stop_reason"].startswith("stopped during round 1: the machine did not")
    assert records(run_dir) == []


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="split placement needs 2 CPUs")
def test_split_placement_pins_the_stack_apart_from_the_harness(tmp_path: Path) -> None:
    config = write_config(tmp_path, placement="split", quiet_wait_s=0)
    config.write_text(config.read_text() + LIMITS_OFF)  # placement is judged, not quietness
    done = harness("run", "--config", str(config), "--out", str(tmp_path / "out"), "--no-report")
    assert done.returncode == 0, done.stderr
    run_dir = run_dir_of(tmp_path / "out")
    placement = json.loads((run_dir / "manifest.json").read_text())["placement"]
    cpus = sorted(os.sched_getaffinity(0))
    half = len(cpus) // 2
    assert placement == {"mode": "split", "stack_cpus": cpus[half:], "harness_cpus": cpus[:half]}
    for trial in records(run_dir):
        # Every process of the server's tree, seen during the trial, had the stated CPUs.
        assert trial["checks"]["server_cpus"] == placement["stack_cpus"]
        assert trial["checks"]["harness_cpus"] == placement["harness_cpus"]
