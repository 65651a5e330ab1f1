"""Which server worker holds which client connections: the share of a burst each accepted.

A sync server's worker keeps every connection it accepted, however long its queue, so a
burst of C clients takes about (the busiest worker's share) / threads x delay. The
``SpreadSampler`` records that share: every ``SAMPLE_INTERVAL_S`` a background thread
counts, per worker process of the stack, the client connections it holds (sockets accepted
on a port the stack listens on, still open in that worker); ``peak(start, end, since)`` is
the sample with the most connections in a window, e.g. one burst, counting only the
connections first seen since the burst began (those held when the sampler started count
as seen long before).

How, and what it costs. A process's sockets are read from ``/proc/PID/fd`` (one
``readlink`` per descriptor: about a millisecond a sample for 200 connections, so about 2%
of the harness's CPU at one sample every 50 ms, every 10 ms while new connections keep
arriving, when the peak is near; the trial records the sampler's own CPU time in
``checks.spread_cpu_s``). A burst shorter than a few samples may show fewer connections at
its peak than it had. What a socket is (its port, listening or not) comes from the
kernel's socket table through ``NETLINK_SOCK_DIAG``, asked only when a socket not seen
before appears (a few times a burst), because every such dump walks the machine's whole
connection hash table (a few milliseconds of kernel time, however few sockets there are).
Reading ``/proc/net/tcp`` (what psutil's ``net_connections`` does, once per process)
costs about three times that, per process and per sample, which would disturb the load
generator it shares a CPU with.

Workers are the processes of the stack's tree that hold a listening socket and have no
descendant holding one: gunicorn's, Hypercorn's and Uvicorn's workers (not their master,
whose listening socket the workers inherited), or a single-process server itself. A tree
whose sockets this network namespace does not show (a container with its own) gives no
samples; ``peak`` is then None. Linux only, like the rest of the monitor.
"""

from __future__ import annotations

import contextlib
import math
import os
import socket
import struct
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import psutil

SAMPLE_INTERVAL_S = 0.05  # as the trial monitor's: a 100 ms burst still gets two samples
ARRIVING_SPEEDUP = 5  # while new connections keep appearing, sample every 10 ms
TCP_LISTEN = 10
TCP_TIME_WAIT = 6
# Every TCP state (1..11, as bits 1 << state) but TIME_WAIT (no socket any process holds,
# and thousands of them after bursts of short connections) and LISTEN.
OPEN_STATES = 0xFFE & ~(1 << TCP_TIME_WAIT) & ~(1 << TCP_LISTEN)
_SOCK_DIAG = 4  # NETLINK_SOCK_DIAG
_BY_FAMILY = 20  # SOCK_DIAG_BY_FAMILY
_DUMP = 0x1 | 0x300  # NLM_F_REQUEST | NLM_F_DUMP
_ERROR, _DONE = 2, 3
_HEADER = struct.Struct("=IHHII")
_REQUEST = struct.Struct("=BBBBI48x")  # inet_diag_req_v2 with a zero sockid
_STATE = struct.Struct("=BB")  # inet_diag_msg: family, state
_PORT = struct.Struct(">H")  # idiag_sport, network order
_INODE = struct.Struct("=I")
_INODE_AT = 16 + 4 + 48 + 16  # header, family..retrans, sockid, expires..uid
DUMP_TIMEOUT_S = 2.0


def tcp_sockets(family: int, states: int = OPEN_STATES) -> list[tuple[int, int, int]]:
    """``(state, local port, inode)`` of every TCP socket of ``family`` in this network
    namespace whose state is in ``states`` (bits ``1 << state``).

    Raises:
        OSError: the kernel refused the request (no sock_diag, not Linux).
    """
    found: list[tuple[int, int, int]] = []
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _SOCK_DIAG) as nl:
        nl.settimeout(DUMP_TIMEOUT_S)
        body = _REQUEST.pack(family, socket.IPPROTO_TCP, 0, 0, states)
        nl.sendto(_HEADER.pack(_HEADER.size + len(body), _BY_FAMILY, _DUMP, 1, 0) + body, (0, 0))
        while True:
            data = nl.recv(1 << 16)
            offset = 0
            while offset + _HEADER.size <= len(data):
                length, kind = _HEADER.unpack_from(data, offset)[:2]
                if kind == _DONE:
                    return found
                if kind == _ERROR or length < _HEADER.size:
                    raise OSError("sock_diag refused the dump")
                _, state = _STATE.unpack_from(data, offset + 16)
                port = _PORT.unpack_from(data, offset + 20)[0]
                inode = _INODE.unpack_from(data, offset + _INODE_AT)[0]
                found.append((state, port, inode))
                offset += (length + 3) & ~3


def socket_inodes(pid: int) -> set[int]:
    """The inodes of the sockets ``pid`` holds open (empty when it is gone)."""
    inodes: set[int] = set()
    folder = f"/proc/{pid}/fd"
    try:
        names = os.listdir(folder)
    except OSError:
        return inodes
    for name in names:
        try:
            target = os.readlink(f"{folder}/{name}")
        except OSError:  # closed meanwhile
            continue
        if target.startswith("socket:["):
            inodes.add(int(target[8:-1]))
    return inodes


@dataclass(frozen=True)
class Spread:
    """Connections each worker held at one moment."""

    held: tuple[tuple[int, int], ...]  # (pid, connections), by pid

    @property
    def total(self) -> int:
        """Connections held by all workers."""
        return sum(n for _, n in self.held)

    @property
    def busiest(self) -> int:
        """Connections held by the busiest worker."""
        return max((n for _, n in self.held), default=0)

    def fields(self) -> dict[str, object]:
        """As a burst's record shows it: ``connections`` (all workers), ``busiest_worker``
        and ``workers`` (``[pid, connections]`` per worker, by pid)."""
        return {"connections": self.total, "busiest_worker": self.busiest,
                "workers": [[pid, n] for pid, n in self.held]}


NO_SPREAD: dict[str, object] = {"connections": None, "busiest_worker": None, "workers": None}


@dataclass(frozen=True)
class Sample:
    """What each worker held at ``at`` (the sampler's clock): its connections, counted by
    the time each was first seen, ``((first seen, connections), ...)``, so that a burst can
    count only its own clients (a server may keep the last burst's connections open a while
    after those clients left)."""

    at: float
    held: tuple[tuple[int, tuple[tuple[float, int], ...]], ...]  # by pid

    def spread(self, since: float | None = None) -> Spread:
        """The connections each worker held, counting only those first seen at or after
        ``since`` (all of them when None)."""
        return Spread(tuple((pid, sum(n for seen, n in counts if since is None or seen >= since))
                            for pid, counts in self.held))


def workers_of(procs: Iterable[psutil.Process], listeners: set[int]) -> list[int]:
    """The pids among ``procs`` that hold one of the ``listeners`` (socket inodes) and have
    no descendant among ``procs`` that holds one too, by pid."""
    holding = {p.pid for p in procs if socket_inodes(p.pid) & listeners}
    parents: dict[int, int] = {}
    for proc in procs:
        with contextlib.suppress(psutil.Error):
            parents[proc.pid] = proc.ppid()
    covered = set()
    for pid in holding:
        parent = parents.get(pid)
        while parent is not None and parent not in covered:
            covered.add(parent)
            parent = parents.get(parent)
    return sorted(holding - covered)


class SpreadSampler:
    """Samples the connections each worker of a stack holds, in a background thread.

    ``tree`` lists the stack's processes (read once, on entry); ``clock`` must be the
    clock the windows given to :meth:`peak` are measured on.
    """

    def __init__(self, tree: Callable[[], list[psutil.Process]],
                 interval_s: float = SAMPLE_INTERVAL_S,
                 clock: Callable[[], float] = time.perf_counter) -> None:
        self._tree = tree
        self._interval = interval_s
        self._clock = clock
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="spread-sampler", daemon=True)
        self._workers: list[int] = []
        self._ports: set[int] = set()
        self._families: tuple[int, ...] = ()
        self._port_of: dict[int, int] = {}   # listening socket inode -> its port
        self._connection: dict[int, float] = {}  # client connections on the ports: first seen
        self._other: set[int] = set()        # inodes of every other socket seen
        self.samples: list[Sample] = []
        self.cpu_s = 0.0  # the sampling thread's own CPU time
        self._arriving = False  # the last sample saw connections it had not seen before

    def _listeners(self) -> set[int]:
        listeners = set()
        families = []
        for family in (socket.AF_INET, socket.AF_INET6):
            try:
                found = tcp_sockets(family, 1 << TCP_LISTEN)
            except OSError:
                continue
            families.append(family)
            listeners |= {inode for _, _, inode in found}
            self._port_of.update({inode: port for _, port, inode in found})
        self._families = tuple(families)
        return listeners

    def __enter__(self) -> SpreadSampler:
        procs = self._tree()
        listeners = self._listeners()
        held = set().union(*(socket_inodes(p.pid) for p in procs)) if procs else set()
        self._ports = {self._port_of[i] for i in listeners & held}
        self._workers = workers_of(procs, listeners & held) if self._ports else []
        if self._workers:
            # What the workers hold already is older than anything measured from now on.
            self._classify(set().union(*(socket_inodes(pid) for pid in self._workers)),
                           -math.inf)
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _classify(self, inodes: set[int], at: float) -> None:
        """Learn which of ``inodes`` (first seen ``at``) are client connections on the
        stack's ports."""
        table: dict[int, tuple[int, int]] = {}
        read = False
        for family in self._families:
            with contextlib.suppress(OSError):
                table.update({inode: (state, port)
                              for state, port, inode in tcp_sockets(family) if inode})
                read = True
        if not read:  # asked again at the next sample
            return
        for inode in inodes:
            state, port = table.get(inode, (TCP_LISTEN, 0))
            if state != TCP_LISTEN and port in self._ports:
                self._connection[inode] = at
            else:
                self._other.add(inode)

    def sample(self) -> Sample:
        """The connections each worker holds now: stamped when their reading ended, since
        a connection accepted while they were read was opened before that, not before
        they began (under load the reading can take a while)."""
        held = {pid: socket_inodes(pid) for pid in self._workers}
        at = self._clock()
        new = set().union(*held.values()) - self._connection.keys() - self._other
        self._arriving = bool(new)
        if new:
            self._classify(new, at)
        return Sample(at, tuple(
            (pid, tuple(sorted(Counter(self._connection[i] for i in inodes
                                       if i in self._connection).items())))
            for pid, inodes in held.items()))

    def _run(self) -> None:
        start = time.thread_time()
        while not self._stop.is_set():
            self.samples.append(self.sample())
            self.cpu_s = time.thread_time() - start
            # While connections arrive (a burst's start) the peak is near: look again soon.
            self._stop.wait(self._interval / ARRIVING_SPEEDUP if self._arriving
                            else self._interval)

    def peak(self, start: float, end: float, since: float | None = None) -> Spread | None:
        """The most connections the workers held at once from ``start`` to ``end`` (the
        first of equal samples), counting those first seen at or after ``since`` (all when
        None); None when no sample fell in the window."""
        inside = [s.spread(since) for s in self.samples if start <= s.at <= end]
        return max(inside, key=lambda s: s.total, default=None)
