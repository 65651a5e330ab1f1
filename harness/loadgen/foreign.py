"""Foreign load: the CPU that processes outside the run used while it measured.

A benchmark on a busy machine measures the machine. Two snapshots of every process's CPU
time (its CPU-time clock, to the nanosecond) bracket a trial; the difference, for every
process that is not the run's own, divided by the wall time, is the foreign load in
cores. The run's own processes are the harness, all its descendants (load-generator
processes, the mock upstream, the stack under test), its ancestors (what launched it, up
to init, which mostly relay its output) and any pid the target names.

Kernel threads (children of kthreadd) are left out: they include the softirq work of the
run's own network traffic. A process that started and ended between the two snapshots is
invisible to them; the whole machine's busy time, which the monitor also records, bounds it.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

import psutil

from harness.loadgen.monitor import process_cpu_s

KTHREADD = 2
TOP = 3


@dataclass(frozen=True)
class CpuSnapshot:
    """Every user process's CPU seconds at one moment, keyed by (pid, start time), and
    each one's parent (pid -> ppid), so that a tree can be read as it was at that moment."""

    at: float
    cpu: dict[tuple[int, float], tuple[str, float]]
    parents: dict[int, int] = field(default_factory=dict)

    def descendants(self, roots: Iterable[int]) -> set[int]:
        """``roots`` and every process below them, as the snapshot saw them.

        Read from the snapshot, not from the live system: a process that ended just after
        the snapshot (a database backend whose client has just disconnected) still counts
        as the tree's.
        """
        children: dict[int, list[int]] = {}
        for pid, ppid in self.parents.items():
            children.setdefault(ppid, []).append(pid)
        found, todo = set(roots), list(roots)
        while todo:
            for child in children.get(todo.pop(), ()):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return found


def snapshot() -> CpuSnapshot:
    """Read the CPU time of every user-space process (kernel threads left out)."""
    cpu: dict[tuple[int, float], tuple[str, float]] = {}
    parents: dict[int, int] = {}
    for proc in psutil.process_iter(["name", "ppid", "create_time"]):
        info = proc.info
        if proc.pid in (0, KTHREADD) or info.get("ppid") == KTHREADD:
            continue
        try:
            cpu[(proc.pid, info["create_time"] or 0.0)] = (info["name"] or "?",
                                                           process_cpu_s(proc))
        except (psutil.Error, OSError):
            continue
        if info.get("ppid") is not None:
            parents[proc.pid] = info["ppid"]
    return CpuSnapshot(time.perf_counter(), cpu, parents)


def own_pids(extra: Iterable[int] = (), seen: CpuSnapshot | None = None) -> set[int]:
    """This process, its descendants (alive now, and those ``seen`` in a snapshot), its
    ancestors, and ``extra`` with their descendants in ``seen``.

    The ancestors (the shell, make, nox, a CI runner, up to init) launched the run and
    mostly relay its output; their CPU is the run's own overhead, not another job's.
    """
    me = psutil.Process()
    pids = {me.pid, *extra}
    if seen is not None:
        pids |= seen.descendants(pids)
    with contextlib.suppress(psutil.Error):
        pids.update(child.pid for child in me.children(recursive=True))
    with contextlib.suppress(psutil.Error):
        pids.update(parent.pid for parent in me.parents())
    return pids


@dataclass(frozen=True)
class ForeignLoad:
    """Cores used by other processes over a window, and the busiest of them."""

    cores: float
    wall_s: float
    top: tuple[tuple[str, float], ...]

    def describe(self) -> str:
        """``1.93 cores used by other processes (python3 0.97, python3 0.96)``."""
        names = ", ".join(f"{name} {cores:.2f}" for name, cores in self.top)
        return (f"{self.cores:.2f} cores used by other processes"
                + (f" ({names})" if names else ""))

    def record(self) -> dict[str, object]:
        """The ``checks`` fields of a trial record."""
        return {"foreign_cpu": round(self.cores, 4),
                "foreign_top": [{"name": n, "cpu": round(c, 4)} for n, c in self.top]}


def foreign_load(before: CpuSnapshot, after: CpuSnapshot, own: set[int]) -> ForeignLoad:
    """The CPU used between two snapshots by processes whose pid is not in ``own``.

    A process absent from ``before`` started in between: all its CPU time counts.
    """
    wall = max(after.at - before.at, 1e-9)
    by_name: dict[str, float] = {}
    per_process: list[tuple[str, float]] = []
    for key, (name, cpu_after) in after.cpu.items():
        if key[0] in own:
            continue
        _, cpu_before = before.cpu.get(key, (name, 0.0))
        used = max(0.0, cpu_after - cpu_before) / wall
        if used > 0:
            per_process.append((name, used))
            by_name[name] = by_name.get(name, 0.0) + used
    per_process.sort(key=lambda item: (-item[1], item[0]))
    return ForeignLoad(sum(by_name.values()), wall, tuple(per_process[:TOP]))


def cores_used(before: CpuSnapshot, after: CpuSnapshot, pids: Iterable[int]) -> float:
    """The cores the processes ``pids`` used between two snapshots (all the CPU time of
    one that started in between; one that ended in between is not seen)."""
    wall = max(after.at - before.at, 1e-9)
    chosen = set(pids)
    used = 0.0
    for key, (name, cpu_after) in after.cpu.items():
        if key[0] in chosen:
            used += max(0.0, cpu_after - before.cpu.get(key, (name, 0.0))[1])
    return used / wall


def measure_foreign(seconds: float, extra_own: Iterable[int] = ()) -> ForeignLoad:
    """The foreign load over the next ``seconds`` (blocks)."""
    before = snapshot()
    time.sleep(seconds)
    after = snapshot()
    return foreign_load(before, after, own_pids(extra_own, after))


def affinity(pids: Iterable[int]) -> list[int]:
    """The union of the CPUs the living processes among ``pids`` may run on."""
    cpus: set[int] = set()
    for pid in pids:
        try:
            cpus |= os.sched_getaffinity(pid)
        except OSError:
            continue
    return sorted(cpus)
