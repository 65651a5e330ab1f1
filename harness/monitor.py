"""Measurements around a trial: the server's resources and the instrument's own health.

``TrialMonitor`` samples the stack's process tree in a background thread (peak RSS)
and reads CPU times at the start and the end, for the server tree, the load
generator's own process and the whole machine. It never judges; the runner
compares its figures with the configured limits.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import psutil

SAMPLE_INTERVAL_S = 0.05


def _tree_cpu_and_rss(procs: list[psutil.Process]) -> tuple[dict[int, float], int]:
    cpu: dict[int, float] = {}
    rss = 0
    for proc in procs:
        try:
            with proc.oneshot():
                times = proc.cpu_times()
                cpu[proc.pid] = times.user + times.system
                rss += proc.memory_info().rss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
    return cpu, rss


def _busy(times: Any) -> tuple[float, float]:
    idle = times.idle + getattr(times, "iowait", 0.0)
    return float(sum(times)) - idle - getattr(times, "guest", 0.0) - getattr(times, "guest_nice", 0.0), idle


@dataclass
class MonitorResult:
    """What one trial cost and what the instrument saw."""

    wall_s: float
    server_cpu_s: float
    server_peak_rss_mb: float
    server_processes: int
    loadgen_cpu_fraction: float
    machine_cpu_fraction: float

    def resources(self, ok_requests: int) -> dict[str, float | int | None]:
        """The ``resources`` object of a trial record."""
        return {
            "cpu_s": round(self.server_cpu_s, 6),
            "peak_rss_mb": round(self.server_peak_rss_mb, 3),
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
        self._cpu_start: dict[int, float] = {}
        self._cpu_last: dict[int, float] = {}
        self._thread = threading.Thread(target=self._sample, name="trial-monitor", daemon=True)
        self.result: MonitorResult | None = None

    def _sample(self) -> None:
        while not self._stop.wait(SAMPLE_INTERVAL_S):
            cpu, rss = _tree_cpu_and_rss(self._tree())
            self._peak_rss = max(self._peak_rss, rss)
            self._cpu_last.update(cpu)
            for pid, value in cpu.items():  # a worker born mid-trial starts from zero
                self._cpu_start.setdefault(pid, 0.0)

    def __enter__(self) -> TrialMonitor:
        self._cpu_start, self._peak_rss = _tree_cpu_and_rss(self._tree())
        self._cpu_last = dict(self._cpu_start)
        self._machine_start = psutil.cpu_times()
        self._self_start = time.process_time()
        self._wall_start = time.perf_counter()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        wall = time.perf_counter() - self._wall_start
        self_cpu = time.process_time() - self._self_start
        machine_end = psutil.cpu_times()
        self._stop.set()
        self._thread.join()
        cpu, rss = _tree_cpu_and_rss(self._tree())
        self._peak_rss = max(self._peak_rss, rss)
        self._cpu_last.update(cpu)
        server_cpu = sum(max(0.0, self._cpu_last[pid] - self._cpu_start.get(pid, 0.0))
                         for pid in self._cpu_last)
        busy0, idle0 = _busy(self._machine_start)
        busy1, idle1 = _busy(machine_end)
        total = (busy1 - busy0) + (idle1 - idle0)
        self.result = MonitorResult(
            wall_s=wall,
            server_cpu_s=server_cpu,
            server_peak_rss_mb=self._peak_rss / 2**20,
            server_processes=len(self._cpu_last),
            loadgen_cpu_fraction=self_cpu / wall if wall > 0 else 0.0,
            machine_cpu_fraction=(busy1 - busy0) / total if total > 0 else 0.0,
        )
