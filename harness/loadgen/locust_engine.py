"""The locust engine, the harness's side: a Locust master process and local workers, every
one a guarded child, and each trial's load shared among the workers.

::

    harness (asyncio, no Locust) --socket pair--> master process (Locust MasterRunner)
                                                    --ZeroMQ--> workers (local or remote)

The master (``locust_master``) binds ``[loadgen] master_bind`` (loopback unless remote
workers are expected) and admits only allowed peer addresses; local workers are
``asyncbench worker --master HOST:PORT`` processes started here, pinned to the
harness's CPUs, in the run's pid file like every child. A trial orders each worker
its share (:func:`scenario.shares`), waits until all are ready, releases them together,
and merges their reports exactly (HDR add); a worker lost, late or sending a malformed
report makes the trial's load ``disturbed`` (the trial is recorded invalid), and a lost
local worker is started again before the next trial.

Where the workers run is the caller's to say (:class:`WorkerPlacement`): the network
namespace they run in (``[hosts] load = "netns"``), the address the master binds and the
one they dial, and the peer addresses to admit besides loopback.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.util
import os
import socket
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

from harness.config.loadgen import LoadgenSettings
from harness.errors import LoadGeneratorError, StackStartError
from harness.loadgen import messages
from harness.loadgen.closed import ClosedResult
from harness.loadgen.gather import REPORT_MARGIN_S, budget_s, collect, empty_closed
from harness.loadgen.link import Link
from harness.loadgen.scenario import Job
from harness.loadgen.tally import RateResult, merge
from harness.paths import child_environment
from harness.targets.process import ChildProcess, managed_process

ENGINE = "locust"
ORDER_TIMEOUT_S = 60.0        # for every worker to get its share ready
START_TIMEOUT_S = 60.0
CONNECT_TIMEOUT_S = 60.0
QUIT_WAIT_S = 2.0             # for local workers to leave when the master says quit


@dataclass(frozen=True)
class WorkerPlacement:
    """Where local workers run and how they reach the master.

    ``netns`` is the path of the network namespace they run in (default: the harness's);
    ``bind`` overrides the address the master binds, ``dial`` the one workers connect
    to (default: the bind address); ``allow`` adds peer networks to admit.
    """

    netns: str | None = None
    bind: str | None = None
    dial: str | None = None
    allow: tuple[str, ...] = ()


def worker_command(master: str) -> list[str]:
    """The command line of a local worker joining ``master`` (``HOST:PORT``)."""
    return [sys.executable, "-m", "harness", "worker", "--master", master,
            "--connect-timeout", f"{CONNECT_TIMEOUT_S:g}"]


def host_port(host: str, port: int) -> str:
    """``HOST:PORT``, an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


class DistributedLoad:
    """One trial's load on the workers: entered once every share is ready."""

    def __init__(self, engine: LocustEngine, job: Job) -> None:
        self.engine = engine
        self.job = job
        self.trial = f"t{next(engine.trials)}"
        self.parts = 0
        self.problem: str | None = None
        self.done = False

    async def __aenter__(self) -> DistributedLoad:
        engine = self.engine
        workers = await engine.call(engine.ensure_workers)
        self.parts = len(workers)
        take = self.job.participants(self.parts)
        reply = await engine.call(engine.request, {
            "op": "order", "trial": self.trial, "parts": self.parts, "take": take,
            "timeout_s": ORDER_TIMEOUT_S, "job": messages.order(
                self.trial, self.job, 0, self.parts)["job"]}, ORDER_TIMEOUT_S)
        problems = reply.get("problems") or {}
        if problems:
            self.problem = str(next(iter(problems.values())))[:300]
        return self

    async def run(self) -> ClosedResult | RateResult:
        """Release every share together and merge the reports."""
        if self.problem is not None:
            self.done = True
            if self.job.scenario == "rate":
                spec = self.job.rate_spec(max(1, self.parts))
                result = merge(spec, len(spec.offsets()), [])
                result.disturbed = self.problem
                return result
            return empty_closed(self.problem)
        timeout = budget_s(self.job)
        reply = await self.engine.call(self.engine.request, {
            "op": "run", "trial": self.trial, "bursts": self.job.bursts(),
            "timeout_s": timeout}, timeout)
        self.done = True
        return collect(self.job, self.parts, reply)

    async def __aexit__(self, *exc: object) -> None:
        if not self.done:
            with contextlib.suppress(LoadGeneratorError):
                await self.engine.call(self.engine.request, {"op": "abort",
                                                             "trial": self.trial}, 10.0)


class LocustEngine:
    """Locust's master and workers carrying the harness's scenarios (module docstring)."""

    name = ENGINE

    def __init__(self, settings: LoadgenSettings, cpus: frozenset[int] | None,
                 log_dir: Path | None, placement: WorkerPlacement | None = None,
                 note: Callable[[str], None] = lambda _: None) -> None:
        self.settings = settings
        self.note = note
        self.cpus = cpus
        self.log_dir = log_dir
        self.placement = placement or WorkerPlacement()
        self.local = settings.local_workers(len(cpus) if cpus else len(os.sched_getaffinity(0)))
        self.link: Link | None = None
        self.port = 0
        self.slots: list[contextlib.ExitStack | None] = [None] * self.local
        self.children: list[ChildProcess | None] = [None] * self.local
        self.restarted = 0
        self.refused: list[str] = []
        self.told = (0, 0)
        self.quitting = False  # refused peers and restarts already reported by notes()
        self.trials = iter(range(1, 10**12))
        self.executor = concurrent.futures.ThreadPoolExecutor(1, "locust-link")
        self.stack = contextlib.ExitStack()

    @property
    def bind(self) -> str:
        """The address the master binds."""
        return self.placement.bind or self.settings.master_bind

    @property
    def master(self) -> str:
        """``HOST:PORT`` the local workers dial."""
        return host_port(self.placement.dial or self.bind, self.port)

    # --- lifecycle ------------------------------------------------------------------------------

    def start(self) -> None:
        """Start the master and the local workers; wait until every worker has joined.

        Raises:
            LoadGeneratorError: Locust is not installed here, or workers did not join.
        """
        if importlib.util.find_spec("locust") is None:
            raise LoadGeneratorError(
                "[loadgen] engine = \"locust\" needs Locust, the project's `load` dependency "
                "group: `make dev`, or `uv sync --frozen --group load`")
        ours, theirs = socket.socketpair()
        self.link = Link(ours)
        allow = [a for n in (*self.settings.allow_workers, *self.placement.allow)
                 for a in ("--allow", n)]
        command = [sys.executable, "-m", "harness.loadgen.locust_master",
                   "--fd", str(theirs.fileno()), "--bind", self.bind,
                   "--port", str(self.settings.master_port), *allow]

        def listening(child: ChildProcess, deadline_s: float) -> None:
            assert self.link is not None
            try:
                self.port = int(self.link.recv(deadline_s)["listening"])
            except (LoadGeneratorError, KeyError, TypeError, ValueError) as exc:
                raise StackStartError(f"the Locust master did not start ({exc}) [log: "
                                      f"{child.log_path}]", child.command, child.tail()) from None

        env = {**child_environment(), "LOCUST_SKIP_MONKEY_PATCH": "1"}
        with theirs:
            self.stack.enter_context(managed_process(
                "locust-master", command, env, self.bind, health_timeout_s=START_TIMEOUT_S,
                log_dir=self.log_dir, cpus=self.cpus, ready=listening,
                pass_fds=(theirs.fileno(),)))
        self.stack.callback(self._quit)
        for index in range(self.local):
            self._start_worker(index)
        if self.settings.expect_workers:
            self.note(f"waiting up to {self.settings.expect_timeout_s:g} s for "
                      f"{self.settings.expect_workers} remote Locust workers: on each host, "
                      f"asyncbench worker --master {host_port(self.bind, self.port)}")
        self.ensure_workers()

    def _start_worker(self, index: int) -> None:
        command = worker_command(self.master)
        slot = contextlib.ExitStack()

        def started(child: ChildProcess, deadline_s: float) -> None:
            if child.popen.poll() is not None:
                raise StackStartError(f"local worker {index} exited at once [log: "
                                      f"{child.log_path}]", child.command, child.tail())

        env = {**child_environment(), "LOCUST_SKIP_MONKEY_PATCH": "1"}
        self.children[index] = slot.enter_context(managed_process(
            f"locust-worker-{index}", command, env, self.bind, log_dir=self.log_dir,
            cpus=self.cpus, ready=started, netns=self.placement.netns))
        self.slots[index] = slot

    def _quit(self) -> None:
        """Ask the master (once) to tell every worker to quit; give the local ones a moment
        to leave by themselves before they are stopped."""
        if self.link is None or self.quitting:
            return
        self.quitting = True
        with contextlib.suppress(LoadGeneratorError):
            self.link.send({"op": "quit"})
        deadline = time.monotonic() + QUIT_WAIT_S
        while time.monotonic() < deadline and any(c is not None and c.alive()
                                                  for c in self.children):
            time.sleep(0.05)

    def close(self) -> None:
        """Ask the master to end its workers, stop the local ones, then the master; reap
        them all."""
        try:
            self._quit()
            for slot in self.slots:
                if slot is not None:
                    slot.close()
            self.stack.close()
        finally:
            self.executor.shutdown(wait=False, cancel_futures=True)
            if self.link is not None:
                self.link.close()

    # --- talking to the master ----------------------------------------------------------------

    async def call(self, func: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking exchange with the master off the event loop (on the engine's own
        thread, so that an interrupted trial never waits for it)."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, func, *args)

    def request(self, command: dict[str, Any], timeout_s: float) -> dict[str, Any]:
        """Send one command and wait for its answer (a margin beyond its own timeout)."""
        assert self.link is not None
        self.link.send(command)
        return self.link.recv(timeout_s + REPORT_MARGIN_S)

    def ensure_workers(self) -> list[str]:
        """Start again any local worker that exited; wait until every local and expected
        remote worker has joined (``expect_timeout_s`` with remote workers, at least
        ``START_TIMEOUT_S``); their ids.

        Raises:
            LoadGeneratorError: fewer workers joined (the message counts the missing).
        """
        for index, child in enumerate(self.children):
            if child is not None and not child.alive():
                slot = self.slots[index]
                if slot is not None:
                    slot.close()
                self.restarted += 1
                self._start_worker(index)
        want = self.local + self.settings.expect_workers
        # Remote workers get the config's patience; local ones the time to start.
        timeout = (max(self.settings.expect_timeout_s, START_TIMEOUT_S)
                   if self.settings.expect_workers else START_TIMEOUT_S)
        reply = self.request({"op": "workers", "want": want, "timeout_s": timeout}, timeout)
        workers = [str(w) for w in reply.get("workers", [])]
        self.refused = [str(a) for a in reply.get("refused", [])][:20]
        if len(workers) < want:
            refused = (f"; refused connections from {', '.join(self.refused)}"
                       if self.refused else "")
            raise LoadGeneratorError(
                f"{want - len(workers)} of {want} Locust workers missing after "
                f"{timeout:g} s ({self.local} local, {self.settings.expect_workers} remote "
                f"expected; remote ones join with `asyncbench worker --master "
                f"{host_port(self.bind, self.port)}`){refused}")
        return workers

    # --- the engine's face --------------------------------------------------------------------

    def describe(self) -> dict[str, Any]:
        """What the manifest records of the engine."""
        try:
            version: str | None = metadata.version("locust")
        except metadata.PackageNotFoundError:
            version = None
        return {"engine": ENGINE, "locust_version": version,
                "master": host_port(self.bind, self.port), "local_workers": self.local,
                "expect_workers": self.settings.expect_workers,
                "worker_cpus": sorted(self.cpus) if self.cpus else None,
                "allow_workers": [*self.settings.allow_workers, *self.placement.allow]}

    def notes(self) -> list[str]:
        """What is new since the last call and worth a line: refused peers, restarted
        local workers."""
        lines = [f"refused a Locust worker connecting from {a}"
                 for a in self.refused[self.told[0]:]]
        if self.restarted > self.told[1]:
            lines.append(f"started {self.restarted - self.told[1]} lost local Locust "
                         "worker(s) again")
        self.told = (len(self.refused), self.restarted)
        return lines

    def prepared(self, job: Job) -> DistributedLoad:
        """The trial's load, to enter before the monitor and ``run`` inside it."""
        return DistributedLoad(self, job)

    async def warm(self, job: Job) -> str | None:
        """Every worker warms up on its share; a problem line, or None."""
        async with self.prepared(job) as load:
            result = await load.run()
        return result.disturbed


@contextlib.contextmanager
def locust_engine(settings: LoadgenSettings, cpus: frozenset[int] | None,
                  log_dir: Path | None, placement: WorkerPlacement | None = None,
                  note: Callable[[str], None] = lambda _: None) -> Iterator[LocustEngine]:
    """A started locust engine for the block; everything it started is reaped on exit."""
    engine = LocustEngine(settings, cpus, log_dir, placement, note)
    try:
        engine.start()
        yield engine
    finally:
        engine.close()

