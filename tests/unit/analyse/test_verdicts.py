"""Verdicts from interval bounds: the words, their boundaries, and the relative half-width."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.analyse import verdicts


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (1.01, 2.0, "faster"),
        (1.0, 2.0, "inconclusive"),
        (0.5, 1.0, "inconclusive"),
        (0.5, 0.99, "slower"),
        (0.9, 1.1, "inconclusive"),
        # Item 7: inside [1/1.05, 1.05] is equivalent, even when it excludes 1.
        (0.96, 1.04, "equivalent"),
        (1 / 1.05, 1.05, "equivalent"),
        (1.01, 1.04, "equivalent"),
        (0.95, 1.04, "inconclusive"),
        (1.02, 1.06, "faster"),
    ],
)
def test_verdict(low: float, high: float, expected: str) -> None:
    assert verdicts.verdict(low, high) == expected
    assert expected in verdicts.VOCABULARY


def test_equivalence_band_is_configurable() -> None:
    assert verdicts.verdict(0.92, 1.08, equivalence_pct=10) == "equivalent"
    assert verdicts.verdict(0.92, 1.08) == "inconclusive"
    with pytest.raises(ValueError):
        verdicts.band(0)


def test_trials_needed_scales_with_the_square_of_the_width() -> None:
    # Inside the band: the interval must fit in it. Ratio 1.0, half-width 0.1 with
    # n = 10; the nearer edge is 1/1.05 (0.0476 away): n * (0.1/0.0476)^2 = 44.1 -> 45.
    assert verdicts.trials_needed(1.0, 0.9, 1.1, 10) == math.ceil(10 * (0.1 / (1 - 1 / 1.05))**2)
    # Outside the band: the interval must clear 1. Ratio 1.2, lower half-width 0.3:
    # 10 * (0.3 / 0.2)^2 = 22.5 -> 23.
    assert verdicts.trials_needed(1.2, 0.9, 1.5, 10) == 23
    assert verdicts.trials_needed(0.8, 0.5, 1.1, 10) == 23
    assert verdicts.trials_needed(1.0, 1.0, 1.0, 10) == 10


def test_judge_edge_cases_and_words() -> None:
    j = verdicts.judge
    assert j("insufficient", 2.0, None, None, 1, "duration_s").word == "insufficient data"
    assert j("degenerate", 4.0, None, None, 3, "duration_s") == verdicts.Verdict(
        "degenerate", "no spread observed")
    assert j("unbounded", 0.93, None, None, 10, "duration_s").word == "undetermined"
    equal = j("ok", 1.0, 0.97, 1.03, 10, "duration_s")
    assert (equal.word, equal.why) == ("equivalent", "within 5%")
    wide = j("ok", 1.0, 0.9, 1.1, 10, "duration_s")
    assert wide.word == "inconclusive" and wide.trials_needed == 45
    assert wide.why == "need more trials: about 45 per arm"
    few = j("ok", 1.0, 0.9, 1.1, 10, "duration_s", n_min=3)  # a 3-round quick run
    assert few.trials_needed is None and few.why == (
        "need more trials (too few, 3 in an arm, to estimate how many)")
    # Item 8: resources never read faster or slower.
    assert j("ok", 2.0, 1.5, 2.5, 5, "cpu_ms_per_request").word == "uses less CPU per request"
    assert j("ok", 0.5, 0.4, 0.6, 5, "cpu_ms_per_request").word == "uses more CPU per request"
    assert j("ok", 0.5, 0.4, 0.6, 5, "peak_rss_mb").word == "uses more memory"
    assert j("ok", 1.5, 1.2, 1.9, 5, "peak_pss_mb").word == "uses less memory"
    assert j("ok", 2.0, 1.5, 2.5, 5, "throughput_rps").word == "faster"
    assert verdicts.magnitude(1.5, 2.5, "saving", "increase") == "moderate to large saving"


def test_vocabulary_is_closed_and_complete() -> None:
    assert set(verdicts.VOCABULARY) == {
        "faster", "slower", "equivalent", "inconclusive", "undetermined", "degenerate",
        "insufficient data", "saturated", "uses less CPU per request",
        "uses more CPU per request", "uses less memory", "uses more memory"}


@pytest.mark.parametrize(
    ("ratio", "expected"),
    [
        (5.0, "major"), (4.99, "large"), (2.0, "large"), (1.99, "moderate"), (1.2, "moderate"),
        (1.19, "small"), (1.0001, "small"), (1.0, None), (0.9999, "small"),
        (1 / 1.2, "moderate"), (0.84, "small"), (0.5, "large"), (0.51, "moderate"),
        (0.2, "major"), (0.21, "large"),
    ],
)
def test_size_word_boundaries(ratio: float, expected: str | None) -> None:
    assert verdicts.size_word(ratio) == expected


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (5.0, 6.0, "major speedup"),
        (4.99, 6.0, "large to major speedup"),
        (2.0, 4.99, "large speedup"),
        (1.99, 3.0, "moderate to large speedup"),
        (1.2, 1.99, "moderate speedup"),
        (1.19, 1.2, "small to moderate speedup"),
        (1.0001, 1.19, "small speedup"),
        (1.07, 5.82, "small to major speedup"),  # the interval of "3.44x" the issue quotes
        (1.0, 3.0, "none"),
        (0.5, 1.5, "none"),
        (0.84, 0.9999, "small slowdown"),
        (0.5, 0.9999, "small to large slowdown"),
        (0.51, 1 / 1.2, "moderate slowdown"),
        (0.5, 1 / 1.2, "moderate to large slowdown"),
        (0.21, 0.5, "large slowdown"),
        (0.1, 0.51, "moderate to major slowdown"),
        (0.1, 0.2, "major slowdown"),
        (0.1, 0.21, "large to major slowdown"),
    ],
)
def test_magnitude_boundaries(low: float, high: float, expected: str) -> None:
    assert verdicts.magnitude(low, high) == expected


_ORDER = ["small", "moderate", "large", "major"]


@settings(max_examples=400, deadline=None)
@given(st.floats(0.01, 100), st.floats(0.01, 100), st.floats(0, 1))
def test_no_size_word_contradicts_the_estimate_inside_its_interval(
        a: float, b: float, where: float) -> None:
    low, high = min(a, b), max(a, b)
    ratio = low + where * (high - low)  # any estimate its interval holds
    words = verdicts.magnitude(low, high)
    if words == "none":
        assert low <= 1.0 <= high
        return
    sizes = words.rsplit(" ", 1)[0].split(" to ")
    named = _ORDER[_ORDER.index(sizes[0]):_ORDER.index(sizes[-1]) + 1]
    assert verdicts.size_word(ratio) in named, (ratio, low, high, words)
    assert words.endswith("speedup" if ratio > 1 else "slowdown")


@pytest.mark.parametrize(
    ("need", "n_min", "why", "promised"),
    [
        (45, 10, "need more trials: about 45 per arm", 45),
        (100, 12, "need more trials: about 100 per arm", 100),
        (101, 12, "need more trials: more than 100 per arm", 101),
        (53490, 10, "need more trials: more than 100 per arm", 53490),
        # Fewer than 10 trials in an arm: no number is promised at all.
        (53490, 9, "need more trials (too few, 9 in an arm, to estimate how many)", None),
        (None, 10, "need more trials", None),
    ],
)
def test_trials_needed_is_said_only_where_stable_and_capped(
        need: int | None, n_min: int, why: str, promised: int | None) -> None:
    assert verdicts.need_words(need, n_min) == (why, promised)


def test_verdict_rejects_reversed_interval() -> None:
    with pytest.raises(ValueError):
        verdicts.verdict(2.0, 1.0)
    with pytest.raises(ValueError):
        verdicts.magnitude(2.0, 1.0)



def test_ci_half_width_ratio() -> None:
    # max(4.85-4.62, 4.62-4.41) / 4.62 = 0.23/4.62 = 0.0497835
    assert verdicts.ci_half_width_ratio(4.62, 4.41, 4.85) == pytest.approx(0.23 / 4.62)
    assert verdicts.ci_half_width_ratio(2.0, 1.0, 2.5) == 0.5
    assert verdicts.ci_half_width_ratio(2.0, -math.inf, math.inf) == math.inf
    with pytest.raises(ValueError):
        verdicts.ci_half_width_ratio(0.0, -1.0, 1.0)
