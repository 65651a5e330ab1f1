"""An open-loop trial's percentiles: reported only on enough requests beyond them, and with
the requests that timed out counted as slower than every answer (censored when they fill
the tail)."""

from __future__ import annotations

import pytest

from harness.rundir.format import (
    MIN_TAIL_SAMPLES,
    answers_needed,
    censored,
    new_histogram,
    open_loop_summary,
)


def test_each_percentile_needs_ten_requests_beyond_it() -> None:
    assert MIN_TAIL_SAMPLES == 10
    assert [answers_needed(p) for p in (50, 90, 99, 99.9)] == [20, 100, 1000, 10_000]
    with pytest.raises(ValueError):
        answers_needed(100)


def histogram(values_ms: list[float]) -> object:
    hist = new_histogram()
    for value in values_ms:
        hist.record_value(round(value * 1000))
    return hist


@pytest.mark.parametrize(("offered", "p99"), [(1000, 100.0), (999, None)])
def test_a_p99_on_just_enough_and_just_too_few_requests(offered: int, p99: float | None) -> None:
    values = [100.0] * offered
    summary = open_loop_summary(histogram(values), sum(values) / 1000, 0.1, offered)
    assert summary["p99"] == (None if p99 is None else pytest.approx(p99, rel=1e-3))
    assert summary["p50"] == pytest.approx(100.0, rel=1e-3)


@pytest.mark.parametrize(("answered", "p99_known"), [(990, True), (989, False)])
def test_timeouts_fill_the_tail_just_inside_and_just_outside(answered: int,
                                                            p99_known: bool) -> None:
    # 1,000 offered; answers of 1..answered ms; the rest timed out. With 990 answers the
    # p99 (rank 990) is the slowest answer; with 989 it lies beyond the timeout.
    values = [float(i) for i in range(1, answered + 1)]
    summary = open_loop_summary(histogram(values), sum(values) / 1000, answered / 1000, 1000)
    if p99_known:
        assert summary["p99"] == pytest.approx(990.0, rel=1e-3)
    else:
        assert summary["p99"] is None
        assert censored(summary, "p99", 1000, answered)
    # The p50 of all 1,000 requests is the 500th answer, not the answers' own median.
    assert summary["p50"] == pytest.approx(500.0, rel=1e-3)


def test_a_missing_percentile_on_too_few_requests_is_not_censored() -> None:
    values = [100.0] * 160
    summary = open_loop_summary(histogram(values), 16.0, 0.1, 160)
    assert summary["p99"] is None and not censored(summary, "p99", 160, 160)
    assert summary["p90"] == pytest.approx(100.0, rel=1e-3)
