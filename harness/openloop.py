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

Latencies are in histograms of microseconds (``harness.records``): mean and max
exactly, percentiles from the histogram. Only answers that succeeded are in the
latency figures; the send lag covers every request.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import multiprocessing.connection
import os
import random
import resource
import socket
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.errors import LoadGeneratorError
from harness.loadgen import OUTCOMES, Clock, Outcome, client_session, request
from harness.monitor import thread_runqueue_wait_s
from harness.records import HDR_HIGHEST_US, new_histogram

Sleep = Callable[[float], Awaitable[None]]
Send = Callable[[], Awaitable[Outcome]]

SCHEDULES = ("uniform", "poisson")
DEFAULT_SCHEDULE = "uniform"
# One asyncio process kept its schedule (send lag p99 < 20 ms) up to 800-1200 req/s on a shared
# 2-core EPYC (``python -m harness calibrate``); splitting at half that leaves headroom.
PER_PROCESS_RPS = 400
CAP_SECONDS = 2.0              # automatic in-flight cap: two seconds of arrivals ...
MIN_CAP = 256                  # ... but never fewer than this
GRACE_S = 5.0                  # past the last send + the request timeout, stragglers are cut
READY_TIMEOUT_S = 60.0         # for a load-generator process to start and report ready
START_MARGIN_S = 0.1           # between releasing the processes and the first intended send
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9))


# --- the schedule -----------------------------------------------------------------------

def make_schedule(kind: str, rate_rps: float, duration_s: float, seed: int = 0) -> list[float]:
    """Intended send times in seconds from the start, ascending, all in ``[0, duration_s)``.

    ``uniform``: ``round(rate * duration)`` sends, ``1/rate`` apart, the first at 0.
    ``poisson``: exponential gaps of mean ``1/rate`` drawn from ``random.Random(seed)``.

    Raises:
        ValueError: an unknown kind, or a rate or duration that is not positive.
    """
    if kind not in SCHEDULES:
        raise ValueError(f"schedule {kind!r} is not one of {', '.join(SCHEDULES)}")
    if not (rate_rps > 0 and duration_s > 0):
        raise ValueError(f"rate ({rate_rps}) and duration ({duration_s}) must be positive")
    if kind == "uniform":
        return [i / rate_rps for i in range(round(rate_rps * duration_s))]
    rng = random.Random(f"asyncbench-poisson:{seed}")
    offsets: list[float] = []
    t = 0.0
    while True:
        t += rng.expovariate(rate_rps)
        if t >= duration_s:
            return offsets
        offsets.append(t)


def split_schedule(offsets: Sequence[float], processes: int) -> list[list[float]]:
    """Deal the sends round-robin, so each process's share is spread over the whole trial."""
    return [list(offsets[i::processes]) for i in range(processes)]


def auto_processes(rate_rps: float, cpus: int | None = None) -> int:
    """Processes needed for ``rate_rps``: one per ``PER_PROCESS_RPS``, at most one per CPU."""
    cpus = cpus if cpus is not None else (os.cpu_count() or 1)
    return max(1, min(cpus, math.ceil(rate_rps / PER_PROCESS_RPS)))


def auto_cap(rate_per_process: float) -> int:
    """In-flight cap of one process: ``CAP_SECONDS`` of arrivals, at least ``MIN_CAP``,
    within the open-file limit."""
    cap = max(MIN_CAP, math.ceil(rate_per_process * CAP_SECONDS))
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY:
        cap = min(cap, max(1, soft - 64))
    return cap


@dataclass(frozen=True)
class RateSpec:
    """One rate trial's load: what is offered, for how long, and how it is generated.

    ``processes`` and ``max_in_flight`` are 0 for automatic; ``resolved()`` fills them.
    ``max_in_flight`` is per process.
    """

    rate_rps: float
    duration_s: float
    timeout_s: float
    schedule: str = DEFAULT_SCHEDULE
    seed: int = 0
    processes: int = 0
    max_in_flight: int = 0

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule {self.schedule!r} is not one of {', '.join(SCHEDULES)}")
        if not (self.rate_rps > 0 and self.duration_s > 0 and self.timeout_s > 0):
            raise ValueError(f"rate, duration and timeout must be positive: {self}")
        if self.processes < 0 or self.max_in_flight < 0:
            raise ValueError(f"processes and max_in_flight must be >= 0: {self}")

    @classmethod
    def from_params(cls, params: dict[str, Any]) -> RateSpec:
        """The spec of a trial's parameters (``rate_rps``, ``duration_s``, ``timeout_s``)."""
        return cls(rate_rps=float(params["rate_rps"]), duration_s=float(params["duration_s"]),
                   timeout_s=float(params["timeout_s"]),
                   schedule=params.get("schedule", DEFAULT_SCHEDULE),
                   seed=int(params.get("seed", 0)), processes=int(params.get("processes", 0)),
                   max_in_flight=int(params.get("max_in_flight", 0)))

    def resolved(self) -> RateSpec:
        """A copy with the automatic process count and in-flight cap decided."""
        processes = self.processes or auto_processes(self.rate_rps)
        cap = self.max_in_flight or auto_cap(self.rate_rps / processes)
        return replace(self, processes=processes, max_in_flight=cap)

    def offsets(self) -> list[float]:
        """The whole schedule (see ``make_schedule``)."""
        return make_schedule(self.schedule, self.rate_rps, self.duration_s, self.seed)

    def record_params(self) -> dict[str, Any]:
        """What a trial record adds to its params so the load can be rebuilt."""
        params: dict[str, Any] = {"schedule": self.schedule, "processes": self.processes,
                                  "max_in_flight": self.max_in_flight}
        if self.schedule == "poisson":
            params["seed"] = self.seed
        return params


# --- one process's requests -------------------------------------------------------------

def _us(seconds: float) -> int:
    return min(HDR_HIGHEST_US, max(0, round(seconds * 1e6)))


@dataclass
class Tally:
    """What one process saw, accumulated request by request."""

    corrected: HdrHistogram = field(default_factory=new_histogram)
    uncorrected: HdrHistogram = field(default_factory=new_histogram)
    lag: HdrHistogram = field(default_factory=new_histogram)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(OUTCOMES, 0))
    first_error: str | None = None
    corrected_sum_s: float = 0.0
    corrected_max_s: float = 0.0
    uncorrected_sum_s: float = 0.0
    uncorrected_max_s: float = 0.0
    last_answer: float = -math.inf
    capped: int = 0
    in_flight: int = 0
    in_flight_peak: int = 0

    def fired(self, intended: float, now: float) -> None:
        """A request's task started (late by ``now - intended``)."""
        self.lag.record_value(_us(now - intended))

    def answered(self, outcome: Outcome, intended: float, sent: float, end: float) -> None:
        """A request ended; only successful answers enter the latency figures."""
        self.counts[outcome.kind] += 1
        if outcome.kind != "ok":
            if self.first_error is None:
                self.first_error = outcome.detail
            return
        corrected, uncorrected = end - intended, end - sent
        self.corrected.record_value(max(1, _us(corrected)))
        self.uncorrected.record_value(max(1, _us(uncorrected)))
        self.corrected_sum_s += corrected
        self.uncorrected_sum_s += uncorrected
        self.corrected_max_s = max(self.corrected_max_s, corrected)
        self.uncorrected_max_s = max(self.uncorrected_max_s, uncorrected)
        self.last_answer = max(self.last_answer, end)


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


@dataclass(frozen=True)
class Partial:
    """One process's tally in plain, picklable form (histograms encoded)."""

    corrected: str
    uncorrected: str
    lag: str
    counts: dict[str, int]
    first_error: str | None
    corrected_sum_s: float
    corrected_max_s: float
    uncorrected_sum_s: float
    uncorrected_max_s: float
    last_answer: float
    capped: int
    in_flight_peak: int
    start: float
    cpu_s: float
    wait_s: float | None
    wall_s: float

    @classmethod
    def of(cls, tally: Tally, start: float, cpu_s: float, wait_s: float | None,
           wall_s: float) -> Partial:
        """Freeze a tally with its start time and the process's CPU use over ``wall_s``."""
        def enc(h: HdrHistogram) -> str:
            return str(h.encode().decode("ascii"))

        return cls(enc(tally.corrected), enc(tally.uncorrected), enc(tally.lag),
                   dict(tally.counts), tally.first_error, tally.corrected_sum_s,
                   tally.corrected_max_s, tally.uncorrected_sum_s, tally.uncorrected_max_s,
                   tally.last_answer, tally.capped, tally.in_flight_peak, start, cpu_s, wait_s,
                   wall_s)


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


async def _session_drive(url: str, offsets: Sequence[float], spec: RateSpec,
                         start: Callable[[], float], expect_calls: int | None = 1) -> Partial:
    """Open a session sized for the cap, take the start time from ``start()``, drive."""
    async with client_session(spec.max_in_flight) as session:
        async def send() -> Outcome:
            return await request(session, url, expect_calls, spec.timeout_s)

        return await measured_drive(offsets, send, start=start(), timeout_s=spec.timeout_s,
                                    max_in_flight=spec.max_in_flight)


# --- the merged result ------------------------------------------------------------------

def _summary(hist: HdrHistogram, sum_s: float, max_s: float) -> dict[str, float | None]:
    """Same keys as ``records.latency_summary``: mean and max exact, percentiles from ``hist``."""
    count = hist.get_total_count()
    if not count:
        return dict.fromkeys(("mean", "p50", "p90", "p99", "p999", "max"), None)
    out: dict[str, float | None] = {"mean": round(1000 * sum_s / count, 4)}
    for key, pct in PERCENTILES:
        out[key] = hist.get_value_at_percentile(pct) / 1000
    out["max"] = round(1000 * max_s, 4)
    return out


def _lag_summary(hist: HdrHistogram) -> dict[str, float | None]:
    if not hist.get_total_count():
        return dict.fromkeys(("p50", "p90", "p99", "p999", "max"), None)
    out: dict[str, float | None] = {k: hist.get_value_at_percentile(p) / 1000
                                    for k, p in PERCENTILES}
    out["max"] = hist.get_max_value() / 1000
    return out


@dataclass
class RateResult:
    """A rate trial's load, merged over its processes; quacks like ``ScenarioResult``
    for the runner (``counts``, ``first_error``, ``metrics``, ``duration_s``)."""

    spec: RateSpec
    offered: int
    duration_s: float
    metrics: dict[str, float]
    request_counts: dict[str, int]
    error: str | None
    latency_ms: dict[str, float | None]
    uncorrected_latency_ms: dict[str, float | None]
    send_lag_ms: dict[str, float | None]
    hdr: str
    loadgen_cpu: float
    loadgen_wait: float | None
    loadgen_wait_s: float | None
    in_flight_peak: int
    in_flight_capped: int
    process_cpu: list[float]

    def counts(self) -> dict[str, int]:
        """Requests by outcome, with a ``total``."""
        return dict(self.request_counts)

    def first_error(self) -> str | None:
        """A one-line summary of the failures, or None if every request succeeded."""
        bad = self.request_counts["total"] - self.request_counts["ok"]
        if not bad:
            return None
        kinds = ", ".join(f"{self.request_counts[k]} {k}" for k in OUTCOMES
                          if k != "ok" and self.request_counts[k])
        return (f"{bad} of {self.request_counts['total']} requests failed ({kinds}; "
                f"first: {self.error})")


def merge(spec: RateSpec, offered: int, partials: Sequence[Partial]) -> RateResult:
    """Add the processes' histograms and counts; work out the trial's metrics.

    ``achieved_rps`` is successful answers / max(duration, start -> last answer): it
    equals the offered rate when every answer comes within the schedule, and falls
    below it when answers lag behind.
    """
    hists = {name: new_histogram() for name in ("corrected", "uncorrected", "lag")}
    counts = dict.fromkeys(OUTCOMES, 0)
    error = None
    for p in partials:
        for name, hist in hists.items():
            hist.add(HdrHistogram.decode(getattr(p, name)))
        for kind in OUTCOMES:
            counts[kind] += p.counts.get(kind, 0)
        error = error or p.first_error
    counts["total"] = sum(counts[k] for k in OUTCOMES)
    start = min((p.start for p in partials), default=0.0)
    last = max((p.last_answer for p in partials), default=-math.inf)
    span = max(spec.duration_s, last - start) if math.isfinite(last) else spec.duration_s
    latency = _summary(hists["corrected"], sum(p.corrected_sum_s for p in partials),
                       max((p.corrected_max_s for p in partials), default=0.0))
    metrics: dict[str, float] = {"achieved_rps": counts["ok"] / span}
    for key in ("p50", "p99", "p999"):
        value = latency[key]
        if value is not None:
            metrics[f"{key}_ms"] = value
    cpu = [p.cpu_s / p.wall_s if p.wall_s > 0 else 0.0 for p in partials]
    waits = [(min(1.0, p.wait_s / p.wall_s), p.wait_s) for p in partials
             if p.wait_s is not None and p.wall_s > 0]
    known = len(waits) == len(partials) and waits
    return RateResult(
        spec=spec, offered=offered, duration_s=span, metrics=metrics, request_counts=counts,
        error=error, latency_ms=latency,
        uncorrected_latency_ms=_summary(
            hists["uncorrected"], sum(p.uncorrected_sum_s for p in partials),
            max((p.uncorrected_max_s for p in partials), default=0.0)),
        send_lag_ms=_lag_summary(hists["lag"]),
        hdr=str(hists["corrected"].encode().decode("ascii")),
        loadgen_cpu=max(cpu, default=0.0),
        loadgen_wait=max(w[0] for w in waits) if known else None,
        loadgen_wait_s=max(w[1] for w in waits) if known else None,
        in_flight_peak=max((p.in_flight_peak for p in partials), default=0),
        in_flight_capped=sum(p.capped for p in partials),
        process_cpu=[round(c, 4) for c in cpu],
    )


# --- the generator: one process in this event loop, or several -------------------------

# Children are plain ``python -c`` processes, not multiprocessing's spawn, which would
# re-import the parent's ``__main__`` (re-running ``python -m harness`` in every child).
_CHILD_CODE = "import sys; from harness.openloop import child_main; child_main(int(sys.argv[1]))"
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


def child_main(fd: int) -> None:
    """Body of one load-generator process, talking to its parent over socket ``fd``:
    receive its share, report ready, wait for the start time, send back a ``Partial``."""
    conn = multiprocessing.connection.Connection(fd)
    try:
        url, spec, index, expect_calls = conn.recv()
        rate = RateSpec(**spec)
        offsets = split_schedule(rate.offsets(), rate.processes)[index]

        def wait_start() -> float:
            conn.send(("ready", os.getpid()))
            message = conn.recv()
            if message[0] != "start":
                raise SystemExit(0)
            return float(message[1])

        partial = asyncio.run(_session_drive(url, offsets, rate, wait_start, expect_calls))
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
    the ``calls`` count a good answer reports (None accepts any JSON object, as the
    mock upstream's ``/delay`` answers)::

        async with OpenLoop(url, spec) as generator:
            with TrialMonitor(...):
                result = await generator.run()
    """

    def __init__(self, url: str, spec: RateSpec, expect_calls: int | None = 1) -> None:
        self.url = url
        self.expect_calls = expect_calls
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
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH", "")) if p)
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
                child.conn.send((self.url, asdict(self.spec), index, self.expect_calls))
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
            partials = [await _session_drive(self.url, self._offsets, self.spec,
                                             time.perf_counter, self.expect_calls)]
        else:
            partials = await asyncio.to_thread(self._collect,
                                               time.perf_counter() + START_MARGIN_S)
        return merge(self.spec, len(self._offsets), partials)
