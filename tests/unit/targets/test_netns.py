"""What decides whether a run may make namespaces, and whose leftovers a start removes.

Nothing here creates a namespace (``tests/integration/test_namespaces.py`` does): the
removal is recorded instead of run, and the lock folder is a temporary one.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.targets import netns
from harness.targets.topology import Names

FULL = "CapEff:\t000001ffffffffff\n"


def status(caps: int) -> str:
    return f"Name:\tpython\nCapEff:\t{caps:016x}\n"


def test_privilege_needs_both_capabilities_and_ip(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns.shutil, "which", lambda name: "/usr/sbin/ip")
    both = 1 << netns.CAP_NET_ADMIN | 1 << netns.CAP_SYS_ADMIN
    assert netns.privilege_problem(status(both)) is None
    assert netns.privilege_problem(FULL) is None
    only_net = netns.privilege_problem(status(1 << netns.CAP_NET_ADMIN))
    assert only_net is not None and "needs CAP_SYS_ADMIN," in only_net
    none = netns.privilege_problem(status(0))
    assert none is not None and "CAP_NET_ADMIN and CAP_SYS_ADMIN" in none and "\n" not in none
    assert netns.privilege_problem("CapEff:\tzz\n") is not None  # unreadable: no privilege
    assert netns.privilege_problem("") is not None
    monkeypatch.setattr(netns.shutil, "which", lambda name: None)
    assert netns.privilege_problem(FULL) == "the ip command (iproute2) is not installed"


@pytest.fixture
def lock_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, list[str]]]:
    """A temporary lock folder, privilege granted, and removals recorded, not run."""
    folder = tmp_path / "locks"
    folder.mkdir()
    removed: list[str] = []
    monkeypatch.setattr(netns, "LOCK_DIR", folder)
    monkeypatch.setattr(netns, "privilege_problem", lambda: None)

    def fake_remove(names: Names) -> list[str]:
        removed.append(names.stem)
        return [names.bridge]

    monkeypatch.setattr(netns, "remove", fake_remove)
    yield folder, removed


def test_a_dead_runs_network_is_removed_a_live_ones_is_not(
        lock_dir: tuple[Path, list[str]]) -> None:
    folder, removed = lock_dir
    (folder / "abn00aa11.lock").write_text("")  # its run is gone: nobody holds the lock
    held = os.open(folder / "abn22bb33.lock", os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(held, fcntl.LOCK_EX)  # a live run
        lines = netns.remove_leftovers([], "abn")
    finally:
        os.close(held)
    assert removed == ["abn00aa11"]
    assert lines == ["removed abn00aa11br left by a run that was killed"]
    assert not (folder / "abn00aa11.lock").exists() and (folder / "abn22bb33.lock").exists()


def test_other_prefixes_and_malformed_names_are_left_alone(
        lock_dir: tuple[Path, list[str]]) -> None:
    folder, removed = lock_dir
    for name in ("xyz00aa11.lock", "abn00aa1.lock", "abn00AA11.lock", "abn00aa11x.lock",
                 "allocate.lock"):
        (folder / name).write_text("")
    assert netns.remove_leftovers([], "abn") == []
    assert removed == []


def test_a_crafted_pid_file_cannot_reach_a_live_or_foreign_network(
        tmp_path: Path, lock_dir: tuple[Path, list[str]]) -> None:
    folder, removed = lock_dir
    held = os.open(folder / "abn22bb33.lock", os.O_RDWR | os.O_CREAT)
    pid_file = tmp_path / "pids.jsonl"
    dead = {"kind": "network", "harness_pid": 2**22 + 7, "harness_started": 1.0}
    entries = [{**dead, "prefix": "abn", "token": "22bb33"},  # a live run's token
               {**dead, "prefix": "et", "token": "h0"},  # not a name the harness makes
               {**dead, "prefix": "../..", "token": "00aa11"},
               {**dead, "prefix": "abn", "token": "44cc55"}]  # no lock file: nothing made
    pid_file.write_text("".join(json.dumps(e) + "\n" for e in entries))
    try:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert netns.remove_leftovers([pid_file], "other") == []
    finally:
        os.close(held)
    assert removed == []
    # Once the run holding the lock is gone, its recorded network is removed.
    (folder / "xq44cc55.lock").write_text("")
    entries.append({**dead, "prefix": "xq", "token": "44cc55"})
    pid_file.write_text("".join(json.dumps(e) + "\n" for e in entries))
    netns.remove_leftovers([pid_file], "other")
    assert sorted(removed) == ["abn22bb33", "xq44cc55"]


def test_without_privilege_a_leftover_is_named_not_touched(
        lock_dir: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    folder, removed = lock_dir
    monkeypatch.setattr(netns, "privilege_problem", lambda: "no")
    (folder / "abn00aa11.lock").write_text("")
    assert netns.remove_leftovers([], "abn") == [
        "cannot remove network abn00aa11* left by a run that was killed (needs root)"]
    assert removed == [] and (folder / "abn00aa11.lock").exists()


def test_what_could_not_be_removed_keeps_its_lock_for_the_next_start(
        lock_dir: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch) -> None:
    folder, removed = lock_dir
    (folder / "abn00aa11.lock").write_text("")
    monkeypatch.setattr(netns, "_exists", lambda names: True)  # a namespace would not go
    netns.remove_leftovers([], "abn")
    assert removed == ["abn00aa11"] and (folder / "abn00aa11.lock").exists()
    monkeypatch.setattr(netns, "_exists", lambda names: False)
    netns.remove_leftovers([], "abn")
    assert removed == ["abn00aa11"] * 2 and not (folder / "abn00aa11.lock").exists()
