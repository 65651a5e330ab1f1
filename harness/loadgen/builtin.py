"""The builtin engine: the whole load in this process's event loop (the rate scenario's
schedule in several processes of its own above ``schedule.PER_PROCESS_RPS``).

It runs the one share of :func:`harness.loadgen.scenario.run_share` with a gate that
marks the load ready and holds it until :meth:`run`, so the trial monitor measures the
load alone, exactly where a Locust worker waits for the master's release.
"""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

from harness.loadgen.closed import ClosedPartial, ClosedResult, merge_closed
from harness.loadgen.openloop import OpenLoop
from harness.loadgen.scenario import Job, run_share
from harness.loadgen.schedule import RateSpec
from harness.loadgen.tally import RateResult

ENGINE = "builtin"


class InProcessLoad:
    """A fanout or clients trial in this event loop: entered once the load is ready to go."""

    def __init__(self, job: Job) -> None:
        self.job = job
        self.ready = asyncio.Event()
        self.release = asyncio.Event()
        self.task: asyncio.Task[Any] | None = None

    async def _gate(self, burst: int) -> None:
        if burst == 1:
            self.ready.set()
            await self.release.wait()

    async def __aenter__(self) -> InProcessLoad:
        self.task = asyncio.create_task(run_share(self.job, 0, 1, self._gate))
        waiter = asyncio.create_task(self.ready.wait())
        try:
            await asyncio.wait({self.task, waiter}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
        if self.task.done():
            self.task.result()  # a driver that failed before its release raises here
        return self

    async def run(self) -> ClosedResult:
        """Release the load and merge what it saw."""
        assert self.task is not None
        self.release.set()
        partial = await self.task
        assert isinstance(partial, ClosedPartial)
        return merge_closed([partial])

    async def __aexit__(self, *exc: object) -> None:
        if self.task is not None and not self.task.done():
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.task


class OpenLoopLoad:
    """A rate trial: the open-loop generator, its processes started on entry."""

    def __init__(self, job: Job) -> None:
        assert job.url is not None
        self.generator = OpenLoop(job.url, RateSpec.from_params(job.params),
                                  calls_field=job.calls_field)

    async def __aenter__(self) -> OpenLoopLoad:
        await self.generator.__aenter__()
        return self

    async def run(self) -> RateResult:
        """Send the whole schedule."""
        return await self.generator.run()

    async def __aexit__(self, *exc: object) -> None:
        await self.generator.__aexit__(*exc)


class BuiltinEngine:
    """The load generator of one process (see the module docstring)."""

    name = ENGINE

    def describe(self) -> dict[str, Any]:
        """What the manifest records of the engine."""
        return {"engine": ENGINE}

    def notes(self) -> list[str]:
        """Nothing to tell."""
        return []

    def prepared(self, job: Job) -> InProcessLoad | OpenLoopLoad:
        """The trial's load, to enter before the monitor and ``run`` inside it."""
        return OpenLoopLoad(job) if job.scenario == "rate" else InProcessLoad(job)

    async def warm(self, job: Job) -> str | None:
        """The warm-up's requests (answers discarded); never a problem to report."""
        await run_share(job, 0, 1)
        return None
