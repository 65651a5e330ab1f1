"""The foreign load counts every process that is not the run's own, a process born
between the two snapshots with all its CPU time, against a wall time of the snapshots'."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time

import psutil
import pytest

from harness.loadgen import foreign
from harness.loadgen.foreign import (
    KTHREADD,
    CpuSnapshot,
    ForeignLoad,
    affinity,
    cores_used,
    foreign_load,
    measure_foreign,
    own_pids,
    snapshot,
)


def test_a_foreign_process_born_between_the_snapshots_counts_with_all_its_cpu() -> None:
    # Over 2 s: pid 40 (another job) started after the first snapshot and used 0.8 s.
    before = CpuSnapshot(10.0, {(10, 1.0): ("python3", 1.0)})
    after = CpuSnapshot(12.0, {(10, 1.0): ("python3", 1.5), (40, 11.0): ("stress", 0.8)})
    load = foreign_load(before, after, own={10})
    assert load.cores == pytest.approx(0.4)
    assert load.wall_s == pytest.approx(2.0)
    assert load.top == (("stress", pytest.approx(0.4)),)
    assert cores_used(before, after, {40}) == pytest.approx(0.4)


def test_a_reused_pid_is_a_new_process_not_the_old_ones_difference() -> None:
    # pid 50 ended and a new process took its pid (a new start time): its 0.3 s all count,
    # not 0.3 - 5.0 clipped to nothing.
    before = CpuSnapshot(0.0, {(50, 1.0): ("old", 5.0)})
    after = CpuSnapshot(1.0, {(50, 0.5): ("new", 0.3)})
    assert foreign_load(before, after, own=set()).cores == pytest.approx(0.3)


def test_names_add_up_and_the_busiest_come_first() -> None:
    before = CpuSnapshot(0.0, {(1, 0.0): ("a", 0.0), (2, 0.0): ("b", 0.0), (3, 0.0): ("b", 0.0),
                               (4, 0.0): ("c", 0.0), (5, 0.0): ("d", 0.0), (6, 0.0): ("e", 1.0)})
    after = CpuSnapshot(4.0, {(1, 0.0): ("a", 0.4), (2, 0.0): ("b", 0.8), (3, 0.0): ("b", 0.8),
                              (4, 0.0): ("c", 1.2), (5, 0.0): ("d", 0.4), (6, 0.0): ("e", 0.5)})
    load = foreign_load(before, after, own=set())
    # 0.1 + 0.2 + 0.2 + 0.3 + 0.1 cores; e's clock went backwards: nothing, never negative.
    assert load.cores == pytest.approx(0.9)
    assert load.top == (("c", pytest.approx(0.3)), ("b", pytest.approx(0.2)),
                        ("b", pytest.approx(0.2)))
    assert load.describe() == "0.90 cores used by other processes (c 0.30, b 0.20, b 0.20)"
    assert load.record() == {"foreign_cpu": 0.9, "foreign_top": [
        {"name": "c", "cpu": 0.3}, {"name": "b", "cpu": 0.2}, {"name": "b", "cpu": 0.2}]}


def test_an_idle_machine_has_no_foreign_load_and_a_zero_window_does_not_divide_by_zero() -> None:
    same = CpuSnapshot(5.0, {(1, 0.0): ("a", 2.0)})
    load = foreign_load(same, same, own=set())
    assert load.cores == 0.0 and load.top == () and load.wall_s > 0
    assert load.describe() == "0.00 cores used by other processes"


def test_a_snapshot_sees_this_process_and_its_parent_but_no_kernel_thread() -> None:
    before = snapshot()
    deadline = time.thread_time() + 0.02
    while time.thread_time() < deadline:  # burn a little CPU between the snapshots
        pass
    after = snapshot()
    me = psutil.Process()
    key = (me.pid, me.create_time())
    assert key in before.cpu and key in after.cpu
    assert after.cpu[key][1] - before.cpu[key][1] >= 0.02
    assert after.parents[me.pid] == os.getppid()
    assert KTHREADD not in {pid for pid, _ in after.cpu}
    assert all(after.parents.get(pid) != KTHREADD for pid, _ in after.cpu)
    assert after.at > before.at
    # Our own CPU is not foreign.
    load = foreign_load(before, after, own_pids(seen=after))
    assert all(name != me.name() or cores < 0.5 for name, cores in load.top)


def test_measure_foreign_and_affinity_of_living_processes() -> None:
    load = measure_foreign(0.05)
    assert load.wall_s >= 0.05 and load.cores >= 0.0
    mine = sorted(os.sched_getaffinity(0))
    assert affinity([os.getpid()]) == mine
    assert affinity([os.getpid(), 999_999_999]) == mine  # a pid gone is left out
    assert affinity([]) == []


def test_equal_loads_are_listed_by_name() -> None:
    before = CpuSnapshot(0.0, {})
    after = CpuSnapshot(1.0, {(7, 0.0): ("zeta", 0.2), (8, 0.0): ("alpha", 0.2)})
    assert [name for name, _ in foreign_load(before, after, own=set()).top] == ["alpha", "zeta"]


def test_a_window_under_a_second_divides_by_itself() -> None:
    before = CpuSnapshot(0.0, {(1, 0.0): ("a", 0.0)})
    after = CpuSnapshot(0.5, {(1, 0.0): ("a", 0.1)})
    assert foreign_load(before, after, own=set()).cores == pytest.approx(0.2)
    assert foreign_load(before, after, own=set()).wall_s == pytest.approx(0.5)
    assert cores_used(before, after, {1}) == pytest.approx(0.2)


def test_own_pids_include_grandchildren_and_survive_psutil_errors(
        monkeypatch: pytest.MonkeyPatch) -> None:
    child = subprocess.Popen(["sh", "-c", "sleep 30 & echo $!; wait"], stdout=subprocess.PIPE,
                             text=True)
    try:
        assert child.stdout is not None
        grandchild = int(child.stdout.readline())
        own = own_pids()
        assert {os.getpid(), os.getppid(), child.pid, grandchild} <= own

        def refuse(*args: object, **kwargs: object) -> list[psutil.Process]:
            raise psutil.AccessDenied(os.getpid())

        monkeypatch.setattr(psutil.Process, "children", refuse)
        monkeypatch.setattr(psutil.Process, "parents", refuse)
        assert own_pids([42]) == {os.getpid(), 42}
    finally:
        for pid in (grandchild, child.pid):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
        child.wait(timeout=10)
        if child.stdout is not None:
            child.stdout.close()


def test_a_snapshot_names_processes_keeps_init_and_skips_one_that_vanished(
        monkeypatch: pytest.MonkeyPatch) -> None:
    me = psutil.Process()
    seen = snapshot()
    assert seen.cpu[(me.pid, me.create_time())][0] == me.name()
    assert any(pid == 1 for pid, _ in seen.cpu)  # init is a user process like any other
    real = foreign.process_cpu_s

    def vanished(proc: psutil.Process) -> float:
        if proc.pid == 1:
            raise psutil.NoSuchProcess(1)
        return real(proc)

    monkeypatch.setattr(foreign, "process_cpu_s", vanished)
    later = snapshot()
    assert not any(pid == 1 for pid, _ in later.cpu)
    assert (me.pid, me.create_time()) in later.cpu  # the processes after it are still read


def test_affinity_is_the_union_over_the_processes() -> None:
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one CPU: no narrower affinity to set")
    child = subprocess.Popen(["sleep", "30"])
    try:
        first = min(os.sched_getaffinity(0))
        os.sched_setaffinity(child.pid, {first})
        mine = sorted(os.sched_getaffinity(0))
        assert affinity([child.pid]) == [first]
        assert affinity([os.getpid(), child.pid]) == mine
        assert affinity([999_999_999, child.pid]) == [first]
    finally:
        child.kill()
        child.wait(timeout=10)


def test_the_record_keeps_four_digits() -> None:
    load = ForeignLoad(0.123456, 1.0, (("a", 0.123456),))
    assert load.record() == {"foreign_cpu": 0.1235, "foreign_top": [{"name": "a", "cpu": 0.1235}]}
