"""Each arrival setting does what it says, on a virtual clock: the gap between bursts, the
ramp spreading the clients' sends evenly, the sustained loop sending back to back and
counting only its steady window; and the spread each burst records.

The fake server answers each GET after a delay (through ``asyncio.sleep`` on the virtual
loop, so concurrent requests overlap) and notes when every request was sent.
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Callable
from types import TracebackType
from typing import Any

import aiohttp
import pytest

from harness.loadgen import arrival as arrival_driver
from harness.loadgen.arrival import attach_spread, run_arrival
from harness.loadgen.drivers import (
    ScenarioResult,
    client_session,
    combine_bursts,
    run_client_bursts,
)
from harness.loadgen.spread import Sample, SpreadSampler
from harness.loadgen.sustained import run_sustained
from tests.virtual_loop import VirtualLoop

URL = "http://app.test/single?delay_ms=100&cpu_ms=0"
BODY = json.dumps({"calls": 1}).encode()


class Response:
    status = 200

    async def read(self) -> bytes:
        return BODY


class Server:
    """What the drivers use of aiohttp: sessions (``factory``) whose ``get`` answers after
    ``delay(n)`` seconds for the n-th request (0-based); ``sent`` holds each send's time."""

    def __init__(self, delay: Callable[[int], float]) -> None:
        self.delay = delay
        self.sent: list[float] = []
        self.sessions: list[int] = []  # each session's pool size, in order of opening

    def factory(self, connections: int) -> Session:
        self.sessions.append(connections)
        return Session(self)


class Session:
    def __init__(self, server: Server) -> None:
        self.server = server

    async def __aenter__(self) -> Session:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        return None

    def get(self, url: str, timeout: aiohttp.ClientTimeout) -> Request:
        return Request(self.server)


class Request:
    def __init__(self, server: Server) -> None:
        self.server = server

    async def __aenter__(self) -> Response:
        index = len(self.server.sent)
        self.server.sent.append(asyncio.get_running_loop().time())
        await asyncio.sleep(self.server.delay(index))
        return Response()

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        return None


def clock() -> float:
    return asyncio.get_running_loop().time()


def bursts_params(clients: int, bursts: int, **arrival: Any) -> dict[str, Any]:
    return {"clients": clients, "timeout_s": 10.0,
            "arrival": {"mode": "bursts", "bursts": bursts, "gap_ms": 0,
                        "connection": "keep-alive", "ramp_ms": 0, **arrival}}


def test_bursts_are_gap_apart(loop: VirtualLoop) -> None:
    server = Server(lambda n: 0.25)  # every burst takes 0.25 s
    result = loop.run_until_complete(run_arrival(URL, bursts_params(4, 3, gap_ms=650),
                                                 clock=clock, session=server.factory))
    starts = [w[0] for w in result.windows]
    assert [b - a for a, b in itertools.pairwise(starts)] == pytest.approx(
        [0.25 + 0.65] * 2, abs=1e-9)
    assert [b["started_s"] for b in result.bursts] == pytest.approx([0, 0.9, 1.8], abs=1e-6)
    assert server.sessions == [4, 4, 4]  # every burst on a session (connections) of its own
    assert [b["duration_s"] for b in result.bursts] == pytest.approx([0.25] * 3, abs=1e-6)
    # the gap is not part of any burst's time, so not of the throughput
    assert result.metrics["throughput_rps"] == pytest.approx(4 / 0.25, rel=1e-6)


def test_back_to_back_bursts_have_no_gap(loop: VirtualLoop) -> None:
    server = Server(lambda n: 0.25)
    result = loop.run_until_complete(run_arrival(URL, bursts_params(4, 3), clock=clock,
                                                 session=server.factory))
    assert [b["started_s"] for b in result.bursts] == pytest.approx([0, 0.25, 0.5], abs=1e-6)


def test_a_ramp_spreads_the_clients_sends_evenly(loop: VirtualLoop) -> None:
    server = Server(lambda n: 0.1)
    result = loop.run_until_complete(run_arrival(URL, bursts_params(5, 1, ramp_ms=500),
                                                 clock=clock, session=server.factory))
    start = result.windows[0][0]
    # client i sends at i x ramp / C: 0, 0.1, 0.2, 0.3, 0.4 s after the release
    assert [t - start for t in server.sent] == pytest.approx([0, 0.1, 0.2, 0.3, 0.4], abs=1e-9)
    # the burst lasts from the release to the last answer: the ramp plus one answer
    assert result.duration_s == pytest.approx(0.5, abs=1e-9)
    assert result.metrics["throughput_rps"] == pytest.approx(10.0, rel=1e-9)
    assert len(result.bursts) == 1  # one burst is still listed
    # on keep-alive, a session (a connection) per client: none reuses another's
    assert server.sessions == [1] * 5
    closing = Server(lambda n: 0.1)
    loop.run_until_complete(run_arrival(URL, bursts_params(5, 1, ramp_ms=500,
                                                           connection="close"),
                                        clock=clock, session=closing.factory))
    assert closing.sessions == [5]  # closed connections are never reused anyway


def test_without_a_ramp_every_client_sends_at_the_release(loop: VirtualLoop) -> None:
    server = Server(lambda n: 0.1)
    loop.run_until_complete(run_arrival(URL, bursts_params(5, 1), clock=clock,
                                        session=server.factory))
    assert max(server.sent) - min(server.sent) == 0


def test_close_opens_sessions_that_close_their_connections(loop: VirtualLoop) -> None:
    async def sessions() -> tuple[bool, bool]:
        async with client_session(3) as keep, client_session(3, keep_alive=False) as close:
            return keep.connector.force_close, close.connector.force_close  # type: ignore[union-attr]

    # force_close makes aiohttp send "Connection: close" and drop the connection after
    # the answer (what a server sees: tests/integration/test_arrival.py)
    assert loop.run_until_complete(sessions()) == (False, True)


def test_the_params_reach_the_bursts_driver(loop: VirtualLoop,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[dict[str, Any]] = []

    async def bursts(url: str, clients: int, timeout_s: float, count: int, *args: Any,
                     **kwargs: Any) -> ScenarioResult:
        seen.append({"clients": clients, "bursts": count, **kwargs})
        return ScenarioResult([], 1.0, {"throughput_rps": 1.0})

    monkeypatch.setattr(arrival_driver, "run_client_bursts", bursts)
    loop.run_until_complete(run_arrival(URL, bursts_params(7, 2, connection="close",
                                                           gap_ms=650, ramp_ms=250)))
    assert seen[0]["clients"] == 7 and seen[0]["bursts"] == 2
    assert (seen[0]["keep_alive"], seen[0]["gap_s"], seen[0]["ramp_s"]) == (False, 0.65, 0.25)
    loop.run_until_complete(run_arrival(URL, bursts_params(7, 1)))
    assert (seen[1]["keep_alive"], seen[1]["gap_s"], seen[1]["ramp_s"]) == (True, 0, 0)


def test_sustained_sends_back_to_back_and_counts_the_steady_window(loop: VirtualLoop) -> None:
    server = Server(lambda n: 0.125)
    params = {"clients": 2, "timeout_s": 10.0,
              "arrival": {"mode": "sustained", "duration_s": 1.0, "warmup_s": 0.25}}
    result = loop.run_until_complete(run_arrival(URL, params, clock=clock,
                                                 session=server.factory))
    start = min(server.sent)
    sends = sorted(t - start for t in server.sent)
    # each of the 2 connections sends again the moment its answer arrives: 0, 0.125, ...
    assert sends == pytest.approx(sorted([k * 0.125 for k in range(8)] * 2), abs=1e-9)
    assert server.sessions == [2]  # one session of C keep-alive connections
    assert result.counts()["total"] == 16
    # answers from 0.25 s up to (not including) 1.0 s: 0.25, 0.375, ..., 0.875 per client
    assert len(result.steady or []) == 12
    assert result.metrics["throughput_rps"] == pytest.approx(12 / 0.75, rel=1e-9)
    assert result.metrics["duration_s"] == pytest.approx(2 / 16, rel=1e-9)  # C / throughput
    assert result.window == {"start_s": 0.25, "end_s": 1.0, "requests": 12,
                             "throughput_rps": 16.0}
    assert result.first_error() is None


def test_sustained_awaits_the_request_in_flight_at_the_end_but_does_not_count_it(
        loop: VirtualLoop) -> None:
    server = Server(lambda n: 0.3)
    result = loop.run_until_complete(run_sustained(URL, 1, 10.0, 1.0, 0.0, clock=clock,
                                                   session=server.factory))
    # sends at 0, 0.3, 0.6, 0.9; the last is answered at 1.2, after the window
    assert len(server.sent) == 4 and result.counts()["ok"] == 4
    assert len(result.steady or []) == 3
    assert result.duration_s == pytest.approx(1.2, abs=1e-9)


def test_sustained_with_no_answer_in_the_window_fails(loop: VirtualLoop) -> None:
    server = Server(lambda n: 3.0)
    result = loop.run_until_complete(run_sustained(URL, 1, 10.0, 2.0, 1.0, clock=clock,
                                                   session=server.factory))
    assert result.steady == [] and result.metrics["throughput_rps"] == 0
    assert "no answer arrived in the steady window (1-2 s after the start)" in (
        result.first_error() or "")


def test_several_bursts_keep_the_first_apart_from_the_steady_state(loop: VirtualLoop) -> None:
    async def burst(seconds: float) -> ScenarioResult:
        return await run_client_bursts(URL, 2, 10.0, 1, clock, Server(lambda n: seconds).factory)

    results = [loop.run_until_complete(burst(d)) for d in (0.5, 0.25, 0.125)]
    combined = combine_bursts(results, 2)
    assert combined.metrics["first_burst_duration_s"] == pytest.approx(0.5)
    assert combined.metrics["duration_s"] == pytest.approx((0.25 + 0.125) / 2)
    starts = [b["started_s"] for b in combined.bursts]
    assert starts[0] == 0 and starts == sorted(starts)


def sampler_of(samples: list[Sample]) -> SpreadSampler:
    """A sampler holding ``samples`` (never started: no server is watched)."""
    sampler = SpreadSampler(lambda: [])
    sampler.samples = samples
    sampler.cpu_s = 0.004
    return sampler


def test_each_burst_gets_its_own_clients_share_at_its_peak() -> None:
    result = ScenarioResult([], 2.0, {}, bursts=[{"duration_s": 1.0}, {"duration_s": 1.0},
                                                  {"duration_s": 0.1}],
                            windows=[(0.0, 1.0), (1.0, 2.0), (5.0, 5.1)])
    samples = [
        Sample(0.1, ((10, ((0.1, 3),)), (11, ((0.1, 1),)))),
        Sample(0.5, ((10, ((0.1, 3), (0.5, 2))), (11, ((0.1, 1),)))),  # peak of burst 1
        # burst 2: worker 10 still holds burst 1's five connections; they are not this
        # burst's clients and are left out
        Sample(1.2, ((10, ((0.1, 3), (0.5, 2), (1.2, 1))), (11, ((1.2, 3),)))),
    ]
    attach_spread(result, sampler_of(samples))
    assert result.bursts[0] == {"duration_s": 1.0, "connections": 6, "busiest_worker": 5,
                                "workers": [[10, 5], [11, 1]]}
    assert result.bursts[1]["workers"] == [[10, 1], [11, 3]]
    assert result.bursts[1]["busiest_worker"] == 3
    assert result.bursts[2] == {"duration_s": 0.1, "connections": None,
                                "busiest_worker": None, "workers": None}  # no sample in it
    assert result.sampler == {"samples": 3, "cpu_s": 0.004}


def test_a_sustained_window_counts_every_connection_held() -> None:
    result = ScenarioResult([], 2.0, {}, windows=[(1.0, 2.0)], window={"requests": 5},
                            opened=0.05)
    # worker 10 still holds 3 connections of the warm-up, opened before the trial
    samples = [Sample(0.1, ((10, ((0.01, 3), (0.05, 2))),)),
               Sample(1.5, ((10, ((0.01, 3), (0.05, 2))),))]
    attach_spread(result, sampler_of(samples))
    assert result.window == {"requests": 5, "connections": 2, "busiest_worker": 2,
                             "workers": [[10, 2]]}


def test_the_peak_is_the_first_sample_with_the_most_connections() -> None:
    a = Sample(1.0, ((1, ((1.0, 4),)), (2, ((1.0, 1),))))
    b = Sample(2.0, ((1, ((1.0, 2),)), (2, ((1.0, 3),))))
    sampler = sampler_of([a, b])
    peak = sampler.peak(0.0, 3.0)
    assert peak is not None and peak.held == ((1, 4), (2, 1))
    assert peak.fields() == {"connections": 5, "busiest_worker": 4, "workers": [[1, 4], [2, 1]]}
    assert sampler.peak(3.5, 4.0) is None
    assert Sample(1.0, ((1, ((0.5, 2), (1.0, 3))),)).spread(since=0.8).held == ((1, 3),)
