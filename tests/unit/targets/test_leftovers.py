"""harness.targets.leftovers: a killed run's children are ended, and its temporary folders
removed, by the next start; a crafted pid file cannot make it kill or remove anything else."""

from __future__ import annotations

import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.targets.leftovers import (
    GUARD_ENV,
    dead_networks,
    end_leftovers,
    record,
    record_network,
    recording,
    temporary_folder,
)


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


# --- temporary folders ----------------------------------------------------------------------

DEAD = {"harness_pid": 2**22 + 7, "harness_started": 1.0}


def folder_file(tmp_path: Path, *folders: object) -> Path:
    pid_file = tmp_path / "pids.jsonl"
    pid_file.write_text("".join(json.dumps({"folder": str(f), **DEAD}) + "\n" for f in folders))
    return pid_file


@pytest.fixture
def made() -> Iterator[list[Path]]:
    """Folders made in the real temporary folder, removed after the test whatever happens."""
    folders: list[Path] = []
    yield folders
    for folder in folders:
        if folder.is_symlink():
            folder.unlink()
        else:
            shutil.rmtree(folder, ignore_errors=True)


def test_a_killed_runs_temporary_folders_are_removed_by_the_next_start(
        tmp_path: Path, made: list[Path]) -> None:
    pid_file = tmp_path / "pids.jsonl"
    with recording(pid_file):
        data = temporary_folder("pg")
        logs = temporary_folder()
    made += [data, logs]
    (data / "data").mkdir()
    (data / "data" / "PG_VERSION").write_text("15\n")
    assert re.fullmatch(r"asyncbench-pg-[a-z0-9_]{8}", data.name)
    assert [json.loads(line)["folder"] for line in pid_file.read_text().splitlines()] == [
        str(data), str(logs)]
    assert end_leftovers([pid_file]) == []  # this harness is alive: its folders stay
    assert data.is_dir() and logs.is_dir()
    pid_file.write_text("".join(  # now as a killed harness left them
        json.dumps({**json.loads(line), **DEAD}) + "\n"
        for line in pid_file.read_text().splitlines()))
    assert end_leftovers([pid_file]) == [
        f"removed {data}, left by an earlier run that was killed",
        f"removed {logs}, left by an earlier run that was killed"]
    assert not data.exists() and not logs.exists()


def test_a_crafted_pid_file_removes_no_folder_the_harness_would_not_make(
        tmp_path: Path, made: list[Path]) -> None:
    victim = tmp_path / "victim"
    victim.mkdir()
    (victim / "precious.txt").write_text("mine\n")
    temp = Path(tempfile.gettempdir())
    link = temp / f"asyncbench-{secrets.token_hex(4)}"  # the right name, but a link
    link.symlink_to(victim)
    inside_link = temp / f"asyncbench-{secrets.token_hex(4)}"  # a real folder holding a link
    inside_link.mkdir()
    (inside_link / "escape").symlink_to(victim)
    other_name = Path(tempfile.mkdtemp(prefix="someone-else-"))
    nested = tmp_path / f"asyncbench-{secrets.token_hex(4)}"  # not in the temporary folder
    nested.mkdir()
    made += [link, inside_link, other_name]
    crafted = [link, other_name, nested, "relative/asyncbench-abcdefgh",
               f"{temp}/../{temp.name}/{inside_link.name}", victim]
    assert end_leftovers([folder_file(tmp_path, *crafted)]) == []
    assert link.is_symlink() and other_name.is_dir() and nested.is_dir() and inside_link.is_dir()
    # A folder of the harness's making is removed without following a link inside it.
    assert end_leftovers([folder_file(tmp_path, inside_link)]) == [
        f"removed {inside_link}, left by an earlier run that was killed"]
    assert (victim / "precious.txt").read_text() == "mine\n"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to give a folder to another user")
def test_a_folder_another_user_owns_is_left_alone(tmp_path: Path, made: list[Path]) -> None:
    folder = Path(tempfile.mkdtemp(prefix="asyncbench-"))
    made.append(folder)
    nobody = pwd.getpwnam("nobody")
    os.chown(folder, nobody.pw_uid, nobody.pw_gid)
    assert end_leftovers([folder_file(tmp_path, folder)]) == []
    assert folder.is_dir()


def test_a_temporary_folders_kind_is_a_plain_word() -> None:
    with pytest.raises(ValueError, match="lower-case letters"):
        temporary_folder("../x")


# --- networks --------------------------------------------------------------------------------

def network_entry(prefix: object, token: object, harness_pid: int) -> dict[str, object]:
    return {"kind": "network", "prefix": prefix, "token": token, "harness_pid": harness_pid,
            "harness_started": 1.0}


def test_networks_of_dead_harnesses_are_listed_once(tmp_path: Path) -> None:
    pid_file = tmp_path / "pids.jsonl"
    with recording(pid_file):
        record_network("abn", "00aa11")  # this (living) harness's
    lines = [network_entry("abn", "22bb33", 2**22 + 7)] * 2 + [
        network_entry(["abn"], "44cc55", 2**22 + 7),  # a prefix that is not a string
        {"kind": "network", "prefix": "abn", "harness_pid": 2**22 + 7},  # no token
        {"kind": "network", "prefix": "abn", "token": 7, "harness_pid": 2**22 + 7}]
    with pid_file.open("a") as fh:
        fh.write("".join(json.dumps(line) + "\n" for line in lines) + "{truncated\n")
    assert json.loads(pid_file.read_text().splitlines()[0])["harness_pid"] == os.getpid()
    assert dead_networks([pid_file]) == [("abn", "22bb33")]


def test_a_network_entry_is_no_process_token(tmp_path: Path,
                                             sleepers: list[subprocess.Popen[bytes]]) -> None:
    """A network's token never makes a process of that token a leftover: only process
    entries name processes."""
    child = sleeper(sleepers, "f" * 32)
    pid_file = tmp_path / "pids.jsonl"
    pid_file.write_text(json.dumps(network_entry("abn", "f" * 32, 2**22 + 7)) + "\n")
    assert end_leftovers([pid_file]) == []
    assert child.poll() is None
