"""A clients trial of several bursts: the steady state comes from bursts 2..K only, the
``first_burst_*`` figures from the first (``drivers.combine_bursts`` and
``drivers.run_client_bursts``, with sessions handed in and a clock on virtual time)."""

from __future__ import annotations

import asyncio
import json
from types import TracebackType
from typing import Any

import pytest

from harness.loadgen.drivers import (
    Outcome,
    ScenarioResult,
    client_session,
    combine_bursts,
    run_client_bursts,
    run_clients,
    warm_up,
)
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
    def __init__(self, delay: float, calls: int | None = 1) -> None:
        self.delay, self.calls = delay, calls
        self.status = 200

    async def __aenter__(self) -> Answer:
        await asyncio.sleep(self.delay)
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        return None

    async def read(self) -> bytes:
        return json.dumps({"calls": self.calls}).encode()


class Session:
    """One burst's session: every answer takes ``delay`` seconds; it records its use."""

    def __init__(self, delay: float, log: list[tuple[str, int]], size: int) -> None:
        self.delay, self.log = delay, log
        self.urls: list[str] = []
        self.timeouts: list[Any] = []
        self.calls: int | None = None  # None: answer as many calls as asked (one)
        log.append(("open", size))

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.log.append(("close", 0))

    def get(self, url: str, timeout: Any) -> Answer:
        self.log.append(("get", 0))
        self.urls.append(url)
        self.timeouts.append(timeout)
        return Answer(self.delay, 1 if self.calls is None else self.calls)


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


class FanoutSession(Session):
    """Answers a fan-out URL (``n=2``) with two calls, anything else with one."""

    def get(self, url: str, timeout: Any) -> Answer:
        self.log.append(("get", 0))
        self.urls.append(url)
        self.timeouts.append(timeout)
        return Answer(self.delay, 2 if "n=2" in url else 1)


def test_warm_up_sends_three_alone_then_a_burst_then_one_fan_out(loop: VirtualLoop) -> None:
    session = FanoutSession(0.01, [], 1)
    outcomes = loop.run_until_complete(warm_up(
        session, "http://app.test/single", "http://app.test/aggregate?n=2", 5, 1.0))  # type: ignore[arg-type]
    assert session.urls == ["http://app.test/single"] * (3 + 5) + ["http://app.test/aggregate?n=2"]
    assert [o.kind for o in outcomes] == ["ok"] * 9
    few = FanoutSession(0.01, [], 1)
    loop.run_until_complete(warm_up(few, "http://app.test/single", None, 2, 1.0))  # type: ignore[arg-type]
    assert few.urls == ["http://app.test/single"] * (2 + 2)
    none = FanoutSession(0.01, [], 1)
    assert loop.run_until_complete(warm_up(none, None, None, 5, 1.0)) == []  # type: ignore[arg-type]
    assert none.urls == []


def test_pool_waits_are_the_ok_requests_own() -> None:
    result = ScenarioResult([Outcome("ok", 0.1, pool_wait_ms=1.5), Outcome("ok", 0.1),
                             Outcome("timeout", 1.0, "late", pool_wait_ms=9.0)], 1.0)
    assert result.pool_waits_ms() == [1.5]


def test_a_client_session_is_sized_for_its_load(loop: VirtualLoop) -> None:
    async def limits(size: int) -> tuple[int, int]:
        async with client_session(size) as session:
            connector = session.connector
            assert connector is not None
            assert connector.force_close is False  # keep-alive within a burst
            return connector.limit, connector.limit_per_host

    assert loop.run_until_complete(limits(250)) == (250, 0)
    assert loop.run_until_complete(limits(0)) == (1, 0)


def test_bursts_pass_their_url_timeout_and_calls_field_to_every_request(loop: VirtualLoop) -> None:
    sessions: list[Session] = []

    def opener(size: int) -> Any:
        sessions.append(Session(0.1, [], size))
        return sessions[-1]

    result = loop.run_until_complete(run_client_bursts(
        "http://app.test/own", 2, 4.5, 2, clock=lambda: asyncio.get_running_loop().time(),
        session=opener, calls_field="upstream"))
    assert [s.urls for s in sessions] == [["http://app.test/own"] * 2] * 2
    assert {t.total for s in sessions for t in s.timeouts} == {4.5}
    # The body says "calls", the stack's field is "upstream": every answer is a bad body.
    assert result.counts()["bad_body"] == 4


def test_zero_duration_steady_bursts_have_no_rate_and_burst_figures_keep_six_digits() -> None:
    first = burst(0.1234567, [0.1], 1)
    zero = ScenarioResult([Outcome("ok", 0.0)], 0.0, {"throughput_rps": 0.0})
    result = combine_bursts([first, zero], 1)
    assert result.metrics["throughput_rps"] == 0.0 and result.metrics["duration_s"] == 0.0
    assert result.bursts[0] == {"duration_s": 0.123457, "throughput_rps": 8.100006, "ok": 1}


def test_a_single_client_is_released_too(loop: VirtualLoop) -> None:
    session = Session(0.1, [], 1)
    result = loop.run_until_complete(run_clients(
        session, "http://app.test/single", 1, 2.0,  # type: ignore[arg-type]
        clock=lambda: asyncio.get_running_loop().time()))
    assert result.counts()["ok"] == 1 and result.metrics["throughput_rps"] == pytest.approx(10.0)


def test_warm_up_checks_every_answer_with_the_stacks_calls_field_and_timeout(loop: VirtualLoop) -> None:
    # Every answer says {"calls": 1}; a stack whose field is "upstream" gets bad bodies,
    # and the fan-out URL, expecting 2 calls, a bad body under "calls" too.
    own = FanoutSession(0.0, [], 1)
    outcomes = loop.run_until_complete(warm_up(
        own, "http://app.test/single", "http://app.test/fanout", 2, 3.5, "upstream"))  # type: ignore[arg-type]
    assert [o.kind for o in outcomes] == ["bad_body"] * 5
    assert {t.total for t in own.timeouts} == {3.5}
    wrong = Session(0.0, [], 1)
    wrong.calls = 3
    outcomes = loop.run_until_complete(warm_up(
        wrong, "http://app.test/single", "http://app.test/fanout", 2, 3.5))  # type: ignore[arg-type]
    assert [o.kind for o in outcomes] == ["bad_body"] * 5
