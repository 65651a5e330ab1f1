"""Counting CPU between two snapshots: the foreign load and one set of processes' own."""

from __future__ import annotations

import pytest

from harness.loadgen.foreign import CpuSnapshot, cores_used, foreign_load


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
