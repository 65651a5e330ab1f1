"""Merging the load-generator processes' tallies of a rate trial, from tallies filled by
hand: counts, latencies (corrected and not), send lag, the achieved rate and the busiest
process's CPU and run-queue wait, each against hand-computed values."""

from __future__ import annotations

import pytest
from hdrh.histogram import HdrHistogram

from harness.loadgen.drivers import Outcome
from harness.loadgen.schedule import RateSpec
from harness.loadgen.tally import Partial, Tally, _lag_summary, merge

SPEC = RateSpec(10, 2.0, 10.0, processes=2, max_in_flight=5)


def tally(answers: list[tuple[float, float, float]], lags: list[float],
          failed: tuple[str, ...] = ()) -> Tally:
    """``answers``: (intended, sent, end) of ok requests; ``lags`` in seconds."""
    t = Tally()
    for lag in lags:
        t.fired(0.0, lag)
    for intended, sent, end in answers:
        t.answered(Outcome("ok", end - sent), intended, sent, end)
    for detail in failed:
        t.answered(Outcome("timeout", 10.0, detail), 0.0, 0.0, 10.0)
    return t


def test_a_tally_counts_latencies_from_the_intended_and_the_actual_send() -> None:
    t = tally([(0.0, 0.010, 0.110), (0.5, 0.5, 0.55)], lags=[0.010, 0.0], failed=("late", "later"))
    assert t.counts == {"ok": 2, "connect": 0, "timeout": 2, "http_status": 0, "bad_body": 0}
    assert t.first_error is None and t.first_timeout == "late"  # timeouts are no failure
    assert t.corrected_sum_s == pytest.approx(0.110 + 0.05)
    assert t.uncorrected_sum_s == pytest.approx(0.100 + 0.05)
    assert (t.corrected_max_s, t.uncorrected_max_s) == (pytest.approx(0.110), pytest.approx(0.100))
    assert t.last_answer == pytest.approx(0.55)  # failures do not move the last answer
    assert t.corrected.get_total_count() == 2 and t.lag.get_total_count() == 2
    assert t.corrected.get_max_value() == pytest.approx(110_000, rel=1e-3)


def test_merge_adds_the_processes_and_reads_the_busiest() -> None:
    a = tally([(0.0, 0.0, 0.1), (1.0, 1.0, 1.2)], lags=[0.001, 0.002], failed=("first failure",))
    b = tally([(0.5, 0.6, 2.5)], lags=[0.1])
    pa = Partial.of(a, start=100.0, cpu_s=0.5, wait_s=0.2, wall_s=2.0)
    pb = Partial.of(b, start=100.0, cpu_s=1.5, wait_s=0.1, wall_s=2.0)
    pb = Partial(**{**pb.__dict__, "last_answer": 102.5, "capped": 3, "in_flight_peak": 4})
    pa = Partial(**{**pa.__dict__, "last_answer": 101.2, "capped": 1, "in_flight_peak": 2})
    result = merge(SPEC, 20, [pa, pb])
    assert result.offered == 20 and result.spec is SPEC
    assert result.request_counts == {"ok": 3, "connect": 0, "timeout": 1, "http_status": 0,
                                     "bad_body": 0, "total": 4}
    # A timeout is the stack not carrying the rate: counted, served rate lower, no failure.
    assert result.first_error() is None
    # The last answer (2.5 s after the start) is later than the 2 s schedule.
    assert result.duration_s == pytest.approx(2.5)
    assert result.metrics["achieved_rps"] == pytest.approx(3 / 2.5)
    assert result.latency_ms["max"] == pytest.approx(2000.0)    # b: 2.5 - 0.5 from the intended
    assert result.uncorrected_latency_ms["max"] == pytest.approx(1900.0)  # 2.5 - 0.6
    assert result.latency_ms["mean"] == pytest.approx((100 + 200 + 2000) / 3)
    # Four requests hold no percentile ten deep (a p50 needs 20): none is reported.
    assert result.latency_ms["p99"] is None and "p99_ms" not in result.metrics
    assert result.send_lag_ms["max"] == pytest.approx(100.0, rel=1e-2)
    assert result.send_lag_ms["p50"] == pytest.approx(2.0, rel=1e-2)
    assert result.loadgen_cpu == pytest.approx(0.75) and result.process_cpu == [0.25, 0.75]
    assert (result.loadgen_wait, result.loadgen_wait_s) == (pytest.approx(0.1), pytest.approx(0.2))
    assert result.in_flight_peak == 4 and result.in_flight_capped == 4
    assert HdrHistogram.decode(result.hdr).get_total_count() == 3
    assert HdrHistogram.decode(result.uncorrected_hdr).get_total_count() == 3


def test_answers_within_the_schedule_achieve_the_offered_rate() -> None:
    p = Partial.of(tally([(0.0, 0.0, 0.1)] * 20, lags=[]), start=0.0, cpu_s=0.0, wait_s=None,
                   wall_s=0.0)
    p = Partial(**{**p.__dict__, "last_answer": 1.5})
    result = merge(SPEC, 20, [p])
    assert result.duration_s == 2.0 and result.metrics["achieved_rps"] == pytest.approx(10.0)
    # One process of unknown wait makes the whole wait unknown; a zero wall uses no CPU.
    assert result.loadgen_wait is None and result.loadgen_wait_s is None
    assert result.loadgen_cpu == 0.0


def test_a_wait_longer_than_the_window_is_capped_and_one_unknown_wait_hides_all() -> None:
    known = Partial.of(Tally(), 0.0, 0.0, 3.0, 2.0)
    unknown = Partial.of(Tally(), 0.0, 0.0, None, 2.0)
    result = merge(SPEC, 0, [known])
    assert result.loadgen_wait == 1.0 and result.loadgen_wait_s == 3.0
    assert merge(SPEC, 0, [known, unknown]).loadgen_wait is None


def test_nothing_answered_has_no_figures() -> None:
    result = merge(SPEC, 0, [])
    assert result.request_counts["total"] == 0 and result.first_error() is None
    assert result.duration_s == 2.0 and result.metrics == {"achieved_rps": 0.0}
    assert result.latency_ms["p99"] is None and result.uncorrected_latency_ms["max"] is None
    assert result.send_lag_ms == {"p50": None, "p90": None, "p99": None, "p999": None,
                                  "max": None}
    assert result.loadgen_cpu == 0.0 and result.in_flight_peak == 0
    assert result.loadgen_wait is None


def test_the_lag_summary_is_in_milliseconds() -> None:
    t = Tally()
    for lag_ms in (1, 2, 3, 4, 100):
        t.fired(0.0, lag_ms / 1000)
    summary = _lag_summary(t.lag)
    assert set(summary) == {"p50", "p90", "p99", "p999", "max"}
    assert summary["p50"] == pytest.approx(3.0, rel=1e-2)
    assert summary["max"] == pytest.approx(100.0, rel=1e-2)
    assert summary["p99"] == pytest.approx(100.0, rel=1e-2)


def test_the_lag_summary_is_the_histograms_own_values_in_milliseconds() -> None:
    t = Tally()
    for lag_ms in (1.5, 20.0, 123.4):
        t.fired(0.0, lag_ms / 1000)
    summary = _lag_summary(t.lag)
    assert summary["max"] == t.lag.get_max_value() / 1000
    assert summary["p50"] == t.lag.get_value_at_percentile(50.0) / 1000


def test_an_instant_answer_is_recorded_as_one_microsecond() -> None:
    t = Tally()
    t.answered(Outcome("ok", 0.0), 5.0, 5.0, 5.0)
    assert t.corrected.get_min_value() == 1 and t.uncorrected.get_min_value() == 1


def test_a_wait_over_no_wall_time_is_unknown_not_a_division_by_zero() -> None:
    result = merge(SPEC, 0, [Partial.of(Tally(), 0.0, 0.0, 0.1, 0.0)])
    assert result.loadgen_wait is None and result.loadgen_wait_s is None


def test_the_first_error_lists_every_kind_that_failed() -> None:
    t = Tally()
    t.answered(Outcome("timeout", 1.0, "late"), 0.0, 0.0, 1.0)
    t.answered(Outcome("connect", 0.0, "refused"), 0.0, 0.0, 0.0)
    t.answered(Outcome("ok", 0.1), 0.0, 0.0, 0.1)
    result = merge(SPEC, 3, [Partial.of(t, 0.0, 0.0, None, 1.0)])
    assert result.first_error() == "1 of 3 requests failed (1 connect; first: refused)"
