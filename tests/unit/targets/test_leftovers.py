"""harness.targets.leftovers: a killed run's children are ended by the next start, and a
crafted pid file cannot make it kill anything else."""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.targets.leftovers import GUARD_ENV, end_leftovers, record, recording


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def sleeper(started: list[subprocess.Popen[bytes]], token: str | None) -> subprocess.Popen[bytes]:
    env = dict(os.environ)
    if token is not None:
        env[GUARD_ENV] = token
    proc = subprocess.Popen(["sleep", "30"], env=env)
    started.append(proc)
    return proc


def entry(proc: subprocess.Popen[bytes], token: str, harness_pid: int) -> dict[str, object]:
    return {"pgid": proc.pid, "started": psutil.Process(proc.pid).create_time(), "token": token,
            "command": ["sleep", "30"], "harness_pid": harness_pid, "harness_started": 1.0}


def test_children_of_a_dead_harness_are_ended(tmp_path: Path,
                                              sleepers: list[subprocess.Popen[bytes]]) -> None:
    left = sleeper(sleepers, "a" * 32)
    pid_file = tmp_path / "run" / "pids.jsonl"
    pid_file.parent.mkdir()
    dead_harness = 2**22 + 7  # above the default pid_max: no such process
    pid_file.write_text(json.dumps(entry(left, "a" * 32, dead_harness)) + "\n")
    ended = end_leftovers([pid_file])
    assert [line.split()[2] for line in ended] == [str(left.pid)]
    assert left.wait(timeout=5) == -9


def test_a_crafted_pid_file_kills_nothing_without_the_token(
        tmp_path: Path, sleepers: list[subprocess.Popen[bytes]]) -> None:
    victim = sleeper(sleepers, None)  # someone's process: right pid and start time, no token
    other = sleeper(sleepers, "b" * 32)  # another run's child, its token not in this file
    pid_file = tmp_path / "pids.jsonl"
    pid_file.write_text(json.dumps(entry(victim, "c" * 32, 2**22 + 7)) + "\n"
                        + json.dumps(entry(other, "d" * 32, 2**22 + 7)) + "\n")
    assert end_leftovers([pid_file]) == []
    assert victim.poll() is None and other.poll() is None


def test_a_living_harness_keeps_its_children(tmp_path: Path,
                                             sleepers: list[subprocess.Popen[bytes]]) -> None:
    child = sleeper(sleepers, "e" * 32)
    pid_file = tmp_path / "pids.jsonl"
    with recording(pid_file):
        record(child.pid, "e" * 32, ["sleep", "30"])
    assert json.loads(pid_file.read_text())["harness_pid"] == os.getpid()
    assert end_leftovers([pid_file]) == []
    assert child.poll() is None


def test_a_linked_pid_file_is_ignored(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere.jsonl"
    target.write_text("{}\n")
    (tmp_path / "pids.jsonl").symlink_to(target)
    assert end_leftovers([tmp_path / "pids.jsonl"]) == []
