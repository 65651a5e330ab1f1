"""The handler CPU work every app runs for ``cpu_ms``: the same pure-Python loop everywhere.

The loop holds the GIL for its whole length (no C call releases it), which is what
parsing, serialising and rendering in Python do.  Its size is given in iterations;
``calibrate`` measures how many iterations take a millisecond on this machine, once
per run, and the harness hands the figure to every app through
``ASYNCBENCH_CPU_ITERS_PER_MS`` so sync and async apps burn the same work.

``python -m servers.cpu_work`` prints the calibration as one JSON line.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
import time
from collections.abc import Callable

MAX_CPU_MS = 10_000
CALIBRATION_TARGET_MS = 40.0  # long enough that timer resolution is far below 1 %
CALIBRATION_REPEATS = 5
_MASK = 0xFFFFFFFF


def burn(iterations: int) -> int:
    """Run ``iterations`` steps of integer arithmetic in pure Python; return the checksum
    (so the loop cannot be optimised away)."""
    x = 0
    for i in range(iterations):
        x = (x * 31 + i) & _MASK
    return x


def iterations_for(cpu_ms: int, iterations_per_ms: int) -> int:
    """How many iterations make ``cpu_ms`` of work."""
    return cpu_ms * iterations_per_ms


def calibrate(clock: Callable[[], float] = time.thread_time,
              work: Callable[[int], object] = burn,
              target_ms: float = CALIBRATION_TARGET_MS,
              repeats: int = CALIBRATION_REPEATS) -> int:
    """Iterations of ``work`` per millisecond on this machine (at least 1).

    Doubles a probe until one run takes ``target_ms``, then keeps the fastest of
    ``repeats`` runs of that size. The clock is this thread's CPU time, so other
    processes competing for the CPU do not make the work look dearer than it is; the
    fastest run is the one least disturbed by what remains (cache, frequency).
    """
    if repeats < 1:
        raise ValueError(f"repeats must be >= 1, got {repeats}")
    size = 1000
    while True:
        start = clock()
        work(size)
        elapsed_ms = (clock() - start) * 1000.0
        if elapsed_ms >= target_ms or size >= 1 << 34:
            break
        size *= 2
    best_ms = elapsed_ms
    for _ in range(repeats - 1):
        start = clock()
        work(size)
        best_ms = min(best_ms, (clock() - start) * 1000.0)
    return max(1, round(size / best_ms)) if best_ms > 0 else size


class CpuWork:
    """An app's handler work: ``cpu_ms`` of ``burn`` per request.

    ``iterations_per_ms`` comes from the harness (one calibration per run, shared by
    every app); without it the process calibrates itself on first use.  ``offload``
    makes ``run_async`` hand the work to the event loop's default thread pool, as a
    careful async port would; without it the work runs on the event loop, as a naive
    port's does.
    """

    def __init__(self, iterations_per_ms: int | None = None, offload: bool = False) -> None:
        self._iterations_per_ms = iterations_per_ms
        self.offload = offload
        self._lock = threading.Lock()

    @property
    def iterations_per_ms(self) -> int:
        """The calibration in use (measured here on first use when none was given)."""
        if self._iterations_per_ms is None:
            with self._lock:
                if self._iterations_per_ms is None:
                    self._iterations_per_ms = calibrate()
        return self._iterations_per_ms

    def run(self, cpu_ms: int) -> None:
        """Burn ``cpu_ms`` of CPU in this thread."""
        if cpu_ms > 0:
            burn(iterations_for(cpu_ms, self.iterations_per_ms))

    async def run_async(self, cpu_ms: int) -> None:
        """Burn ``cpu_ms`` of CPU on the event loop, or in its thread pool with ``offload``."""
        if cpu_ms <= 0:
            return
        if self.offload:
            await asyncio.get_running_loop().run_in_executor(None, self.run, cpu_ms)
        else:
            self.run(cpu_ms)


def main() -> int:
    """Print ``{"iterations_per_ms": N, "python": ...}`` on one line."""
    result = {"iterations_per_ms": calibrate(), "work": "servers.cpu_work.burn",
              "python": sys.version.split()[0]}
    print(json.dumps(result, sort_keys=True), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
