"""The handler CPU work and its calibration."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from servers.cpu_work import CpuWork, burn, calibrate, iterations_for


class CostClock:
    """A clock that advances by the cost of the work done: ``per_ms`` iterations a ms."""

    def __init__(self, per_ms: float, noise: list[float] | None = None) -> None:
        self.per_ms = per_ms
        self.now = 0.0
        self.noise = list(noise or [])

    def clock(self) -> float:
        return self.now

    def work(self, iterations: int) -> None:
        extra = self.noise.pop(0) if self.noise else 0.0
        self.now += iterations / self.per_ms / 1000.0 + extra


def test_calibration_recovers_the_cost_of_the_work() -> None:
    fake = CostClock(per_ms=12_345)
    assert calibrate(fake.clock, fake.work) == pytest.approx(12_345, rel=1e-3)


def test_calibration_keeps_the_least_disturbed_run() -> None:
    # Probes 1000..64000 (7 runs), then 4 repeats: one disturbed by 30 ms, others clean.
    fake = CostClock(per_ms=1000, noise=[0.0] * 7 + [0.03, 0.0, 0.01, 0.0])
    assert calibrate(fake.clock, fake.work, target_ms=40.0) == 1000


def test_calibrated_work_takes_about_the_time_asked() -> None:
    per_ms = calibrate()
    start = time.thread_time()
    burn(iterations_for(50, per_ms))
    took_ms = (time.thread_time() - start) * 1000
    # CPU time on both sides, so a busy machine does not shift the result; the bounds
    # are wide because the calibration keeps its fastest run.
    assert 35 <= took_ms <= 150


def test_burn_is_deterministic_and_scales() -> None:
    assert burn(1000) == burn(1000)
    assert burn(0) == 0


def test_cpu_work_runs_on_the_loop_or_in_the_pool() -> None:
    threads: list[str] = []
    inline, offloaded = CpuWork(100, offload=False), CpuWork(100, offload=True)

    async def main() -> None:
        for work in (inline, offloaded):
            original = work.run

            def spy(cpu_ms: int, original=original) -> None:  # type: ignore[no-untyped-def]
                threads.append(threading.current_thread().name)
                original(cpu_ms)

            work.run = spy  # type: ignore[method-assign]
            await work.run_async(2)

    asyncio.run(main())
    assert threads[0] == threading.current_thread().name
    assert threads[1] != threading.current_thread().name


def test_self_calibration_when_none_was_handed_in() -> None:
    assert CpuWork().iterations_per_ms >= 1
    assert CpuWork(77).iterations_per_ms == 77
