"""The stopping rule's input: the widest relative half-width among the headline speedups
(``precision.headline_state(...).widest()``, what the runner's look reads) and
``verdicts.ci_half_width_ratio`` itself."""

from __future__ import annotations

import math
from typing import Any

import pytest

from harness.analyse.precision import HeadlineState, headline_state
from harness.analyse.verdicts import ci_half_width_ratio


def entry(stack: str, ratio: float, low: float | None, high: float | None, *,
          headline: bool = True, baseline: str = "base", level: int = 1) -> dict[str, Any]:
    return {"scenario": "fanout", "level": level, "stack": stack, "baseline": baseline,
            "metric": "duration_s" if headline else "calls_per_s", "headline": headline,
            "ratio": ratio, "ci_low": low, "ci_high": high, "confidence": 0.99}


def state(*speedups: dict[str, Any]) -> HeadlineState:
    cells = [{"scenario": "fanout", "level": sp["level"], "stack": name, "metric": "duration_s",
              "n": 5, "mean": 1.0, "sd": 0.1}
             for sp in speedups for name in (sp["stack"], sp["baseline"])]
    return headline_state({"speedups": list(speedups), "cells": cells, "confidence": 0.95}, [])


def test_the_widest_headline_interval_and_how_many_there_are() -> None:
    found = state(
        entry("a", 2.0, 1.9, 2.2),                       # 0.10
        entry("b", 4.0, 3.0, 4.4),                       # 0.25
        entry("c", 1.0, 0.1, 9.0, headline=False),       # exploratory: not read
        entry("base", 1.0, 0.5, 1.5),                    # the baseline against itself
        entry("d", 1.0, 0.95, 1.05),                     # 0.05
    )
    assert found.widest() == pytest.approx(0.25) and len(found.cells) == 3


def test_one_headline_without_an_interval_keeps_the_run_going() -> None:
    assert state(entry("a", 2.0, 1.9, 2.1), entry("b", 1.0, None, 1.2),
                 entry("c", 3.0, 2.9, 3.1)).widest() is None
    assert state(entry("a", 2.0, 1.9, 2.1), entry("b", 1.0, 0.9, None)).widest() is None
    # An unbounded exploratory row does not stop the reading.
    found = state(entry("x", 1.0, None, None, headline=False), entry("a", 2.0, 1.9, 2.1))
    assert found.widest() == pytest.approx(0.05) and len(found.cells) == 1
    empty = state()
    assert empty.widest() is None and empty.cells == []


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


def pair(stack: str, other: str, low: float, high: float, **extra: Any) -> dict[str, Any]:
    return {"scenario": "fanout", "level": 1, "stack": stack, "compared_with": other,
            "ratio": 1.0, "ci_low": low, "ci_high": high, "confidence": 0.99, **extra}


def test_the_split_and_interpreter_pairs_of_the_family_are_cells_too() -> None:
    headline = entry("async", 2.0, 1.9, 2.1, baseline="sync")             # 0.05
    split = {"scenario": "fanout", "level": 1, "parts": [
        pair("async", "sync", 0.9, 1.1, part="headline"),                   # the headline again
        pair("async", "sync-shared", 0.7, 1.3, part="paradigm"),           # 0.30: the widest
        pair("sync-shared", "sync", 0.8, 1.2, part="server")]}             # 0.20
    interpreters = [pair("async@3.13", "async", 0.85, 1.15)]                # 0.15
    stacks = ("async", "sync", "sync-shared", "async@3.13")
    cells = [{"scenario": "fanout", "level": 1, "stack": name, "metric": "duration_s",
              "n": 5, "mean": 1.0, "sd": 0.1} for name in stacks]
    found = headline_state({"speedups": [headline], "cells": cells, "confidence": 0.95,
                            "split": [split], "interpreters": interpreters}, [])
    assert [(c.stack, c.baseline) for c in found.cells] == [
        (("fanout", 1, "async"), ("fanout", 1, "sync")),
        (("fanout", 1, "async"), ("fanout", 1, "sync-shared")),
        (("fanout", 1, "sync-shared"), ("fanout", 1, "sync")),
        (("fanout", 1, "async@3.13"), ("fanout", 1, "async"))]
    assert found.widest() == pytest.approx(0.30)
    assert set(found.arms) == {("fanout", 1, name) for name in stacks}
    # Without them, only the headline speedup's width is read.
    assert state(headline).widest() == pytest.approx(0.05)
