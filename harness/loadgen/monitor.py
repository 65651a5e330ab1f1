"""Measurements around a trial: the server's resources and the instrument's own health.

``TrialMonitor`` samples the stack's process tree in a background thread (peak RSS,
and less often peak PSS) and reads CPU times at the start and the end, for the
server tree, the load generator's event-loop thread and the whole machine. It
never judges; the runner compares its figures with the configured limits.

The server tree is the server's process and all its descendants, listed afresh
at every sample, each one's CPU read from its CPU-time clock (nanoseconds, not
psutil's 10 ms ticks): gunicorn, hypercorn and uvicorn workers are children of their
master (uvicorn and hypercorn also keep a multiprocessing resource tracker), and
a worker first seen mid-trial counts from zero CPU. RSS summed over a forked tree
counts shared pages once per process; PSS shares them out, so ``peak_pss_mb`` is
the tree's real footprint and ``peak_rss_mb`` an upper bound.

The load generator is measured on the thread that enters the monitor (the one
running the event loop): its CPU time (``time.thread_time``) and the time it was
runnable but waiting for a CPU (Linux schedstat). A starved load generator uses
*less* CPU, not more; only the run-queue wait shows it.

psutil's machine-wide CPU times tick every 10 ms per CPU, so over a window shorter
than ``MIN_MACHINE_WINDOW_S`` the machine's CPU use is not reported (None).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

SAMPLE_INTERVAL_S = 0.05
PSS_EVERY = 10                # PSS costs ~2 ms a process: sampled every tenth tick (0.5 s)
MIN_MACHINE_WINDOW_S = 0.2    # 20 ticks of 10 ms per CPU: below this, machine CPU is None
SCHEDSTAT = "/proc/thread-self/schedstat"


def thread_runqueue_wait_s() -> float | None:
    """Seconds the calling thread has spent runnable but waiting for a CPU, or None
    where the kernel does not say (``/proc/thread-self/schedstat``, second field, ns)."""
    try:
        with open(SCHEDSTAT, encoding="ascii") as fh:
            return int(fh.read().split()[1]) / 1e9
    except (OSError, IndexError, ValueError):
        return None


def _tree_pss(procs: list[psutil.Process]) -> int | None:
    total = 0
    for proc in procs:
        try:
            total += proc.memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.ZombieProcess):
            continue
        except (psutil.AccessDenied, AttributeError):
            return None
    return total


def process_cpu_s(proc: psutil.Process) -> float:
    """CPU seconds of a whole process (every thread, live or ended), to the nanosecond.

    Reads the process's CPU-time clock (Linux: ``clock_getcpuclockid``, computed as
    ``(~pid << 3) | CPUCLOCK_SCHED``); elsewhere falls back to psutil, whose times
    come in 10 ms ticks, too coarse for a 30 ms trial.
    """
    try:
        return time.clock_gettime((~proc.pid << 3) | 2)
    except (OSError, OverflowError, AttributeError):
        times = proc.cpu_times()
        return float(times.user + times.system)


def _tree_cpu_and_rss(procs: list[psutil.Process]) -> tuple[dict[int, float], int]:
    cpu: dict[int, float] = {}
    rss = 0
    for proc in procs:
        try:
            with proc.oneshot():
                rss += proc.memory_info().rss
                cpu[proc.pid] = process_cpu_s(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return cpu, rss


def _busy(times: Any) -> tuple[float, float]:
    idle = times.idle + getattr(times, "iowait", 0.0)
    guest = getattr(times, "guest", 0.0) + getattr(times, "guest_nice", 0.0)
    return float(sum(times)) - idle - guest, idle


@dataclass
class MonitorResult:
    """What one trial cost and what the instrument saw."""

    wall_s: float
    server_cpu_s: float
    server_peak_rss_mb: float
    server_processes: int
    loadgen_cpu_fraction: float
    loadgen_wait_s: float | None
    machine_cpu_fraction: float | None
    server_peak_pss_mb: float | None = None

    @property
    def loadgen_wait_fraction(self) -> float | None:
        """Share of the trial the load generator was runnable but had no CPU."""
        if self.loadgen_wait_s is None or self.wall_s <= 0:
            return None
        return min(1.0, self.loadgen_wait_s / self.wall_s)

    def resources(self, ok_requests: int) -> dict[str, float | int | None]:
        """The ``resources`` object of a trial record."""
        return {
            "cpu_s": round(self.server_cpu_s, 6),
            "peak_rss_mb": round(self.server_peak_rss_mb, 3),
            "peak_pss_mb": (round(self.server_peak_pss_mb, 3)
                            if self.server_peak_pss_mb is not None else None),
            "processes": self.server_processes,
            "cpu_ms_per_request": (round(1000 * self.server_cpu_s / ok_requests, 6)
                                   if ok_requests else None),
        }


class TrialMonitor:
    """Context manager measuring one trial; ``result`` is set on exit."""

    def __init__(self, server_tree: Callable[[], list[psutil.Process]]) -> None:
        self._tree = server_tree
        self._stop = threading.Event()
        self._peak_rss = 0
        self._peak_pss: int | None = None
        self._cpu_start: dict[int, float] = {}
        self._cpu_last: dict[int, float] = {}
        self._thread = threading.Thread(target=self._sample, name="trial-monitor", daemon=True)
        self.result: MonitorResult | None = None

    def _pss(self, procs: list[psutil.Process]) -> None:
        pss = _tree_pss(procs)
        if pss is not None:
            self._peak_pss = max(self._peak_pss or 0, pss)

    def _sample(self) -> None:
        tick = 0
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            tick += 1
            procs = self._tree()
            cpu, rss = _tree_cpu_and_rss(procs)
            if tick % PSS_EVERY == 0:
                self._pss(procs)
            self._peak_rss = max(self._peak_rss, rss)
            self._cpu_last.update(cpu)
            for pid in cpu:  # a worker born mid-trial starts from zero
                self._cpu_start.setdefault(pid, 0.0)

    def __enter__(self) -> TrialMonitor:
        procs = self._tree()
        self._pss(procs)
        self._cpu_start, self._peak_rss = _tree_cpu_and_rss(procs)
        self._cpu_last = dict(self._cpu_start)
        self._machine_start = psutil.cpu_times()
        # Wall clock outermost: a preemption between two reads may add to the wall
        # time but never only to the wait, so the wait never exceeds the wall.
        self._wall_start = time.perf_counter()
        self._wait_start = thread_runqueue_wait_s()
        self._self_start = time.thread_time()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self_cpu = time.thread_time() - self._self_start
        wait_end = thread_runqueue_wait_s()
        wall = time.perf_counter() - self._wall_start
        machine_end = psutil.cpu_times()
        self._stop.set()
        self._thread.join()
        procs = self._tree()
        cpu, rss = _tree_cpu_and_rss(procs)
        self._pss(procs)
        self._peak_rss = max(self._peak_rss, rss)
        self._cpu_last.update(cpu)
        server_cpu = sum(max(0.0, self._cpu_last[pid] - self._cpu_start.get(pid, 0.0))
                         for pid in self._cpu_last)
        busy0, idle0 = _busy(self._machine_start)
        busy1, idle1 = _busy(machine_end)
        total = (busy1 - busy0) + (idle1 - idle0)
        machine = (busy1 - busy0) / total if total > 0 else 0.0
        waited = (wait_end - self._wait_start
                  if wait_end is not None and self._wait_start is not None else None)
        self.result = MonitorResult(
            wall_s=wall,
            server_cpu_s=server_cpu,
            server_peak_rss_mb=self._peak_rss / 2**20,
            server_processes=len(self._cpu_last),
            loadgen_cpu_fraction=self_cpu / wall if wall > 0 else 0.0,
            loadgen_wait_s=waited,
            machine_cpu_fraction=machine if wall >= MIN_MACHINE_WINDOW_S else None,
            server_peak_pss_mb=self._peak_pss / 2**20 if self._peak_pss is not None else None,
        )
