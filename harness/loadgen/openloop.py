"""Open-loop load: the ``rate`` scenario, requests fired on a schedule at a fixed offered rate.

A schedule of intended send times is computed before the trial: evenly spaced by
default (``uniform``: the same offered load in every trial, so trial-to-trial
differences come from the stack, not from arrival noise), or Poisson arrivals
drawn from a seed (``poisson``). A scheduler sleeps until each intended time and
starts one task per request; it never waits for an answer. Each request yields::

    send lag             task start - intended send time  (the generator's own lateness)
    uncorrected latency  answer - actual send             (what a closed-loop tool reports)
    corrected latency    answer - intended send           (reported: latency_ms, hdr, metrics)

The actual send is when the request goes to the session, after the in-flight
cap. That cap (``max_in_flight``, far above what the offered rate needs) is only a
safety bound on sockets; every request that had to wait for it is counted, and
its wait is in the corrected latency but not in the uncorrected one.

Above ``PER_PROCESS_RPS`` the schedule is dealt round-robin to several processes
(each with its own event loop, released at one shared start time); their HDR
histograms are merged. ``time.perf_counter`` is CLOCK_MONOTONIC on Linux, one
clock for every process.

Latencies are in histograms of microseconds (``harness.rundir.writer``): mean and max
exactly, percentiles from the histogram. Only answers that succeeded are in the
latency figures; the send lag covers every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing.connection
import os
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from harness.errors import LoadGeneratorError
from harness.loadgen.drivers import Clock, Outcome, client_session, request
from harness.loadgen.monitor import thread_runqueue_wait_s
from harness.loadgen.schedule import (
    RateSpec,
    split_schedule,
)
from harness.loadgen.tally import Partial, RateResult, Tally, merge
from harness.paths import child_environment

Sleep = Callable[[float], Awaitable[None]]
Send = Callable[[], Awaitable[Outcome]]

GRACE_S = 5.0                  # past the last send + the request timeout, stragglers are cut
READY_TIMEOUT_S = 60.0         # for a load-generator process to start and report ready
START_MARGIN_S = 0.1           # between releasing the processes and the first intended send


# --- one process's requests -------------------------------------------------------------


async def drive(offsets: Sequence[float], send: Send, *, start: float, timeout_s: float,
                max_in_flight: int, clock: Clock = time.perf_counter,
                sleep: Sleep = asyncio.sleep) -> Tally:
    """Fire ``send()`` at ``start + offset`` for every offset, never waiting for answers.

    Returns once every request has ended, or ``timeout_s + GRACE_S`` after the last
    intended send, when the stragglers are cancelled and counted as timeouts.
    """
    tally = Tally()
    cap = asyncio.Semaphore(max_in_flight)
    tasks: set[asyncio.Task[None]] = set()

    async def one(intended: float) -> None:
        tally.fired(intended, clock())
        if cap.locked():
            tally.capped += 1
        try:
            async with cap:
                sent = clock()
                tally.in_flight += 1
                tally.in_flight_peak = max(tally.in_flight_peak, tally.in_flight)
                try:
                    outcome = await send()
                finally:
                    tally.in_flight -= 1
        except asyncio.CancelledError:
            tally.answered(Outcome("timeout", clock() - intended,
                                   f"no answer {clock() - intended:.1f} s after its intended "
                                   f"send (cut at the end of the trial)"),
                           intended, intended, clock())
            raise
        tally.answered(outcome, intended, sent, clock())

    i, n = 0, len(offsets)
    while i < n:
        now = clock()
        while i < n and start + offsets[i] <= now:  # everything due, late ones at once
            task = asyncio.create_task(one(start + offsets[i]))
            tasks.add(task)
            task.add_done_callback(tasks.discard)
            i += 1
        if i < n:
            await sleep(start + offsets[i] - now)
    if tasks:
        last = start + (offsets[-1] if n else 0.0)
        _, pending = await asyncio.wait(set(tasks), timeout=max(
            0.0, last + timeout_s + GRACE_S - clock()))
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
    return tally


async def measured_drive(offsets: Sequence[float], send: Send, *, start: float,
                         timeout_s: float, max_in_flight: int) -> Partial:
    """``drive`` on the real clock, with this thread's CPU time and run-queue wait."""
    wall0 = time.perf_counter()  # outermost, so the wait never exceeds the wall
    wait0, cpu0 = thread_runqueue_wait_s(), time.thread_time()
    tally = await drive(offsets, send, start=start, timeout_s=timeout_s,
                        max_in_flight=max_in_flight)
    cpu = time.thread_time() - cpu0
    wait1 = thread_runqueue_wait_s()
    wall = time.perf_counter() - wall0
    wait = wait1 - wait0 if wait0 is not None and wait1 is not None else None
    return Partial.of(tally, start, cpu, wait, wall)


async def session_drive(url: str, offsets: Sequence[float], spec: RateSpec,
                        start: Callable[[], Awaitable[float]], expect_calls: int | None = 1,
                        calls_field: str | None = "calls") -> Partial:
    """Open a session sized for the cap, await the start time from ``start()``, drive."""
    async with client_session(spec.max_in_flight) as session:
        async def send() -> Outcome:
            return await request(session, url, expect_calls, spec.timeout_s,
                                 calls_field=calls_field)

        return await measured_drive(offsets, send, start=await start(), timeout_s=spec.timeout_s,
                                    max_in_flight=spec.max_in_flight)


async def now() -> float:
    """The start time of a schedule that starts at once."""
    return time.perf_counter()


# --- the generator: one process in this event loop, or several -------------------------

# Children are plain ``python -c`` processes, not multiprocessing's spawn, which would
# re-import the parent's ``__main__`` (re-running ``python -m harness`` in every child).
_CHILD_CODE = ("import sys; from harness.loadgen.openloop import child_main; "
               "child_main(int(sys.argv[1]))")


def child_main(fd: int) -> None:
    """Body of one load-generator process, talking to its parent over socket ``fd``:
    receive its share, report ready, wait for the start time, send back a ``Partial``."""
    conn = multiprocessing.connection.Connection(fd)
    try:
        url, spec, index, expect_calls, calls_field = conn.recv()
        rate = RateSpec(**spec)
        offsets = split_schedule(rate.offsets(), rate.processes)[index]

        async def wait_start() -> float:
            conn.send(("ready", os.getpid()))
            message = conn.recv()
            if message[0] != "start":
                raise SystemExit(0)
            return float(message[1])

        partial = asyncio.run(session_drive(url, offsets, rate, wait_start, expect_calls,
                                            calls_field))
        conn.send(("done", partial))
    except (KeyboardInterrupt, SystemExit, EOFError, BrokenPipeError):
        pass
    except BaseException:
        conn.send(("error", traceback.format_exc(limit=5)))
    finally:
        conn.close()


@dataclass
class _Child:
    popen: subprocess.Popen[bytes]
    conn: multiprocessing.connection.Connection

    def receive(self, timeout_s: float, abort: threading.Event | None = None
                ) -> tuple[Any, ...]:
        """The child's next message; LoadGeneratorError if it fails, dies, is silent for
        ``timeout_s`` or ``abort`` is set meanwhile."""
        pid = self.popen.pid
        deadline = time.perf_counter() + timeout_s
        while not self.conn.poll(min(0.1, max(0.0, deadline - time.perf_counter()))):
            if abort is not None and abort.is_set():
                raise LoadGeneratorError(f"load-generator process {pid}: start abandoned")
            if time.perf_counter() >= deadline:
                raise LoadGeneratorError(f"load-generator process {pid} did not answer "
                                         f"within {timeout_s:.0f} s")
        try:
            message: tuple[Any, ...] = self.conn.recv()
        except (EOFError, OSError):
            raise LoadGeneratorError(f"load-generator process {pid} exited "
                                     f"(code {self.popen.poll()})") from None
        if message[0] == "error":
            raise LoadGeneratorError(f"load-generator process {pid} crashed: {message[1]}")
        return message

    def stop(self) -> None:
        """Terminate (then kill) this child by its pid and reap it; its end of the socket
        closes with it, which also wakes a thread still waiting for its message."""
        if self.popen.poll() is None:
            self.popen.terminate()
            try:
                self.popen.wait(5)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(5)
        self.conn.close()


class OpenLoop:
    """The open-loop generator of one rate trial, as an async context manager.

    Entering starts the load-generator processes (if more than one) and waits until
    each is ready, so ``run()`` measures only the load itself. ``expect_calls`` is
    the ``calls`` count a good answer reports in its ``calls_field`` (None accepts any
    JSON object, as the mock upstream's ``/delay`` answers; ``calls_field=None`` any
    200 answer)::

        async with OpenLoop(url, spec) as generator:
            with TrialMonitor(...):
                result = await generator.run()
    """

    def __init__(self, url: str, spec: RateSpec, expect_calls: int | None = 1,
                 calls_field: str | None = "calls") -> None:
        self.url = url
        self.expect_calls = expect_calls
        self.calls_field = calls_field
        self.spec = spec.resolved()
        self._offsets = self.spec.offsets()
        self._children: list[_Child] = []
        self._abort = threading.Event()

    async def __aenter__(self) -> OpenLoop:
        if self.spec.processes > 1:
            starting = asyncio.ensure_future(asyncio.to_thread(self._start_processes))
            try:
                await asyncio.shield(starting)
            except asyncio.CancelledError:
                # Interrupted while the thread is still starting children: let it give
                # up, then stop whatever it started (no __aexit__ follows a failed enter).
                self._abort.set()
                with contextlib.suppress(Exception):
                    await starting
                await asyncio.to_thread(self._stop_processes)
                raise
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self._children:
            await asyncio.to_thread(self._stop_processes)

    def _start_processes(self) -> None:
        env = child_environment()
        try:
            for index in range(self.spec.processes):
                if self._abort.is_set():
                    raise LoadGeneratorError("start of the load-generator processes abandoned")
                ours, theirs = socket.socketpair()
                with ours, theirs:
                    popen = subprocess.Popen(
                        [sys.executable, "-c", _CHILD_CODE, str(theirs.fileno())],
                        pass_fds=(theirs.fileno(),), env=env, stdin=subprocess.DEVNULL,
                        stdout=subprocess.DEVNULL)
                    child = _Child(popen, multiprocessing.connection.Connection(ours.detach()))
                self._children.append(child)
                child.conn.send((self.url, asdict(self.spec), index, self.expect_calls,
                                 self.calls_field))
            deadline = time.perf_counter() + READY_TIMEOUT_S
            for child in self._children:
                child.receive(deadline - time.perf_counter(), self._abort)
        except BaseException:
            self._stop_processes()
            raise

    def _stop_processes(self) -> None:
        for child in self._children:
            child.stop()
        self._children = []

    def _collect(self, start: float) -> list[Partial]:
        for child in self._children:
            child.conn.send(("start", start))
        budget = self.spec.duration_s + self.spec.timeout_s + GRACE_S + 30.0
        deadline = time.perf_counter() + budget
        return [child.receive(deadline - time.perf_counter())[1] for child in self._children]

    async def run(self) -> RateResult:
        """Send the whole schedule and return the merged result."""
        if self.spec.processes == 1:
            partials = [await session_drive(self.url, self._offsets, self.spec, now,
                                            self.expect_calls, self.calls_field)]
        else:
            partials = await asyncio.to_thread(self._collect,
                                               time.perf_counter() + START_MARGIN_S)
        return merge(self.spec, len(self._offsets), partials)
