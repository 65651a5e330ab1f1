"""The spread sampler's bookkeeping without a server: which sockets count as a worker's
client connections, when each was first seen, and what a failed table read does.
``socket_inodes`` and ``tcp_sockets`` (what /proc and the kernel would say) are replaced;
real servers are in tests/integration/test_arrival_servers.py."""

from __future__ import annotations

import socket

import pytest

from harness.loadgen import spread
from harness.loadgen.spread import TCP_LISTEN, SpreadSampler

PORT, UPSTREAM = 8000, 9000
ESTABLISHED = 1


class Kernel:
    """What the kernel shows: each worker's socket inodes and the socket table."""

    def __init__(self) -> None:
        self.held: dict[int, set[int]] = {7: {100}, 8: {100}}  # 100: the shared listener
        self.table = [(TCP_LISTEN, PORT, 100)]
        self.failing = False
        self.reads = 0

    def inodes(self, pid: int) -> set[int]:
        return set(self.held.get(pid, set()))

    def sockets(self, family: int, states: int = 0) -> list[tuple[int, int, int]]:
        self.reads += 1
        if self.failing:
            raise OSError("sock_diag refused the dump")
        return list(self.table)


@pytest.fixture
def kernel(monkeypatch: pytest.MonkeyPatch) -> Kernel:
    fake = Kernel()
    monkeypatch.setattr(spread, "socket_inodes", fake.inodes)
    monkeypatch.setattr(spread, "tcp_sockets", fake.sockets)
    return fake


def sampler(now: list[float]) -> SpreadSampler:
    made = SpreadSampler(lambda: [], clock=lambda: now[0])
    made._workers, made._ports, made._families = [7, 8], {PORT}, (socket.AF_INET,)
    return made


def test_only_connections_accepted_on_the_stacks_port_count(kernel: Kernel) -> None:
    now = [5.0]
    watch = sampler(now)
    kernel.held[7] |= {101, 102, 900}  # two clients, and a connection to the upstream
    kernel.held[8] |= {103}
    kernel.table += [(ESTABLISHED, PORT, 101), (ESTABLISHED, PORT, 102),
                     (ESTABLISHED, PORT, 103), (ESTABLISHED, 41234, 900)]
    sample = watch.sample()
    assert sample.spread().held == ((7, 2), (8, 1))
    reads = kernel.reads
    watch.sample()  # nothing new: the table is not read again
    assert kernel.reads == reads


def test_a_connection_is_stamped_when_the_reading_ended(kernel: Kernel,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    now = [10.0]
    watch = sampler(now)

    def slow(pid: int) -> set[int]:  # the burst is released while the sampler reads
        now[0] = 12.0
        return {100, 101} if pid == 7 else {100}

    monkeypatch.setattr(spread, "socket_inodes", slow)
    kernel.table.append((ESTABLISHED, PORT, 101))
    sample = watch.sample()
    assert sample.at == 12.0
    assert sample.spread(since=11.0).held == ((7, 1), (8, 0))  # counted for the burst at 11


def test_a_failed_table_read_leaves_new_sockets_to_the_next_sample(kernel: Kernel) -> None:
    now = [1.0]
    watch = sampler(now)
    kernel.held[7] |= {101}
    kernel.table.append((ESTABLISHED, PORT, 101))
    kernel.failing = True
    assert watch.sample().spread().held == ((7, 0), (8, 0))
    kernel.failing = False
    now[0] = 2.0
    sample = watch.sample()
    assert sample.spread().held == ((7, 1), (8, 0))
    assert sample.spread(since=1.5).held == ((7, 1), (8, 0))  # first seen at 2.0


def test_workers_are_the_innermost_processes_holding_the_listener(kernel: Kernel) -> None:
    class Proc:
        def __init__(self, pid: int, parent: int) -> None:
            self.pid, self.parent = pid, parent

        def ppid(self) -> int:
            return self.parent

    # guard 1 -> master 2 -> workers 7 and 8; 9 (a resource tracker) holds no listener
    kernel.held = {2: {100}, 7: {100, 5}, 8: {100}, 9: {6}}
    procs = [Proc(1, 0), Proc(2, 1), Proc(7, 2), Proc(8, 2), Proc(9, 2)]
    assert spread.workers_of(procs, {100}) == [7, 8]  # type: ignore[arg-type]
    kernel.held = {1: {100}}  # a single-process server is its own worker
    assert spread.workers_of([Proc(1, 0)], {100}) == [1]  # type: ignore[arg-type]
