"""The closed-loop drivers with a session and a clock handed in: no sockets.

The fake session answers each GET after a chosen delay (through asyncio.sleep, so
concurrent requests overlap as they would on a socket) on a loop on virtual time, whose
clock the drivers read: a 100 ms answer measures exactly 100 ms.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from types import TracebackType
from typing import Any

import aiohttp
import pytest

from harness.config.schema import StackSpec
from harness.loadgen.drivers import request, run_clients, run_fanout
from tests.virtual_loop import VirtualLoop

BASE = "http://app.test"
FLASK = StackSpec("flask-gunicorn", "flask", "gunicorn", "gthread")


class FakeResponse:
    def __init__(self, status: int, body: bytes) -> None:
        self.status, self._body = status, body

    async def read(self) -> bytes:
        return self._body


class FakeRequest:
    def __init__(self, session: FakeSession, url: str) -> None:
        self.session, self.url = session, url

    async def __aenter__(self) -> FakeResponse:
        self.session.in_flight += 1
        self.session.peak = max(self.session.peak, self.session.in_flight)
        try:
            delay, status, body = self.session.answer(self.url)
            await asyncio.sleep(delay)
            if isinstance(body, Exception):
                raise body
            return FakeResponse(status, body)
        finally:
            self.session.in_flight -= 1

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        return None


class FakeSession:
    """What the drivers use of an aiohttp session: ``get(url, timeout=...)``."""

    def __init__(self, answer: Callable[[str], tuple[float, int, Any]]) -> None:
        self.answer = answer
        self.urls: list[str] = []
        self.in_flight = 0
        self.peak = 0

    def get(self, url: str, timeout: aiohttp.ClientTimeout) -> FakeRequest:
        self.urls.append(url)
        return FakeRequest(self, url)


def calls_body(n: int) -> bytes:
    return json.dumps({"calls": n}).encode()


@pytest.fixture
def run(loop: VirtualLoop) -> Callable[[Any], Any]:
    """Run a coroutine to its end on the virtual loop."""
    return loop.run_until_complete


def loop_clock() -> float:
    return asyncio.get_running_loop().time()


def test_fanout_sends_one_aggregate_request_and_times_it(run: Callable[[Any], Any]) -> None:
    session = FakeSession(lambda url: (0.5, 200, calls_body(5)))
    url = FLASK.url(BASE, "fanout", {"n": 5, "delay_ms": 100, "cpu_ms": 0})
    result = run(run_fanout(session, url, 5, 10.0, clock=loop_clock))  # type: ignore[arg-type]
    assert session.urls == [f"{BASE}/aggregate?n=5&delay_ms=100&cpu_ms=0"]
    assert result.counts() == {"ok": 1, "connect": 0, "timeout": 0, "http_status": 0,
                               "bad_body": 0, "total": 1}
    assert result.duration_s == pytest.approx(0.5, abs=1e-9)
    assert result.metrics["duration_s"] == pytest.approx(0.5, abs=1e-9)
    assert result.metrics["calls_per_s"] == pytest.approx(10.0, rel=1e-9)  # 5 calls / 0.5 s
    assert result.first_error() is None


def test_fanout_with_a_wrong_call_count_is_a_bad_body(run: Callable[[Any], Any]) -> None:
    session = FakeSession(lambda url: (0.1, 200, calls_body(4)))
    result = run(run_fanout(session, BASE, 5, 10.0, clock=loop_clock))  # type: ignore[arg-type]
    assert result.counts()["bad_body"] == 1
    assert "reported calls = 4, expected 5" in (result.first_error() or "")


def test_an_own_calls_field_is_read_and_none_accepts_any_200(run: Callable[[Any], Any]) -> None:
    session = FakeSession(lambda url: (0.1, 200, json.dumps({"upstream": 5}).encode()))
    result = run(run_fanout(session, BASE, 5, 10.0, clock=loop_clock,  # type: ignore[arg-type]
                            calls_field="upstream"))
    assert result.counts()["ok"] == 1
    result = run(run_fanout(session, BASE, 5, 10.0, clock=loop_clock))  # type: ignore[arg-type]
    assert "reported calls = None, expected 5" in (result.first_error() or "")
    session = FakeSession(lambda url: (0.1, 200, b"<html>fine</html>"))
    result = run(run_fanout(session, BASE, 5, 10.0, clock=loop_clock,  # type: ignore[arg-type]
                            calls_field=None))
    assert result.counts()["ok"] == 1
    session = FakeSession(lambda url: (0.1, 500, b"{}"))
    result = run(run_fanout(session, BASE, 5, 10.0, clock=loop_clock,  # type: ignore[arg-type]
                            calls_field=None))
    assert result.counts()["http_status"] == 1


def test_clients_are_released_together_and_throughput_is_c_over_duration(run: Callable[[Any], Any]) -> None:
    # A server with 2 slots: answers in waves of 0.1 s, so 6 clients take 0.3 s.
    served = 0

    def answer(url: str) -> tuple[float, int, Any]:
        nonlocal served
        wave = served // 2
        served += 1
        return 0.1 * (wave + 1), 200, calls_body(1)

    session = FakeSession(answer)
    url = FLASK.url(BASE, "clients", {"delay_ms": 100, "cpu_ms": 0})
    result = run(run_clients(session, url, 6, 10.0, clock=loop_clock))  # type: ignore[arg-type]
    assert session.urls == [f"{BASE}/single?delay_ms=100&cpu_ms=0"] * 6
    assert session.peak == 6  # nobody waited for another to finish before sending
    assert result.duration_s == pytest.approx(0.3, abs=1e-9)
    assert result.metrics["throughput_rps"] == pytest.approx(20.0, rel=1e-9)  # 6 / 0.3 s
    # mean of 0.1, 0.1, 0.2, 0.2, 0.3, 0.3
    assert result.metrics["mean_response_s"] == pytest.approx(0.2, abs=1e-9)
    assert sorted(round(x, 3) for x in result.ok_latencies_s()) == [0.1, 0.1, 0.2, 0.2, 0.3, 0.3]


def test_clients_count_every_failure_by_kind(run: Callable[[Any], Any]) -> None:
    answers = iter([(0.01, 200, calls_body(1)), (0.01, 503, b"{}"),
                    (0.01, 200, b"not json"), (0.01, 0, aiohttp.ClientConnectionError("x")),
                    (0.01, 0, TimeoutError())])
    session = FakeSession(lambda url: next(answers))
    result = run(run_clients(session, BASE, 5, 1.0, clock=loop_clock))  # type: ignore[arg-type]
    assert result.counts() == {"ok": 1, "connect": 1, "timeout": 1, "http_status": 1,
                               "bad_body": 1, "total": 5}
    assert result.first_error() is not None
    assert result.first_error().startswith("4 of 5 requests failed")  # type: ignore[union-attr]


def test_request_without_an_expected_count_accepts_any_json_object(run: Callable[[Any], Any]) -> None:
    session = FakeSession(lambda url: (0.0, 200, b'{"served_ms": 1}'))
    outcome = run(request(session, BASE + "/delay?ms=1", None, 1.0, loop_clock))  # type: ignore[arg-type]
    assert outcome.kind == "ok"
    session = FakeSession(lambda url: (0.0, 200, b"[1, 2]"))
    outcome = run(request(session, BASE + "/delay?ms=1", None, 1.0, loop_clock))  # type: ignore[arg-type]
    assert outcome.kind == "bad_body" and "not a JSON object" in (outcome.detail or "")
