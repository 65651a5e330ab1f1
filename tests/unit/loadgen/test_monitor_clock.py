"""``TrialMonitor`` on stubbed clocks: the wall, the load generator's CPU and run-queue
wait, the machine's busy share and the server tree's CPU, each computed from readings
handed in, against hand-computed values. No process is measured."""

from __future__ import annotations

import contextlib
from collections import namedtuple
from types import SimpleNamespace
from typing import Any

import psutil
import pytest

from harness.loadgen import monitor
from harness.loadgen.monitor import MIN_MACHINE_WINDOW_S, MonitorResult, TrialMonitor

CpuTimes = namedtuple("CpuTimes", "user system idle iowait guest guest_nice")
MiB = 2**20


class Clocks:
    """Readings at the monitor's entry (phase 0) and exit (phase 1)."""

    def __init__(self, wall: tuple[float, float], thread: tuple[float, float],
                 wait: tuple[float | None, float | None],
                 machine: tuple[CpuTimes, CpuTimes]) -> None:
        self.phase = 0
        self.wall, self.thread, self.wait, self.machine = wall, thread, wait, machine
        self.cpu: dict[int, tuple[float, float]] = {}

    def install(self, patch: pytest.MonkeyPatch) -> None:
        fake_time = SimpleNamespace(
            perf_counter=lambda: self.wall[self.phase],
            thread_time=lambda: self.thread[self.phase],
            clock_gettime=lambda clock: self.cpu[~(clock >> 3)][self.phase])
        patch.setattr(monitor, "time", fake_time)
        patch.setattr(monitor, "thread_runqueue_wait_s", lambda: self.wait[self.phase])
        patch.setattr(psutil, "cpu_times", lambda: self.machine[self.phase])


class Proc:
    """What the monitor reads of a server process."""

    def __init__(self, pid: int, rss_mib: float, pss_mib: float) -> None:
        self.pid, self.rss, self.pss = pid, int(rss_mib * MiB), int(pss_mib * MiB)

    def oneshot(self) -> contextlib.AbstractContextManager[None]:
        return contextlib.nullcontext()

    def memory_info(self) -> Any:
        return SimpleNamespace(rss=self.rss)

    def memory_full_info(self) -> Any:
        return SimpleNamespace(pss=self.pss)


IDLE = CpuTimes(0, 0, 0, 0, 0, 0)


def measure(clocks: Clocks, patch: pytest.MonkeyPatch, trees: tuple[list[Proc], list[Proc]] = ([], [])) -> MonitorResult:
    clocks.install(patch)
    mon = TrialMonitor(lambda: trees[clocks.phase])  # type: ignore[arg-type,return-value]
    with mon:
        clocks.phase = 1
    assert mon.result is not None
    return mon.result


def test_wall_loadgen_cpu_and_wait_come_from_the_clocks(monkeypatch: pytest.MonkeyPatch) -> None:
    clocks = Clocks(wall=(100.0, 102.0), thread=(5.0, 5.5), wait=(3.0, 3.4), machine=(IDLE, IDLE))
    result = measure(clocks, monkeypatch)
    assert result.wall_s == pytest.approx(2.0)
    assert result.loadgen_cpu_fraction == pytest.approx(0.25)
    # The wait is the later reading minus the earlier one, never the other way round.
    assert result.loadgen_wait_s == pytest.approx(0.4)
    assert result.loadgen_wait_fraction == pytest.approx(0.2)


def test_a_wait_the_kernel_does_not_report_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    for wait in ((None, 1.0), (1.0, None)):
        clocks = Clocks(wall=(0.0, 1.0), thread=(0.0, 0.1), wait=wait, machine=(IDLE, IDLE))
        result = measure(clocks, monkeypatch)
        assert result.loadgen_wait_s is None and result.loadgen_wait_fraction is None


def test_the_wait_share_is_capped_at_the_whole_trial() -> None:
    result = MonitorResult(wall_s=1.0, server_cpu_s=0.0, server_peak_rss_mb=0.0,
                           server_processes=0, loadgen_cpu_fraction=0.0, loadgen_wait_s=1.5,
                           machine_cpu_fraction=None)
    assert result.loadgen_wait_fraction == 1.0
    zero = MonitorResult(wall_s=0.0, server_cpu_s=0.0, server_peak_rss_mb=0.0,
                         server_processes=0, loadgen_cpu_fraction=0.0, loadgen_wait_s=0.1,
                         machine_cpu_fraction=None)
    assert zero.loadgen_wait_fraction is None


def test_machine_cpu_is_the_busy_share_leaving_out_idle_iowait_and_guests(monkeypatch: pytest.MonkeyPatch) -> None:
    # Over the window: user 4 (guest time, 1, is part of it and listed again apart),
    # system 1, idle 3, iowait 1: busy 5 of 9.
    start = CpuTimes(10.0, 5.0, 30.0, 2.0, 1.0, 0.0)
    end = CpuTimes(14.0, 6.0, 33.0, 3.0, 2.0, 0.0)
    clocks = Clocks(wall=(0.0, 1.0), thread=(0.0, 0.0), wait=(0.0, 0.0), machine=(start, end))
    assert measure(clocks, monkeypatch).machine_cpu_fraction == pytest.approx(5 / 9)


def test_machine_cpu_needs_a_long_enough_window(monkeypatch: pytest.MonkeyPatch) -> None:
    start, end = CpuTimes(0, 0, 0, 0, 0, 0), CpuTimes(1.0, 0, 1.0, 0, 0, 0)
    inside = Clocks(wall=(0.0, MIN_MACHINE_WINDOW_S), thread=(0.0, 0.0), wait=(0.0, 0.0),
                    machine=(start, end))
    assert measure(inside, monkeypatch).machine_cpu_fraction == pytest.approx(0.5)
    short = Clocks(wall=(0.0, MIN_MACHINE_WINDOW_S - 1e-6), thread=(0.0, 0.0),
                   wait=(0.0, 0.0), machine=(start, end))
    assert measure(short, monkeypatch).machine_cpu_fraction is None


def test_server_cpu_counts_a_worker_born_mid_trial_from_zero(monkeypatch: pytest.MonkeyPatch) -> None:
    clocks = Clocks(wall=(0.0, 2.0), thread=(0.0, 0.1), wait=(0.0, 0.0), machine=(IDLE, IDLE))
    master, worker = Proc(4001, 100, 60), Proc(4002, 50, 20)
    clocks.cpu = {4001: (5.0, 7.0), 4002: (0.5, 0.5)}
    result = measure(clocks, monkeypatch, trees=([master], [master, worker]))
    assert result.server_cpu_s == pytest.approx(2.0 + 0.5)
    assert result.server_processes == 2
    assert result.server_peak_rss_mb == pytest.approx(150.0)
    assert result.server_peak_pss_mb == pytest.approx(80.0)
    assert result.resources(5) == {"cpu_s": 2.5, "peak_rss_mb": 150.0, "peak_pss_mb": 80.0,
                                   "processes": 2, "cpu_ms_per_request": 500.0}
    assert result.resources(0)["cpu_ms_per_request"] is None


