"""Arrivals through the engines' plumbing: how many releases a job waits for, a sustained
share's window and the bursts' releases surviving the wire (and refused when hostile),
and the exact merge of several processes' shares."""

from __future__ import annotations

import json
from typing import Any

import pytest

from harness.errors import ConfigError
from harness.loadgen import messages
from harness.loadgen.closed import merge_closed, partial_of
from harness.loadgen.drivers import Outcome, ScenarioResult
from harness.loadgen.messages import MessageError, expected_requests, parse_report
from harness.loadgen.scenario import Job

URL = "http://127.0.0.1:1/single"
SUSTAINED = {"mode": "sustained", "duration_s": 3.0, "warmup_s": 1.0}
BURSTS = {"mode": "bursts", "bursts": 2, "gap_ms": 650, "connection": "close", "ramp_ms": 0}


def job(arrival: dict[str, Any] | None, clients: int = 6, **old: Any) -> Job:
    params: dict[str, Any] = {"clients": clients, "timeout_s": 10, **old}
    if arrival is not None:
        params["arrival"] = arrival
    return Job("clients", URL, params)


def test_a_job_waits_for_one_release_per_burst_and_one_for_the_sustained_loop() -> None:
    assert job(BURSTS).bursts() == 2 and not job(BURSTS).sustained()
    assert job(SUSTAINED).bursts() == 1 and job(SUSTAINED).sustained()
    assert job(None, bursts=3).bursts() == 3  # a record made before arrivals were stated
    assert Job("fanout", URL, {"n": 2}).bursts() == 1
    assert expected_requests(job(SUSTAINED), 0, 2) is None  # what it measures
    assert expected_requests(job(BURSTS), 0, 2) == 3 * 2
    with pytest.raises(ConfigError, match="params arrival bursts = 0"):
        job({**BURSTS, "bursts": 0}).bursts()


def sustained_share(requests: int, opened: float, clients: int = 3) -> ScenarioResult:
    """A sustained share whose steady window (1-3 s after ``opened``) holds ``requests``."""
    steady = [Outcome("ok", 0.1) for _ in range(requests)]
    return ScenarioResult([*steady, Outcome("ok", 0.1)], 3.1,
                          {"duration_s": clients * 2 / requests if requests else 2.0,
                           "mean_response_s": 0.1,
                           "throughput_rps": requests / 2},
                          steady=steady, windows=[(opened + 1, opened + 3)],
                          window={"start_s": 1.0, "end_s": 3.0, "requests": requests,
                                  "throughput_rps": requests / 2}, opened=opened)


def wire(partial: Any) -> Any:
    return json.loads(json.dumps(messages.report(partial)))


def test_a_sustained_window_survives_the_wire() -> None:
    partial = partial_of(sustained_share(40, 5000.0), 3)
    back = parse_report(wire(partial), job(SUSTAINED), 0, 2)
    assert back == partial
    assert back is not None and back.window is not None and back.window.requests == 40


@pytest.mark.parametrize(("change", "message"), [
    ({"window": None}, "window is not a table"),
    ({"window": {"opened_s": 1, "start_s": 3, "end_s": 2, "requests": 1}},
     "window times are not opened_s <= start_s < end_s"),
    ({"window": {"opened_s": 1, "start_s": 2, "end_s": 3, "requests": 10**6}},
     "window.requests is not an integer in 0..41"),
    ({"window": {"opened_s": "x", "start_s": 2, "end_s": 3, "requests": 1}},
     "window.opened_s is not a finite number"),
])
def test_a_hostile_window_is_refused_in_one_line(change: dict[str, Any], message: str) -> None:
    report = {**wire(partial_of(sustained_share(40, 5000.0), 3)), **change}
    with pytest.raises(MessageError, match=message):
        parse_report(report, job(SUSTAINED), 0, 2)


def test_a_window_on_a_bursts_trial_or_a_bad_release_is_refused() -> None:
    burst = ScenarioResult([Outcome("ok", 0.1)] * 6, 0.2, {"duration_s": 0.2,
                                                            "throughput_rps": 15.0},
                           bursts=[{"duration_s": 0.2, "ok": 3}, {"duration_s": 0.2, "ok": 3}],
                           windows=[(10.0, 10.2), (10.85, 11.05)])
    report = wire(partial_of(burst, 3))
    back = parse_report(report, job(BURSTS), 0, 2)
    assert back is not None and [b.start_s for b in back.bursts] == [10.0, 10.85]
    with pytest.raises(MessageError, match="window reported for a trial that is not sustained"):
        parse_report({**report, "window": {"opened_s": 1, "start_s": 2, "end_s": 3,
                                           "requests": 1}}, job(BURSTS), 0, 2)
    report["bursts"][1]["start_s"] = float("inf")
    with pytest.raises(MessageError, match=r"bursts\[1\].start_s is not a finite number"):
        parse_report(json.loads(json.dumps(report).replace("Infinity", '"inf"')),
                     job(BURSTS), 0, 2)


def test_sustained_shares_add_their_answers() -> None:
    a = partial_of(sustained_share(40, 5000.0), 3)
    b = partial_of(sustained_share(20, 5000.01), 3)
    merged = merge_closed([a, b])
    assert merged.metrics["throughput_rps"] == pytest.approx(60 / 2)  # 60 answers in 2 s
    assert merged.metrics["duration_s"] == pytest.approx(6 / 30)  # C / throughput
    assert merged.window == {"start_s": 1.0, "end_s": 3.0, "requests": 60,
                             "throughput_rps": 30.0}
    assert merged.windows == [(5001.0, 5003.01)] and merged.opened == 5000.0
    assert merged.first_error() is None and merged.bursts == []
    empty = merge_closed([partial_of(sustained_share(0, 5000.0), 3)])
    assert "no answer arrived in the steady window (1-3 s after the start)" in (
        empty.first_error() or "")
    burst = partial_of(ScenarioResult([Outcome("ok", 0.1)], 0.1, {"duration_s": 0.1}), 1)
    with pytest.raises(ValueError, match="some partials are sustained and some are not"):
        merge_closed([a, burst])


def bursts_share(starts: list[float], durations: list[float]) -> ScenarioResult:
    return ScenarioResult([Outcome("ok", 0.1)] * 4, sum(durations),
                          {"duration_s": durations[-1], "throughput_rps": 2 / durations[-1]},
                          bursts=[{"duration_s": d, "ok": 2} for d in durations],
                          windows=[(s, s + d) for s, d in zip(starts, durations, strict=True)])


def test_bursts_keep_their_releases_and_a_single_one_is_still_listed() -> None:
    a = partial_of(bursts_share([100.0, 101.0], [0.5, 0.25]), 2)
    b = partial_of(bursts_share([100.002, 101.001], [0.4, 0.3]), 2)
    merged = merge_closed([a, b])
    assert merged.windows == [(100.0, 100.5), (101.0, 101.301)]
    assert [x["started_s"] for x in merged.bursts] == [0.0, 1.0]
    one = merge_closed([partial_of(bursts_share([7.0], [0.2]), 2)])
    assert one.bursts == [{"duration_s": 0.2, "throughput_rps": 10.0, "ok": 2,
                           "started_s": 0.0}]
    # Releases on clocks that disagree (workers on other hosts): no windows to match.
    far = partial_of(bursts_share([90_000.0, 90_001.0], [0.5, 0.25]), 2)
    assert merge_closed([a, far]).windows == []
    assert "started_s" not in merge_closed([a, far]).bursts[0]


def test_an_order_with_a_hostile_arrival_is_a_malformed_message() -> None:
    order = {"trial": "t1", "index": 0, "parts": 2,
             "job": {"scenario": "clients", "url": URL, "calls_field": "calls",
                     "params": {"clients": 4, "timeout_s": 10,
                                "arrival": {"mode": "bursts", "gap_ms": "soon"}}}}
    with pytest.raises(MessageError, match="gap_ms = 'soon'"):
        messages.parse_order(order)
    order["job"]["params"]["arrival"] = SUSTAINED  # type: ignore[index]
    assert messages.parse_order(order)[1].sustained()
