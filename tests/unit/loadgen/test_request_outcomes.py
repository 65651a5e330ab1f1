"""Each way a request ends, with its latency, detail and status exactly, and the tallies a
trial makes of them (``drivers.request``, ``ScenarioResult``), on a virtual clock."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import aiohttp
import pytest

from harness.loadgen.drivers import Outcome, ScenarioResult, request, run_clients, run_fanout
from tests.virtual_loop import VirtualLoop

URL = "http://app.test/single?delay_ms=100"


class Reply:
    def __init__(self, delay: float, status: int, body: Any) -> None:
        self.delay, self.status, self.body = delay, status, body

    async def __aenter__(self) -> Reply:
        await asyncio.sleep(self.delay)
        if isinstance(self.body, BaseException):
            raise self.body
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    async def read(self) -> bytes:
        return self.body if isinstance(self.body, bytes) else json.dumps(self.body).encode()


class Session:
    """Answers every GET after ``delay`` with ``status`` and ``body`` (or raises it)."""

    def __init__(self, delay: float, status: int, body: Any) -> None:
        self.reply = (delay, status, body)
        self.timeouts: list[Any] = []

    def get(self, url: str, timeout: Any) -> Reply:
        self.timeouts.append(timeout)
        return Reply(*self.reply)


def clock() -> float:
    return asyncio.get_running_loop().time()


def ask(loop: VirtualLoop, session: Session, expect: int | None = 1, **kw: Any) -> Outcome:
    return loop.run_until_complete(request(session, URL, expect, 7.5, clock, **kw))  # type: ignore[arg-type]


@pytest.mark.parametrize(("status", "body", "kind", "detail", "code"), [
    (503, {"calls": 1}, "http_status", f"HTTP 503 from {URL}", 503),
    (200, b"<html>", "bad_body", f"non-JSON body from {URL}", None),
    (200, [1], "bad_body", f"body of {URL} is not a JSON object", None),
    (200, {"calls": 2}, "bad_body", f"{URL} reported calls = 2, expected 1", None),
    (0, TimeoutError(), "timeout", f"no answer within 7.5 s from {URL}", None),
    (0, aiohttp.ServerDisconnectedError(), "connect", f"ServerDisconnectedError on {URL}", None),
    (0, aiohttp.ClientPayloadError("cut"), "bad_body", f"ClientPayloadError on {URL}", None),
])
def test_every_failure_has_its_kind_latency_detail_and_status(
        loop: VirtualLoop, status: int, body: Any, kind: str, detail: str, code: int | None) -> None:
    session = Session(0.25, status, body)
    outcome = ask(loop, session)
    assert outcome == Outcome(kind, pytest.approx(0.25), detail, code)  # type: ignore[arg-type]
    assert outcome.latency_s == pytest.approx(0.25)
    [timeout] = session.timeouts
    assert isinstance(timeout, aiohttp.ClientTimeout) and timeout.total == 7.5


@pytest.mark.parametrize(("wait", "read"), [(2.5, 2.5), (3, 3), (True, None), ("1", None),
                                            (None, None)])
def test_a_database_apps_pool_wait_is_read_when_it_is_a_number(loop: VirtualLoop, wait: Any,
                                                                read: float | None) -> None:
    outcome = ask(loop, Session(0.1, 200, {"calls": 1, "pool_wait_ms": wait}))
    assert outcome.kind == "ok" and outcome.pool_wait_ms == read
    assert outcome.latency_s == pytest.approx(0.1) and outcome.detail is None


def test_the_calls_field_is_calls_by_default(loop: VirtualLoop) -> None:
    assert ask(loop, Session(0.0, 200, {"calls": 1})).kind == "ok"
    assert ask(loop, Session(0.0, 200, {"CALLS": 1})).kind == "bad_body"


def test_fanout_passes_its_timeout_and_a_zero_duration_has_no_rate(loop: VirtualLoop) -> None:
    session = Session(0.0, 200, {"calls": 3})
    result = loop.run_until_complete(run_fanout(session, URL, 3, 9.0, clock))  # type: ignore[arg-type]
    assert session.timeouts[0].total == 9.0
    assert result.metrics == {"duration_s": 0.0, "calls_per_s": 0.0}


def test_clients_expect_one_call_and_a_zero_duration_has_no_rate(loop: VirtualLoop) -> None:
    session = Session(0.0, 200, {"calls": 2})
    result = loop.run_until_complete(run_clients(session, URL, 3, 9.0, clock))  # type: ignore[arg-type]
    assert result.counts()["bad_body"] == 3
    assert result.metrics == {"duration_s": 0.0, "mean_response_s": 0.0, "throughput_rps": 0.0}
    assert session.timeouts[0].total == 9.0


def test_counts_and_the_first_error_add_up_every_kind() -> None:
    result = ScenarioResult([Outcome("ok", 0.1), Outcome("timeout", 1.0, "late A"),
                             Outcome("timeout", 1.0, "late B"), Outcome("connect", 0.1, "refused"),
                             Outcome("http_status", 0.1, "HTTP 502", 502)], 1.0)
    assert result.counts() == {"ok": 1, "connect": 1, "timeout": 2, "http_status": 1,
                               "bad_body": 0, "total": 5}
    assert result.first_error() == ("4 of 5 requests failed (1 connect, 1 http_status, "
                                    "2 timeout; first: late A)")
    assert result.first_error(tolerated=(502,)) == ("3 of 5 requests failed (1 connect, "
                                                    "2 timeout; first: late A)")
    assert ScenarioResult([Outcome("ok", 0.1)], 0.1).first_error() is None


def test_latencies_are_the_steady_bursts_when_there_are_any() -> None:
    steady = [Outcome("ok", 0.2)]
    result = ScenarioResult([Outcome("ok", 0.9), *steady], 1.1, steady=steady)
    assert result.ok_latencies_s() == [0.2]
    assert ScenarioResult([Outcome("ok", 0.9)], 0.9).ok_latencies_s() == [0.9]
