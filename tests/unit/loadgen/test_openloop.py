"""The open-loop schedule and its latency correction, on a virtual clock (no sockets).

``VirtualLoop`` is an asyncio loop whose clock only moves when the loop would
otherwise wait: it jumps straight to the next timer. Sends are fakes that sleep a
chosen service time, so every figure below is exact and computed by hand.
"""

from __future__ import annotations

import asyncio
import itertools
import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from harness.loadgen import openloop, schedule
from harness.loadgen.drivers import Outcome
from harness.loadgen.openloop import (
    drive,
)
from harness.loadgen.schedule import (
    RateSpec,
    auto_cap,
    auto_processes,
    make_schedule,
    split_schedule,
)
from harness.loadgen.tally import (
    Partial,
    Tally,
    merge,
)
from tests.virtual_loop import VirtualLoop


def sleeper(service_s: Callable[[int], float], log: list[int] | None = None
            ) -> Callable[[], Awaitable[Outcome]]:
    """A fake send: request ``i`` (in send order) takes ``service_s(i)`` and succeeds."""
    counter = iter(range(10**9))

    async def send() -> Outcome:
        i = next(counter)
        if log is not None:
            log.append(i)
        await asyncio.sleep(service_s(i))
        return Outcome("ok", service_s(i))

    return send


def run(loop: VirtualLoop, offsets: list[float], send: Callable[[], Awaitable[Outcome]],
        max_in_flight: int = 1000, timeout_s: float = 60.0) -> Tally:
    return loop.run_until_complete(drive(offsets, send, start=loop.now, timeout_s=timeout_s,
                                         max_in_flight=max_in_flight, clock=loop.time))


def values_ms(hist: Any) -> list[float]:
    """Every recorded value of a histogram, in ms, ascending (with repeats).

    Exact to the histogram's 3 significant digits: compare with ``close``.
    """
    out: list[float] = []
    for item in hist.get_recorded_iterator():
        value = hist.get_lowest_equivalent_value(item.value_iterated_to)
        out += [value / 1000] * item.count_at_value_iterated_to
    return out


def close(expected: list[float]) -> Any:
    """Equal to within the histograms' 3 significant digits (and 1 us)."""
    return pytest.approx(expected, rel=1e-3, abs=1e-3)


# --- the schedule ----------------------------------------------------------------------------


def test_uniform_schedule_is_evenly_spaced_from_zero() -> None:
    # 50 req/s for 3 s: 150 sends, 20 ms apart, the last at 2.98 s.
    offsets = make_schedule("uniform", 50, 3.0)
    assert len(offsets) == 150
    assert offsets[:3] == [0.0, 0.02, 0.04]
    assert offsets[-1] == pytest.approx(2.98)
    assert all(b - a == pytest.approx(0.02) for a, b in itertools.pairwise(offsets))


def test_poisson_schedule_is_seeded_and_has_the_offered_rate() -> None:
    a = make_schedule("poisson", 1000, 10.0, seed=7)
    assert a == make_schedule("poisson", 1000, 10.0, seed=7)
    assert a != make_schedule("poisson", 1000, 10.0, seed=8)
    assert all(0 < x < 10.0 for x in a) and a == sorted(a)
    # The count is Poisson(10 000): sd 100, so 5 sd is 500.
    assert abs(len(a) - 10_000) < 500
    gaps = [y - x for x, y in itertools.pairwise(a)]
    assert sum(gaps) / len(gaps) == pytest.approx(1 / 1000, rel=0.05)


@pytest.mark.parametrize(("kind", "rate", "duration"), [("gauss", 1, 1), ("uniform", 0, 1),
                                                        ("uniform", 10, 0)])
def test_bad_schedules_are_refused(kind: str, rate: float, duration: float) -> None:
    with pytest.raises(ValueError):
        make_schedule(kind, rate, duration)


def test_split_deals_round_robin_and_loses_nothing() -> None:
    offsets = make_schedule("uniform", 10, 1.0)
    parts = split_schedule(offsets, 3)
    assert parts[0] == [0.0, 0.3, 0.6, 0.9]
    assert [len(p) for p in parts] == [4, 3, 3]
    assert sorted(x for p in parts for x in p) == offsets


def test_processes_and_cap_follow_the_offered_rate() -> None:
    per = schedule.PER_PROCESS_RPS
    assert auto_processes(50, cpus=8) == 1
    assert auto_processes(per, cpus=8) == 1
    assert auto_processes(per + 1, cpus=8) == 2
    assert auto_processes(100 * per, cpus=4) == 4  # never more processes than CPUs
    assert auto_cap(50) == schedule.MIN_CAP
    assert auto_cap(1000) == max(schedule.MIN_CAP, 2000)


def test_spec_from_params_resolves_and_records_itself() -> None:
    spec = RateSpec.from_params({"rate_rps": 50, "duration_s": 3, "timeout_s": 30,
                                 "delay_ms": 10}).resolved()
    assert (spec.processes, spec.schedule) == (1, "uniform")
    assert spec.max_in_flight == schedule.MIN_CAP
    assert spec.record_params() == {"schedule": "uniform", "processes": 1,
                                    "max_in_flight": schedule.MIN_CAP}
    poisson = RateSpec(10, 1, 5, schedule="poisson", seed=3, processes=2, max_in_flight=7)
    assert poisson.resolved() == poisson
    assert poisson.record_params()["seed"] == 3
    with pytest.raises(ValueError):
        RateSpec(10, 1, 5, schedule="bursty")


# --- the driver and the correction -------------------------------------------------------------


def test_on_time_server_corrected_equals_uncorrected(loop: VirtualLoop) -> None:
    # 10 req/s for 1 s, each answered in 50 ms: every latency is 50 ms, no lag.
    tally = run(loop, make_schedule("uniform", 10, 1.0), sleeper(lambda i: 0.05))
    assert tally.counts["ok"] == 10
    assert values_ms(tally.corrected) == close([50.0] * 10)
    assert values_ms(tally.uncorrected) == close([50.0] * 10)
    assert values_ms(tally.lag) == close([0.0] * 10)
    assert tally.in_flight_peak == 1 and tally.capped == 0


def test_sends_never_wait_for_answers(loop: VirtualLoop) -> None:
    # Request 2 takes 1 s; the others 10 ms. An open loop keeps sending at 100 ms
    # intervals, so requests 3.. are unaffected and ten are in flight at most.
    start = loop.now
    sent_at: list[float] = []

    async def send() -> Outcome:
        i = len(sent_at)
        sent_at.append(loop.time() - start)
        await asyncio.sleep(1.0 if i == 2 else 0.01)
        return Outcome("ok", 0.0)

    tally = run(loop, make_schedule("uniform", 10, 2.0), send)
    assert sent_at == pytest.approx([i / 10 for i in range(20)])
    assert values_ms(tally.corrected) == close([10.0] * 19 + [1000.0])
    assert values_ms(tally.uncorrected) == values_ms(tally.corrected)
    assert tally.in_flight_peak == 2  # the slow one plus the current one
    assert tally.corrected_max_s == pytest.approx(1.0)


def test_blocked_sender_uncorrected_hides_the_queue_corrected_shows_it(
        loop: VirtualLoop) -> None:
    # Coordinated omission by hand: 10 req/s (intended at 0.1 i), one request at a time
    # (max_in_flight=1), each taking 250 ms. Request i is sent at 0.25 i and answered
    # at 0.25 (i + 1): uncorrected 250 ms always; corrected 0.25 (i + 1) - 0.1 i.
    tally = run(loop, make_schedule("uniform", 10, 0.5), sleeper(lambda i: 0.25),
                max_in_flight=1)
    assert values_ms(tally.uncorrected) == close([250.0] * 5)
    expected = [round(1000 * (0.25 * (i + 1) - 0.1 * i), 3) for i in range(5)]
    assert values_ms(tally.corrected) == close(expected)
    assert expected == [250.0, 400.0, 550.0, 700.0, 850.0]
    assert tally.capped == 4  # every request after the first waited for the cap
    assert tally.corrected_sum_s == pytest.approx(sum(expected) / 1000)
    assert values_ms(tally.lag) == [0.0] * 5  # the scheduler itself was on time


def test_late_scheduler_is_send_lag_and_only_corrected_latency_includes_it(
        loop: VirtualLoop) -> None:
    # The first send blocks the whole loop for 350 ms (CPU-bound work, simulated by
    # moving the clock without yielding). Sends due at 100, 200 and 300 ms fire at
    # 350 ms: lags 250, 150, 50 ms. Each is answered 10 ms after its actual send.
    first = True

    async def send() -> Outcome:
        nonlocal first
        if first:
            first = False
            loop.now += 0.35
        await asyncio.sleep(0.01)
        return Outcome("ok", 0.01)

    tally = run(loop, make_schedule("uniform", 10, 0.5), send)
    assert values_ms(tally.lag) == close([0.0, 0.0, 50.0, 150.0, 250.0])
    assert values_ms(tally.uncorrected) == close([10.0] * 4 + [360.0])
    assert values_ms(tally.corrected) == close([10.0, 60.0, 160.0, 260.0, 360.0])


def test_unanswered_requests_are_cut_and_counted_as_timeouts(loop: VirtualLoop) -> None:
    # Request 1 never answers: it is cancelled timeout + GRACE_S after the last send.
    start = loop.now
    tally = run(loop, make_schedule("uniform", 10, 0.3),
                sleeper(lambda i: 10_000.0 if i == 1 else 0.01), timeout_s=2.0)
    assert tally.counts == {"ok": 2, "connect": 0, "timeout": 1, "http_status": 0,
                            "bad_body": 0}
    assert tally.first_error is None  # a timeout is no failure: counted, and described
    assert tally.first_timeout is not None and "cut at the end of the trial" in tally.first_timeout
    assert loop.now - start == pytest.approx(0.2 + 2.0 + openloop.GRACE_S)


def test_failures_are_counted_not_timed(loop: VirtualLoop) -> None:
    async def send() -> Outcome:
        return Outcome("http_status", 0.0, "HTTP 502 from x")

    tally = run(loop, [0.0, 0.1], send)
    assert tally.counts["http_status"] == 2 and tally.counts["ok"] == 0
    assert tally.first_error == "HTTP 502 from x"
    assert tally.corrected.get_total_count() == 0
    assert tally.lag.get_total_count() == 2


# --- merging processes ---------------------------------------------------------------------


def _partial(loop: VirtualLoop, rate: float, service: float, cpu_s: float,
             wait_s: float | None) -> Partial:
    start = loop.now
    tally = run(loop, make_schedule("uniform", rate, 1.0), sleeper(lambda i: service))
    return Partial.of(tally, start, cpu_s, wait_s, 1.0)


def test_merge_adds_histograms_and_takes_the_busiest_process(loop: VirtualLoop) -> None:
    spec = RateSpec(40, 1.0, 10.0, processes=2, max_in_flight=100)
    a = _partial(loop, 20, 0.010, cpu_s=0.2, wait_s=0.01)
    loop.now = 1000.0  # both processes on one clock, as perf_counter is across processes
    b = _partial(loop, 20, 0.030, cpu_s=0.5, wait_s=0.10)
    result = merge(spec, 40, [a, b])
    assert result.counts()["ok"] == result.counts()["total"] == 40
    assert result.first_error() is None
    assert result.latency_ms["mean"] == pytest.approx(20.0)  # half 10 ms, half 30 ms
    assert [result.latency_ms["p50"]] == close([10.0])
    assert result.latency_ms["max"] == pytest.approx(30.0)
    # The last answer comes at 0.95 s + 30 ms < the 1 s duration: achieved = offered.
    assert result.metrics["achieved_rps"] == pytest.approx(40.0)
    # 40 requests hold 20 beyond the p50 but too few for the p90 (100) or the p99 (1,000).
    assert set(result.metrics) == {"achieved_rps", "p50_ms"}
    assert result.latency_ms["p90"] is None and result.latency_ms["p99"] is None
    assert (result.loadgen_cpu, result.loadgen_wait, result.loadgen_wait_s) == (0.5, 0.1, 0.1)
    assert result.process_cpu == [0.2, 0.5]
    assert result.send_lag_ms["p99"] == 0.0


def test_achieved_rate_falls_when_answers_lag_behind(loop: VirtualLoop) -> None:
    # 10 sends in 1 s, one at a time, 200 ms each: the last answer is at 2.0 s,
    # so 10 answers over 2 s is 5 req/s.
    start = loop.now
    tally = run(loop, make_schedule("uniform", 10, 1.0), sleeper(lambda i: 0.2),
                max_in_flight=1)
    result = merge(RateSpec(10, 1.0, 10.0, processes=1, max_in_flight=1), 10,
                   [Partial.of(tally, start, 0.1, None, 2.0)])
    assert result.metrics["achieved_rps"] == pytest.approx(5.0)
    assert result.loadgen_wait is None and result.in_flight_capped == 9
    assert math.isclose(result.duration_s, 2.0)


def test_failed_requests_make_a_one_line_error(loop: VirtualLoop) -> None:
    async def send() -> Outcome:
        return Outcome("http_status", 0.01, "HTTP 502 from x", 502)

    start = loop.now
    tally = run(loop, [0.0, 0.5], send)
    result = merge(RateSpec(2, 1.0, 30.0, processes=1, max_in_flight=10), 2,
                   [Partial.of(tally, start, 0.0, 0.0, 1.0)])
    assert result.first_error() == ("2 of 2 requests failed (2 http_status; "
                                    "first: HTTP 502 from x)")
    assert result.latency_ms["p99"] is None and "p99_ms" not in result.metrics


def test_timeouts_are_the_result_not_a_failure(loop: VirtualLoop) -> None:
    # 100 requests, 20 answered in 10 ms, 80 timed out: the stack did not carry the rate.
    # The trial does not fail; the served rate says how far, and every percentile whose
    # tail the timeouts hold (p50 and above: over half got no answer) is censored.
    async def send() -> Outcome:
        send.calls += 1  # type: ignore[attr-defined]
        if send.calls <= 20:  # type: ignore[attr-defined]
            await asyncio.sleep(0.01)
            return Outcome("ok", 0.01)
        return Outcome("timeout", 30.0, "no answer within 30 s from x")

    send.calls = 0  # type: ignore[attr-defined]
    start = loop.now
    tally = run(loop, make_schedule("uniform", 100, 1.0), send)
    result = merge(RateSpec(100, 1.0, 30.0, processes=1, max_in_flight=200), 100,
                   [Partial.of(tally, start, 0.0, 0.0, 1.0)])
    assert result.first_error() is None
    assert result.counts()["timeout"] == 80 and result.counts()["ok"] == 20
    assert result.metrics["achieved_rps"] == pytest.approx(20.0)
    assert result.latency_ms["p50"] is None and "p50_ms" not in result.metrics
    assert result.latency_ms["mean"] == pytest.approx(10.0)


# --- the calibration that sets PER_PROCESS_RPS (harness.measure.calibrate, no sockets) ----------------

WRK_OUTPUT = """Running 3s test @ http://127.0.0.1:40000/delay?ms=0
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     9.21ms    2.02ms  30.51ms   90.12%
    Req/Sec     3.48k   210.33     3.80k    80.00%
  Latency Distribution
     50%    8.54ms
     75%    9.60ms
     90%   11.23ms
     99%    1.20s
  10428 requests in 3.01s, 1.80MB read
  Non-2xx or 3xx responses: 3
Requests/sec:   3463.05
Transfer/sec:    612.00KB
"""


def test_wrk_output_is_parsed_into_rate_and_percentiles() -> None:
    from harness.measure.calibrate import parse_wrk

    parsed = parse_wrk(WRK_OUTPUT)
    assert parsed == {"rps": 3463.05, "requests": 10428, "errors": 3,
                      "latency_ms": {"p50": 8.54, "p90": 11.23, "p99": 1200.0}}
    with pytest.raises(ValueError):
        parse_wrk("wrk: connection refused")


def test_calibration_is_quoted_only_on_the_machine_it_was_taken_on(tmp_path: Any) -> None:
    from harness.measure.calibrate import load_calibration, save_calibration

    assert load_calibration(tmp_path, "abc") is None
    path = save_calibration(tmp_path / "results", {"machine_id": "abc", "figure": 1})
    assert path == tmp_path / "results" / "calibration.json"
    assert load_calibration(tmp_path / "results", "abc") == {"machine_id": "abc", "figure": 1}
    assert load_calibration(tmp_path / "results", "other") is None
    path.write_text("{not json")
    assert load_calibration(tmp_path / "results", "abc") is None


def test_calibrate_subcommand_registers_on_the_cli_parser() -> None:
    from harness.cli.main import build_parser, handler_of
    from harness.cli.measuring import cmd_calibrate

    parser = build_parser()
    args = parser.parse_args(["calibrate", "--seconds", "1.5", "--no-wrk", "--no-save"])
    assert handler_of(args) is cmd_calibrate
    assert (args.seconds, args.samples, args.no_wrk, args.no_save) == (1.5, 100, True, True)
    with pytest.raises(SystemExit):
        parser.parse_args(["calibrate", "--seconds", "0"])
