"""Counting CPU between two snapshots: the foreign load and one set of processes' own."""

from __future__ import annotations

import os

import pytest

from harness.loadgen.foreign import CpuSnapshot, cores_used, foreign_load, own_pids


def snapshots() -> tuple[CpuSnapshot, CpuSnapshot]:
    """Over 2 s: pid 10 used 1 s, pid 11 (same pid, new process) started and used 0.5 s,
    pid 20 used 3 s, pid 30 ended before the second snapshot."""
    before = CpuSnapshot(100.0, {(10, 1.0): ("postgres", 4.0), (20, 1.0): ("python3", 1.0),
                                 (30, 1.0): ("gone", 9.0)})
    after = CpuSnapshot(102.0, {(10, 1.0): ("postgres", 5.0), (11, 50.0): ("postgres", 0.5),
                                (20, 1.0): ("python3", 4.0)})
    return before, after


def test_cores_used_counts_only_the_named_processes() -> None:
    before, after = snapshots()
    assert cores_used(before, after, {10, 11}) == pytest.approx(0.75)
    assert cores_used(before, after, {20}) == pytest.approx(1.5)
    assert cores_used(before, after, {30, 99}) == 0.0
    assert cores_used(before, after, set()) == 0.0


def test_foreign_load_is_the_complement_of_the_runs_own() -> None:
    before, after = snapshots()
    load = foreign_load(before, after, {10, 11})
    assert load.cores == pytest.approx(1.5)
    assert load.top == (("python3", pytest.approx(1.5)),)


def test_a_tree_is_read_as_the_snapshot_saw_it() -> None:
    seen = CpuSnapshot(0.0, {}, {100: 1, 101: 100, 102: 101, 200: 1, 201: 200})
    assert seen.descendants([100]) == {100, 101, 102}
    assert seen.descendants([101, 200]) == {101, 102, 200, 201}
    assert seen.descendants([]) == set()


def test_a_child_that_ended_after_the_snapshot_is_still_the_runs_own() -> None:
    """A database backend whose client has just disconnected is in the closing snapshot
    but gone a moment later; its CPU is the run's, not another job's."""
    ended = 999_999_999  # beyond any pid_max: no such process now
    seen = CpuSnapshot(0.0, {(ended, 5.0): ("postgres", 1.0)}, {ended: os.getpid()})
    assert ended in own_pids(seen=seen)
    assert ended not in own_pids()
