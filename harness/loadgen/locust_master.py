"""The Locust master, a child process of the harness: ``python -m harness.loadgen.locust_master``.

Locust is imported here, on the master's side, and in the workers: the harness's own
asyncio process never imports it. Nothing is monkey-patched (``LOCUST_SKIP_MONKEY_PATCH``):
Locust's runner lives on gevent's hub and ZeroMQ's green sockets, and the line to the
harness is a gevent socket, so waiting on it lets the heartbeats run. The
harness talks to this process over a socket pair (:mod:`harness.loadgen.link`); this
process talks to the workers through Locust's ``MasterRunner`` (worker discovery,
heartbeats, custom messages over ZeroMQ) and relays:

    harness -> master                         master -> harness
    {"op": "workers", "want", "timeout_s"}    {"workers": [ids], "refused": [addresses]}
    {"op": "order", "trial", "job", "parts",  {"workers": [ids], "problems": {id: line}}
     "take", "timeout_s"}                     (every taker ready for burst 1)
    {"op": "run", "trial", "bursts",          {"workers", "reports": {id: data},
     "timeout_s"}                             "problems": {id: line}}
    {"op": "abort", "trial"}                  {}
    {"op": "quit"}                            (exits)

The listening socket binds exactly the address it is given, drops any message over
``messages.MAX_MESSAGE_BYTES``, and asks a ZAP handler about every connecting peer:
only allowed addresses (the bound address, exact loopback when it is loopback, and the
config's ``allow_workers``) get in. A message
that Locust cannot decode or handle is recorded against its worker instead of ending
the master.
"""

from __future__ import annotations

import os

os.environ.setdefault("LOCUST_SKIP_MONKEY_PATCH", "1")  # before Locust is imported

import argparse
import ipaddress
import logging
import sys
import time
from collections.abc import Callable
from typing import Any

import gevent
import gevent.socket
import zmq.green as zmq
from locust.env import Environment
from locust.exception import RPCError, RPCReceiveError
from locust.rpc import rpc
from locust.rpc.protocol import Message
from locust.runners import STATE_MISSING, MasterRunner

from harness.loadgen import messages
from harness.loadgen.link import Link

ZAP_ENDPOINT = "inproc://zeromq.zap.01"
ZAP_DOMAIN = b"asyncbench"
MAX_REFUSED = 20
POLL_S = 0.01
log = logging.getLogger("asyncbench.master")


class Allowed:
    """Which peer addresses may join: the address the master binds (a local worker
    dialling it comes from it), 127.0.0.1 and ::1 when that is loopback, and the
    networks given (``allow_workers``). Anything else is refused, and remembered."""

    def __init__(self, bind: str = "127.0.0.1", networks: tuple[str, ...] = ()) -> None:
        own = ipaddress.ip_address(bind)
        self.exact = {own} | ({ipaddress.ip_address("127.0.0.1"), ipaddress.ip_address("::1")}
                              if own.is_loopback else set())
        self.networks = [ipaddress.ip_network(n, strict=False) for n in networks]
        self.refused: list[str] = []

    def __call__(self, peer: str) -> bool:
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            address = None
        if address is not None and (address in self.exact
                                    or any(address in n for n in self.networks)):
            return True
        if len(self.refused) < MAX_REFUSED and peer not in self.refused:
            self.refused.append(peer[:60])
        log.warning("refused a worker connecting from %s (not an allowed address)", peer)
        return False


ALLOWED = Allowed()
MALFORMED: dict[str, str] = {}  # worker id -> what it sent that could not be used


class GuardedServer(rpc.Server):
    """Locust's server socket, bound to one address, with a message size limit and a ZAP
    handler that admits only allowed peers; undecodable messages become receive errors."""

    def __init__(self, host: str, port: int) -> None:
        rpc.BaseSocket.__init__(self, zmq.ROUTER, self.ipv4_only(host, port))
        self.socket.setsockopt(zmq.MAXMSGSIZE, messages.MAX_MESSAGE_BYTES)
        self.zap = self.socket.context.socket(zmq.REP)
        self.zap.bind(ZAP_ENDPOINT)
        self.zap_greenlet = gevent.spawn(self.authenticate)
        self.socket.zap_domain = ZAP_DOMAIN
        if port == 0:
            self.port = self.socket.bind_to_random_port(f"tcp://{host}")
        else:
            self.socket.bind(f"tcp://{host}:{port}")
            self.port = port

    def authenticate(self) -> None:
        """Answer ZAP requests (RFC 27): 200 for an allowed peer address, 400 otherwise."""
        while True:
            frames = self.zap.recv_multipart()
            version, request_id, address = frames[0], frames[1], frames[3]
            ok = ALLOWED(address.decode("ascii", "replace"))
            self.zap.send_multipart([version, request_id, b"200" if ok else b"400",
                                     b"OK" if ok else b"address not allowed", b"", b""])

    def recv_from_client(self) -> tuple[str, Message]:
        try:
            frames = self.socket.recv_multipart()
        except zmq.ZMQError as exc:
            raise RPCError("ZMQ network broken") from exc
        if len(frames) != 2:
            raise RPCReceiveError(f"a message of {len(frames)} frames")
        addr = frames[0].decode("utf-8", "replace")
        try:
            message = Message.unserialize(frames[1])
            if not isinstance(message.type, str) or message.node_id != addr:
                raise ValueError("type or node id")
        except Exception as exc:  # msgpack on hostile bytes: anything
            MALFORMED[addr] = f"a message that does not decode ({type(exc).__name__})"
            raise RPCReceiveError("undecodable message", addr=addr) from None
        return addr, message

    def close(self, linger: int | None = None) -> None:
        self.zap_greenlet.kill()
        self.zap.close(linger=0)
        super().close(linger=linger)


class GuardedMaster(MasterRunner):
    """Locust's master runner whose message handling never ends the process."""

    def handle_message(self, client_id: str, msg: Message) -> None:
        try:
            super().handle_message(client_id, msg)
        except Exception as exc:
            MALFORMED[client_id] = (f"a {str(msg.type)[:40]!r} message that Locust could not "
                                    f"handle ({type(exc).__name__})")


class Relay:
    """The master's side of one trial at a time: orders out, readiness and reports in."""

    def __init__(self, master: GuardedMaster) -> None:
        self.master = master
        self.inbox: dict[tuple[str, str, int], dict[str, Any]] = {}
        self.takers: list[str] = []
        for kind in messages.FROM_WORKER:
            master.register_message(kind, self.listener(kind))

    def listener(self, kind: str) -> Callable[..., None]:
        def receive(environment: Environment, msg: Message, **_: Any) -> None:
            data = msg.data
            if not isinstance(data, dict) or not isinstance(data.get("trial"), str):
                MALFORMED[msg.node_id] = f"a {kind} message without a trial"
                return
            burst = data.get("burst", 0)
            burst = burst if isinstance(burst, int) and not isinstance(burst, bool) else -1
            self.inbox[(kind, data["trial"], burst)] = {**self.inbox.get(
                (kind, data["trial"], burst), {}), msg.node_id: data}
        return receive

    def ready_workers(self) -> list[str]:
        """Connected, live workers in the order they joined."""
        live = [c.id for c in self.master.clients.all if c.state != STATE_MISSING]
        return sorted(live, key=self.master.get_worker_index)

    def problems(self, trial: str) -> dict[str, str]:
        """Why takers of ``trial`` cannot be counted: lost, failed or malformed."""
        found: dict[str, str] = {}
        errors = self.inbox.get((messages.ERROR, trial, 0), {})
        live = set(self.ready_workers())
        for index, worker in enumerate(self.takers):
            if worker in MALFORMED:
                found[worker] = (f"worker {index} sent a malformed message: "
                                 f"{MALFORMED[worker]}")
            elif worker in errors:
                found[worker] = (f"worker {index} failed: "
                                 f"{str(errors[worker].get('message'))[:200]}")
            elif worker not in live:
                found[worker] = f"worker lost: worker {index} ({worker}) stopped answering"
        return found

    def wait_all(self, kind: str, trial: str, burst: int, deadline: float) -> dict[str, str]:
        """Wait until every taker sent ``kind`` for ``burst``; the problems found instead."""
        while True:
            got = self.inbox.get((kind, trial, burst), {})
            if all(worker in got for worker in self.takers):
                return {}
            problems = self.problems(trial)
            if problems:
                return problems
            if time.monotonic() > deadline:
                late = [i for i, w in enumerate(self.takers) if w not in got]
                return {self.takers[i]: f"worker late: worker {i} sent no {kind.split('_')[-1]} "
                                        f"for burst {burst} in time" for i in late}
            gevent.sleep(POLL_S)

    def handle(self, command: dict[str, Any]) -> dict[str, Any]:
        """Carry out one command of the harness."""
        op, trial = command.get("op"), str(command.get("trial", ""))
        deadline = time.monotonic() + float(command.get("timeout_s", 0))
        if op == "workers":
            want = int(command.get("want", 0))
            while len(self.ready_workers()) < want and time.monotonic() < deadline:
                gevent.sleep(0.05)
            return {"workers": self.ready_workers(), "refused": list(ALLOWED.refused)}
        if op == "order":
            MALFORMED.clear()
            self.inbox = {}
            workers = self.ready_workers()
            self.takers = workers[:int(command["take"])]
            for index, worker in enumerate(self.takers):
                self.master.send_message(messages.ORDER, {
                    "trial": trial, "job": command["job"], "index": index,
                    "parts": int(command["parts"])}, client_id=worker)
            return {"workers": self.takers,
                    "problems": self.wait_all(messages.READY, trial, 1, deadline)}
        if op == "run":
            problems = {}
            for burst in range(1, int(command["bursts"]) + 1):
                problems = self.wait_all(messages.READY, trial, burst, deadline)
                if problems:
                    break
                for worker in self.takers:
                    self.master.send_message(messages.RELEASE, {"trial": trial, "burst": burst},
                                             client_id=worker)
            if not problems:
                problems = self.wait_all(messages.REPORT, trial, 0, deadline)
            reports = self.inbox.get((messages.REPORT, trial, 0), {})
            if problems:
                self.abort(trial)
            return {"workers": self.takers, "problems": problems,
                    "reports": {w: reports[w] for w in self.takers if w in reports}}
        if op == "abort":
            self.abort(trial)
            return {}
        return {"error": f"unknown op {op!r}"}

    def abort(self, trial: str) -> None:
        """Tell every live taker to drop ``trial``."""
        live = set(self.ready_workers())
        for worker in self.takers:
            if worker in live:
                self.master.send_message(messages.ABORT, {"trial": trial}, client_id=worker)


def main(argv: list[str] | None = None) -> int:
    """Serve the harness on ``--fd`` until it says quit or goes away."""
    parser = argparse.ArgumentParser(prog="locust_master")
    parser.add_argument("--fd", type=int, required=True)
    parser.add_argument("--bind", required=True)
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--allow", action="append", default=[])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")
    global ALLOWED
    ALLOWED = Allowed(args.bind, tuple(args.allow))
    rpc.Server = GuardedServer  # type: ignore[misc]
    link = Link(gevent.socket.socket(fileno=args.fd), "the harness")
    environment = Environment(user_classes=[])
    master = GuardedMaster(environment, args.bind, args.port)
    environment.runner = master
    relay = Relay(master)
    link.send({"listening": master.server.port})
    try:
        while True:
            command = link.recv()
            if command.get("op") == "quit":
                break
            link.send(relay.handle(command))
    except Exception as exc:  # the harness went away (or sent nonsense): end the workers
        log.warning("leaving: %s", exc)
    master.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
