"""The harness's side of a distributed trial, without processes: the master's reply is
validated worker by worker, usable parts merged, and the first problem (by worker) kept as
the reason the trial is invalid."""

from __future__ import annotations

import json
from typing import Any

from harness.loadgen import messages
from harness.loadgen.closed import ClosedResult, partial_of
from harness.loadgen.drivers import Outcome, ScenarioResult
from harness.loadgen.gather import budget_s, collect
from harness.loadgen.locust_engine import host_port
from harness.loadgen.scenario import Job
from harness.loadgen.tally import Partial, Tally

CLIENTS = Job("clients", "http://127.0.0.1:1/single", {"clients": 5, "timeout_s": 10})


def envelope(ok: int, duration: float) -> dict[str, Any]:
    outcomes = [Outcome("ok", 0.1) for _ in range(ok)]
    result = ScenarioResult(outcomes, duration, {"duration_s": duration,
                                                 "mean_response_s": 0.1,
                                                 "throughput_rps": ok / duration})
    report = messages.report(partial_of(result, ok, 0.02, 0.01, 0.2))
    return json.loads(json.dumps({"trial": "t1", "host": "h", "pid": 7, "report": report}))


def test_both_parts_merge_and_each_worker_has_its_checks() -> None:
    reply = {"workers": ["a", "b"], "problems": {},
             "reports": {"a": envelope(3, 0.2), "b": envelope(2, 0.3)}}
    result = collect(CLIENTS, 2, reply)
    assert isinstance(result, ClosedResult) and result.disturbed is None
    assert result.request_counts["ok"] == 5
    assert result.metrics["duration_s"] == 0.3 and result.metrics["throughput_rps"] == 5 / 0.3
    assert [(w["worker"], w["requests"], w["cpu"], w["wait"]) for w in result.workers] == [
        (0, 3, 0.1, 0.05), (1, 2, 0.1, 0.05)]
    assert result.loadgen_cpu == 0.1


def test_a_malformed_report_invalidates_that_workers_part_in_one_line() -> None:
    bad = envelope(2, 0.3)
    bad["report"]["counts"]["ok"] = 9
    reply = {"workers": ["a", "b"], "problems": {}, "reports": {"a": envelope(3, 0.2), "b": bad}}
    result = collect(CLIENTS, 2, reply)
    assert result.disturbed == ("worker 1 sent a malformed report: counts add up to 9 "
                                "requests; the worker's share was 2")
    assert result.request_counts["ok"] == 3 and [w["worker"] for w in result.workers] == [0]


def test_the_first_worker_with_a_problem_is_named_and_nothing_is_invented() -> None:
    reply = {"workers": ["a", "b"], "reports": {},
             "problems": {"b": "worker late: worker 1 sent no report for burst 0 in time",
                          "a": "worker lost: worker 0 (a) stopped answering"}}
    result = collect(CLIENTS, 2, reply)
    assert result.disturbed == "worker lost: worker 0 (a) stopped answering"
    assert result.request_counts["total"] == 0 and result.latency_ms["p99"] is None
    missing = collect(CLIENTS, 2, {"workers": ["a", "b"], "problems": {},
                                   "reports": {"a": envelope(3, 0.2)}})
    assert missing.disturbed == "worker 1 sent a malformed report: no report"


def test_a_rate_share_is_rebased_on_its_own_clock() -> None:
    job = Job("rate", "u", {"rate_rps": 4, "duration_s": 1, "timeout_s": 5})
    def rate_envelope(start: float) -> dict[str, Any]:
        tally = Tally()
        for i in range(2):
            t = start + i * 0.5
            tally.fired(t, t)
            tally.answered(Outcome("ok", 0.01), t, t, t + 0.01)
        report = messages.report(Partial.of(tally, start, 0.01, 0.0, 1.0))
        return json.loads(json.dumps({"report": report}))

    # Two workers whose clocks differ by an hour: the span is still one second.
    reply = {"workers": ["a", "b"], "problems": {},
             "reports": {"a": rate_envelope(100.0), "b": rate_envelope(3700.0)}}
    result = collect(job, 2, reply)
    assert result.disturbed is None and result.duration_s == 1.0
    assert result.metrics["achieved_rps"] == 4.0


def test_budgets_and_addresses() -> None:
    assert budget_s(Job("clients", "u", {"clients": 2, "bursts": 3, "timeout_s": 10})) == 120
    assert budget_s(Job("fanout", "u", {"n": 2, "timeout_s": 10})) == 40
    assert host_port("::1", 5) == "[::1]:5" and host_port("127.0.0.1", 5) == "127.0.0.1:5"
