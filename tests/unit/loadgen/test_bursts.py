"""A clients trial of several bursts: the steady state comes from bursts 2..K only, the
``first_burst_*`` figures from the first (``drivers.combine_bursts`` and
``drivers.run_client_bursts``, with sessions handed in and a clock on virtual time)."""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import Any

import pytest

from harness.loadgen.drivers import Outcome, ScenarioResult, combine_bursts, run_client_bursts
from tests.virtual_loop import VirtualLoop


def burst(duration: float, latencies: list[float], clients: int, failed: int = 0) -> ScenarioResult:
    outcomes = [Outcome("ok", x) for x in latencies]
    outcomes += [Outcome("http_status", 0.01, "HTTP 500", 500)] * failed
    return ScenarioResult(outcomes, duration, {"duration_s": duration,
                                               "mean_response_s": sum(latencies) / len(latencies),
                                               "throughput_rps": clients / duration})


def test_one_burst_is_the_burst_itself() -> None:
    only = burst(0.5, [0.1, 0.2], 2)
    assert combine_bursts([only], 2) is only


def test_the_steady_state_is_bursts_two_to_k_and_the_first_is_kept_apart() -> None:
    # A cold first burst (1.0 s) and two steady ones (0.2 s and 0.4 s) of 4 clients.
    first = burst(1.0, [0.9, 0.9, 1.0, 1.0], 4)
    second = burst(0.2, [0.1, 0.1, 0.2, 0.2], 4)
    third = burst(0.4, [0.3, 0.3, 0.4, 0.3], 4, failed=0)
    result = combine_bursts([first, second, third], 4)
    assert result.metrics["duration_s"] == pytest.approx(0.3)        # mean of 0.2 and 0.4
    assert result.metrics["throughput_rps"] == pytest.approx(4 / 0.3)
    assert result.metrics["mean_response_s"] == pytest.approx(1.9 / 8)  # steady ok latencies
    assert result.metrics["first_burst_duration_s"] == pytest.approx(1.0)
    assert result.metrics["first_burst_throughput_rps"] == pytest.approx(4.0)
    # Latencies are summarised over the steady bursts; every request is counted.
    assert sorted(result.ok_latencies_s()) == pytest.approx([0.1, 0.1, 0.2, 0.2, 0.3, 0.3, 0.3, 0.4])
    assert result.counts()["total"] == 12 and result.counts()["ok"] == 12
    assert result.duration_s == pytest.approx(1.6)  # the trial's whole load
    assert result.bursts == [
        {"duration_s": 1.0, "throughput_rps": 4.0, "ok": 4},
        {"duration_s": 0.2, "throughput_rps": 20.0, "ok": 4},
        {"duration_s": 0.4, "throughput_rps": 10.0, "ok": 4},
    ]


def test_failures_of_any_burst_are_counted_and_steady_failures_leave_the_mean() -> None:
    first = burst(1.0, [0.5, 0.5], 3, failed=1)
    second = burst(0.5, [0.2, 0.4], 3, failed=1)
    result = combine_bursts([first, second], 3)
    assert result.counts()["http_status"] == 2 and result.counts()["total"] == 6
    assert result.metrics["mean_response_s"] == pytest.approx(0.3)
    assert result.bursts[0]["ok"] == 2 and result.bursts[1]["ok"] == 2
    assert result.first_error() is not None and result.first_error().startswith("2 of 6")  # type: ignore[union-attr]


def test_a_steady_state_without_ok_requests_has_a_zero_mean() -> None:
    result = combine_bursts([burst(1.0, [0.5], 1), ScenarioResult(
        [Outcome("timeout", 2.0, "no answer")], 2.0, {"throughput_rps": 0.5})], 1)
    assert result.metrics["mean_response_s"] == 0.0
    assert result.ok_latencies_s() == []


class Answer:
    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.status = 200

    async def __aenter__(self) -> Answer:
        await asyncio.sleep(self.delay)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        return None

    async def read(self) -> bytes:
        return json.dumps({"calls": 1}).encode()


class Session:
    """One burst's session: every answer takes ``delay`` seconds; it records its use."""

    def __init__(self, delay: float, log: list[tuple[str, int]], size: int) -> None:
        self.delay, self.log = delay, log
        log.append(("open", size))

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.log.append(("close", 0))

    def get(self, url: str, timeout: Any) -> Answer:
        self.log.append(("get", 0))
        return Answer(self.delay)


def test_each_burst_runs_on_a_new_session_and_only_the_first_is_cold(loop: VirtualLoop) -> None:
    delays = iter([0.8, 0.2, 0.2, 0.2])
    log: list[tuple[str, int]] = []

    def opener(size: int) -> Any:
        return Session(next(delays), log, size)

    result = loop.run_until_complete(run_client_bursts(
        "http://app.test/single", 5, 10.0, 4, clock=lambda: asyncio.get_running_loop().time(),
        session=opener))
    assert [entry for entry in log if entry[0] != "get"] == [("open", 5), ("close", 0)] * 4
    assert sum(entry[0] == "get" for entry in log) == 20
    assert result.metrics["duration_s"] == pytest.approx(0.2)
    assert result.metrics["throughput_rps"] == pytest.approx(25.0)
    assert result.metrics["mean_response_s"] == pytest.approx(0.2)
    assert result.metrics["first_burst_duration_s"] == pytest.approx(0.8)
    assert result.metrics["first_burst_throughput_rps"] == pytest.approx(6.25)
    assert len(result.bursts) == 4 and result.counts()["ok"] == 20
