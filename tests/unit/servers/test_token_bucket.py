"""The token bucket behind the sync apps' quota and the upstream's 429s, on a fake clock."""

from __future__ import annotations

import threading

import pytest

from servers.token_bucket import TokenBucket


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)


def test_try_take_refuses_beyond_the_capacity_and_refills_at_the_rate() -> None:
    t = FakeTime()
    bucket = TokenBucket(10, capacity=5, clock=t.clock)
    assert [bucket.try_take() for _ in range(6)] == [True] * 5 + [False]
    t.now = 0.1  # one token back
    assert bucket.try_take() and not bucket.try_take()
    t.now = 100.0  # never more than the capacity banked
    assert sum(bucket.try_take() for _ in range(20)) == 5


def test_take_spaces_callers_at_the_rate_in_order() -> None:
    t = FakeTime()
    bucket = TokenBucket(4, capacity=1, clock=t.clock, sleep=t.sleep)
    waits = [bucket.reserve() for _ in range(4)]
    assert waits == pytest.approx([0.0, 0.25, 0.5, 0.75])
    bucket.take()
    assert t.slept == pytest.approx([1.0])


def test_a_client_pacing_itself_never_meets_the_servers_refusal() -> None:
    # The sync app's bucket (capacity 1) against the upstream's (one second banked).
    t = FakeTime()
    client = TokenBucket(50, capacity=1, clock=t.clock)
    server = TokenBucket(50, capacity=50, clock=t.clock)
    refused = 0
    for _ in range(1000):
        t.now += client.reserve()
        refused += not server.try_take()
    assert refused == 0
    assert t.now == pytest.approx(999 / 50)


def test_threads_share_one_bucket_without_losing_tokens() -> None:
    t = FakeTime()
    bucket = TokenBucket(1000, capacity=1, clock=t.clock)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(250):
            wait = bucket.reserve()
            with lock:
                waits.append(wait)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # 2000 reservations at a frozen clock: each due exactly 1 ms after the previous one.
    assert sorted(waits) == pytest.approx([i / 1000 for i in range(2000)])


@pytest.mark.parametrize(("rate", "capacity"), [(0, 1), (-1, 1), (float("inf"), 1), (1, 0.5)])
def test_bad_settings_are_refused(rate: float, capacity: float) -> None:
    with pytest.raises(ValueError):
        TokenBucket(rate, capacity)
