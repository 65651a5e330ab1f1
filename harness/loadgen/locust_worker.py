"""A Locust worker that runs the harness's scenarios: ``asyncbench worker --master HOST:PORT``.

Locust's ``WorkerRunner`` connects to the master, keeps its heartbeats and carries the
harness's messages (:mod:`harness.loadgen.messages`); the load itself is the scenario's
one implementation (:func:`harness.loadgen.scenario.run_share`) on an asyncio event loop
in a real thread of its own. Locust is imported with ``LOCUST_SKIP_MONKEY_PATCH`` set, so
gevent patches nothing: its hub runs Locust's greenlets in the main thread, asyncio runs
the load in the other, and the two hand messages over with thread-safe callbacks
(``loop.run_callback_threadsafe`` one way, ``call_soon_threadsafe`` the other).

One trial at a time: an order arriving while the share of an older trial still runs (the
master gave up on it) cancels that share first.
"""

from __future__ import annotations

import os

os.environ.setdefault("LOCUST_SKIP_MONKEY_PATCH", "1")  # before Locust is imported

import asyncio
import logging
import math
import socket
import threading
import time
from typing import Any

import gevent
from locust import User, runners
from locust.env import Environment
from locust.rpc.protocol import Message

from harness.errors import LoadGeneratorError
from harness.loadgen import messages
from harness.loadgen.scenario import Job, run_share

DEFAULT_CONNECT_TIMEOUT_S = 60.0
FREE_WAIT_S = 10.0  # for a stale share to end when the next order comes


def _never(user: User) -> None:
    """The task of :class:`HarnessUser`, which Locust never spawns."""


class HarnessUser(User):
    """The harness's user code as Locust sees it. Locust never spawns it: the load is the
    harness's scenarios, started by the master's order messages, not by user counts."""

    tasks = [_never]  # noqa: RUF012 (Locust reads it off the class)


class ShareRunner:
    """Runs the master's orders on an asyncio loop in a thread of its own."""

    def __init__(self, runner: runners.WorkerRunner) -> None:
        self.runner = runner
        self.hub = gevent.get_hub()
        self.host = socket.gethostname()[:100]
        self.trial: str | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.task: asyncio.Task[Any] | None = None
        self.released: dict[int, asyncio.Future[None]] = {}
        self.lock = threading.Lock()
        runner.register_message(messages.ORDER, self.on_order)
        runner.register_message(messages.RELEASE, self.on_release)
        runner.register_message(messages.ABORT, self.on_abort)

    # --- in the hub's thread -----------------------------------------------------------------

    def on_order(self, environment: Environment, msg: Message, **_: Any) -> None:
        """Start the ordered share in its own thread (or refuse: busy, malformed)."""
        try:
            trial, job, index, parts = messages.parse_order(msg.data)
        except messages.MessageError as exc:
            self.send(messages.ERROR, {"trial": "", "message": f"malformed order: {exc}"})
            return
        gevent.spawn(self.start_when_free, trial, job, index, parts)

    def start_when_free(self, trial: str, job: Job, index: int, parts: int) -> None:
        """Start the share once no other runs: a share of an older trial is stale (the
        master has moved on), so it is cancelled and given ``FREE_WAIT_S`` to end."""
        deadline = time.monotonic() + FREE_WAIT_S
        while True:
            with self.lock:
                if self.trial is None:
                    self.trial = trial
                    break
                if self.loop is not None and self.task is not None:
                    self.loop.call_soon_threadsafe(self.task.cancel)
            if time.monotonic() > deadline:
                self.send(messages.ERROR, {"trial": trial,
                                           "message": f"still busy with trial {self.trial}"})
                return
            gevent.sleep(0.02)
        threading.Thread(target=self.run, args=(trial, job, index, parts),
                         name=f"share-{trial}", daemon=True).start()

    def on_release(self, environment: Environment, msg: Message, **_: Any) -> None:
        """Release a burst of the running share."""
        data = msg.data if isinstance(msg.data, dict) else {}
        burst = data.get("burst")
        with self.lock:
            if self.loop is None or data.get("trial") != self.trial or not isinstance(burst, int):
                return
            self.loop.call_soon_threadsafe(self._release, burst)

    def on_abort(self, environment: Environment, msg: Message, **_: Any) -> None:
        """Cancel the running share."""
        with self.lock:
            if self.loop is not None and self.task is not None:
                self.loop.call_soon_threadsafe(self.task.cancel)

    def send(self, kind: str, data: dict[str, Any]) -> None:
        """Send from any thread: the message leaves from the hub's thread."""
        data = {**data, "host": self.host, "pid": os.getpid()}
        if threading.current_thread() is threading.main_thread():
            self.runner.send_message(kind, data)
        else:
            self.hub.loop.run_callback_threadsafe(self.runner.send_message, kind, data)

    # --- in the share's thread ----------------------------------------------------------------

    def _future(self, burst: int) -> asyncio.Future[None]:
        assert self.loop is not None
        return self.released.setdefault(burst, self.loop.create_future())

    def _release(self, burst: int) -> None:
        future = self._future(burst)
        if not future.done():
            future.set_result(None)

    async def _share(self, trial: str, job: Job, index: int, parts: int) -> Any:
        async def gate(burst: int) -> None:
            self.send(messages.READY, {"trial": trial, "burst": burst})
            await self._future(burst)

        with self.lock:
            self.loop = asyncio.get_running_loop()
            self.task = asyncio.current_task()
        return await run_share(job, index, parts, gate)

    def run(self, trial: str, job: Job, index: int, parts: int) -> None:
        """Run one share and report it (or its error) to the master."""
        try:
            partial = asyncio.run(self._share(trial, job, index, parts))
            data = messages.report(partial)
            if data is not None and data.get("last_answer") == -math.inf:
                data["last_answer"] = None  # no answer at all; JSON has no infinity
            self.send(messages.REPORT, {"trial": trial, "report": data})
        except asyncio.CancelledError:
            pass
        except Exception as exc:  # the master records it as this worker's part failing
            self.send(messages.ERROR, {"trial": trial,
                                       "message": f"{type(exc).__name__}: {exc}"[:200]})
        finally:
            with self.lock:
                self.trial, self.loop, self.task = None, None, None
                self.released = {}


def serve(host: str, port: int, connect_timeout_s: float = DEFAULT_CONNECT_TIMEOUT_S,
          say: Any = print) -> int:
    """Join the master at ``host:port`` and serve its orders until it quits.

    Raises:
        LoadGeneratorError: no master accepted this worker within ``connect_timeout_s``.
    """
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    # Locust tries once, then CONNECT_RETRY_COUNT times more, CONNECT_TIMEOUT seconds each.
    runners.CONNECT_RETRY_COUNT = max(0, math.ceil(connect_timeout_s / runners.CONNECT_TIMEOUT) - 1)
    environment = Environment(user_classes=[HarnessUser])
    try:
        runner = environment.create_worker_runner(host, port)
    except ConnectionError:
        raise LoadGeneratorError(
            f"no master accepted this worker at {host}:{port} within {connect_timeout_s:g} s "
            "(not listening there, or it refuses this host's address)") from None
    ShareRunner(runner)
    say(f"worker {runner.client_id} joined the master at {host}:{port}", flush=True)
    runner.greenlet.join()
    say("the master ended the run; worker exiting", flush=True)
    return 0
