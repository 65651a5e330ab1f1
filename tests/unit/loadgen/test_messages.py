"""Messages from workers are untrusted: a good report survives the wire exactly, anything
malformed is refused with one line naming what is wrong, and every bound is held."""

from __future__ import annotations

import base64
import json
import math
import struct
import zlib
from typing import Any

import pytest
from hdrh.histogram import HdrHistogram

from harness.loadgen import messages
from harness.loadgen.closed import partial_of
from harness.loadgen.drivers import Outcome, ScenarioResult
from harness.loadgen.messages import MessageError, decode_hdr, parse_order, parse_report
from harness.loadgen.scenario import Job, shares
from harness.loadgen.tally import Partial, Tally

CLIENTS = Job("clients", "http://127.0.0.1:1/single", {"clients": 5, "timeout_s": 10,
                                                       "bursts": 1})
RATE = Job("rate", "http://127.0.0.1:1/single", {"rate_rps": 10, "duration_s": 1,
                                                 "timeout_s": 10})


def wire(data: Any) -> Any:
    """What the master relays: JSON, as the harness's line carries it."""
    return json.loads(json.dumps(data))


def closed_report(ok: int = 3, failed: int = 0) -> dict[str, Any]:
    outcomes = [Outcome("ok", 0.1 + i / 100) for i in range(ok)]
    outcomes += [Outcome("timeout", 10.0, "no answer") for _ in range(failed)]
    result = ScenarioResult(outcomes, 0.2, {"duration_s": 0.2, "mean_response_s": 0.11,
                                            "throughput_rps": 15.0})
    report = messages.report(partial_of(result, ok + failed, 0.01, 0.0, 0.2))
    assert report is not None
    return wire(report)


def test_shares_deal_evenly_larger_first() -> None:
    assert shares(5, 2) == [3, 2]
    assert shares(1, 3) == [1, 0, 0]
    assert sum(shares(5000, 7)) == 5000
    assert CLIENTS.participants(2) == 2 and Job("fanout", "u", {"n": 3}).participants(4) == 1


def test_a_closed_report_survives_the_wire() -> None:
    partial = parse_report(closed_report(), CLIENTS, 0, 2)  # share 0 of 2: 3 clients
    assert partial is not None and partial.counts["ok"] == 3
    assert partial.bursts[0].clients == 3


def test_a_rate_report_survives_the_wire() -> None:
    tally = Tally()
    for i in range(5):  # share 0 of 2 of 10 sends: 5
        tally.fired(float(i), float(i))
        tally.answered(Outcome("ok", 0.05), float(i), float(i), i + 0.05)
    data = wire({**messages.report(Partial.of(tally, 0.0, 0.1, 0.0, 1.0)),  # type: ignore[dict-item]
                 "last_answer": None})
    partial = parse_report(data, RATE, 0, 2)
    assert isinstance(partial, Partial) and partial.counts["ok"] == 5
    assert partial.last_answer == -math.inf


@pytest.mark.parametrize(("change", "words"), [
    ({"kind": "rate"}, "report kind 'rate', expected 'closed'"),
    ({"counts": {"ok": 4, "connect": 0, "timeout": 0, "http_status": 0, "bad_body": 0}},
     "counts add up to 4 requests; the worker's share was 3"),
    ({"counts": {"ok": 3}}, "counts must have exactly the keys"),
    ({"counts": {"ok": -1, "connect": 4, "timeout": 0, "http_status": 0, "bad_body": 0}},
     "counts.ok is not an integer"),
    ({"hdr": "not base64!"}, "hdr does not decode"),
    ({"hdr": 12}, "hdr is not an encoded histogram"),
    ({"latency_sum_s": float("nan")}, "latency_sum_s is not a finite number"),
    ({"latency_sum_s": -1.0}, "latency_sum_s is not a number of seconds"),
    ({"bursts": []}, "0 bursts reported, 1 ordered"),
    ({"bursts": [{"clients": 9, "duration_s": 0.2, "ok": 3}]}, "bursts[0].clients is not"),
    ({"failures": [{"kind": "ok", "status": None, "count": 1, "first": None}]},
     "failures[0].kind is not a failure kind"),
    ({"failures": [{"kind": "timeout", "status": None, "count": 1, "first": None}]},
     "failures do not add up"),
    ({"metrics": {"x" * 65: 1.0}}, "metrics is not a table"),
    ({"metrics": {"duration_s": "fast"}}, "metrics.duration_s is not a finite number"),
    ({"cpu_s": True}, "cpu_s is not a finite number"),
    ({"pool_wait": {"count": 99, "sum_ms": 0, "max_ms": 0}}, "pool_wait.count is not"),
])
def test_a_malformed_closed_report_is_refused_in_one_line(change: dict[str, Any],
                                                          words: str) -> None:
    data = {**closed_report(), **change}
    with pytest.raises(MessageError) as info:
        parse_report(data, CLIENTS, 0, 2)
    assert words in str(info.value)
    assert "\n" not in str(info.value)


def test_a_report_that_is_not_a_table_or_claims_too_much_is_refused() -> None:
    for data in (None, [], "x", 3):
        with pytest.raises(MessageError):
            parse_report(data, CLIENTS, 0, 2)
    with pytest.raises(MessageError, match="a warm-up report carries no partial"):
        parse_report({}, Job("warm", "u", {"requests": 2}), 0, 1)
    assert parse_report(None, Job("warm", "u", {"requests": 2}), 0, 1) is None
    # More latencies in the histogram than successful requests.
    data = closed_report(ok=1, failed=2)
    data["hdr"] = closed_report(ok=3)["hdr"]
    with pytest.raises(MessageError, match="more than the 1 successful"):
        parse_report(data, CLIENTS, 0, 2)


def encoded(hist: HdrHistogram) -> str:
    return str(hist.encode().decode("ascii"))


def test_a_histogram_of_another_precision_is_refused() -> None:
    other = HdrHistogram(1, 120_000_000, 2)
    other.record_value(100)
    with pytest.raises(MessageError, match="another range or precision"):
        decode_hdr(encoded(other))


def test_histogram_size_limits_hold_just_inside_and_outside(
        monkeypatch: pytest.MonkeyPatch) -> None:
    hist = HdrHistogram(1, 120_000_000, 3)
    hist.record_value(1234)
    text = encoded(hist)
    monkeypatch.setattr(messages, "MAX_HDR_CHARS", len(text))
    assert decode_hdr(text).get_total_count() == 1
    monkeypatch.setattr(messages, "MAX_HDR_CHARS", len(text) - 1)
    with pytest.raises(MessageError, match="at most"):
        decode_hdr(text)


def test_a_histogram_that_inflates_past_the_bound_is_refused(
        monkeypatch: pytest.MonkeyPatch) -> None:
    bomb_payload = zlib.compress(b"\0" * (8 << 20))   # 8 MiB of zeros in a few KB
    raw = struct.pack(">ii", 0x1c849304, len(bomb_payload)) + bomb_payload
    with pytest.raises(MessageError, match="decompresses beyond"):
        decode_hdr(base64.b64encode(raw).decode())
    # Just inside the bound, the same check passes and decoding goes on (to a cookie error).
    small = zlib.compress(b"\0" * 1000)
    raw = struct.pack(">ii", 0x1c849304, len(small)) + small
    monkeypatch.setattr(messages, "MAX_HDR_DECODED", 1000)
    with pytest.raises(MessageError, match="does not decode"):
        decode_hdr(base64.b64encode(raw).decode())
    monkeypatch.setattr(messages, "MAX_HDR_DECODED", 999)
    with pytest.raises(MessageError, match="decompresses beyond 999"):
        decode_hdr(base64.b64encode(raw).decode())


def test_orders_round_trip_and_bad_ones_are_refused() -> None:
    data = wire(messages.order("t1", CLIENTS, 1, 2))
    assert parse_order(data) == ("t1", CLIENTS, 1, 2)
    for bad, words in ((None, "order is not a table"),
                       ({**data, "index": 2}, "index is not an integer in 0..1"),
                       ({**data, "job": {**data["job"], "scenario": "x"}}, "has no driver"),
                       ({**data, "trial": "t" * 301}, "trial is not a string")):
        with pytest.raises(MessageError, match=words):
            parse_order(bad)
