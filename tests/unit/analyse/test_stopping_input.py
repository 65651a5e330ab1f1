"""The stopping rule's input: the widest relative half-width among the headline speedups
(``summary.widest_headline_half_width``) and ``verdicts.ci_half_width_ratio`` itself."""

from __future__ import annotations

import math
from typing import Any

import pytest

from harness.analyse.summary import widest_headline_half_width
from harness.analyse.verdicts import ci_half_width_ratio


def entry(stack: str, ratio: float, low: float | None, high: float | None, *,
          headline: bool = True, baseline: str = "base") -> dict[str, Any]:
    return {"stack": stack, "baseline": baseline, "headline": headline, "ratio": ratio,
            "ci_low": low, "ci_high": high}


def test_the_widest_headline_interval_and_how_many_there_are() -> None:
    summary = {"speedups": [
        entry("a", 2.0, 1.9, 2.2),                       # 0.10
        entry("b", 4.0, 3.0, 4.4),                       # 0.25
        entry("c", 1.0, 0.1, 9.0, headline=False),       # exploratory: not read
        entry("base", 1.0, 0.5, 1.5),                    # the baseline against itself
        entry("d", 1.0, 0.95, 1.05),                     # 0.05
    ]}
    widest, count = widest_headline_half_width(summary)
    assert widest == pytest.approx(0.25) and count == 3


def test_one_headline_without_an_interval_keeps_the_run_going() -> None:
    summary = {"speedups": [entry("a", 2.0, 1.9, 2.1), entry("b", 1.0, None, 1.2),
                            entry("c", 3.0, 2.9, 3.1)]}
    assert widest_headline_half_width(summary) == (None, 0)
    summary = {"speedups": [entry("a", 2.0, 1.9, 2.1), entry("b", 1.0, 0.9, None)]}
    assert widest_headline_half_width(summary) == (None, 0)
    # An unbounded exploratory row does not stop the reading.
    summary = {"speedups": [entry("x", 1.0, None, None, headline=False), entry("a", 2.0, 1.9, 2.1)]}
    assert widest_headline_half_width(summary) == (pytest.approx(0.05), 1)
    assert widest_headline_half_width({"speedups": []}) == (None, 0)


def test_the_relative_half_width_reads_the_wider_side() -> None:
    assert ci_half_width_ratio(2.0, 1.5, 2.1) == pytest.approx(0.25)
    assert ci_half_width_ratio(2.0, 1.9, 2.6) == pytest.approx(0.3)
    assert ci_half_width_ratio(0.5, 0.5, 0.5) == 0.0
    assert ci_half_width_ratio(0.5, 0.4, math.inf) == math.inf


@pytest.mark.parametrize(("ratio", "low", "high", "message"), [
    (0.0, 0.1, 0.2, "ratio must be positive, got 0.0"),
    (-1.0, 0.1, 0.2, "ratio must be positive, got -1.0"),
    (math.nan, 0.1, 0.2, "ratio must be positive, got nan"),
    (1.0, math.nan, 1.2, "invalid interval [nan, 1.2]"),
    (1.0, 0.8, math.nan, "invalid interval [0.8, nan]"),
    (1.0, 1.2, 0.8, "invalid interval [1.2, 0.8]"),
])
def test_a_bad_interval_is_refused(ratio: float, low: float, high: float, message: str) -> None:
    with pytest.raises(ValueError) as info:
        ci_half_width_ratio(ratio, low, high)
    assert str(info.value) == message


def test_a_ratio_just_above_zero_and_a_point_interval_are_fine() -> None:
    assert ci_half_width_ratio(1e-9, 1e-9, 1e-9) == 0.0
    assert ci_half_width_ratio(1.0, 1.0, 1.0) == 0.0
