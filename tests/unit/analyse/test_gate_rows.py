"""The regression gate's word on one row (``MetricComparison.judge``) at each of its limits,
and what ``gate``, ``regressions`` and ``to_json`` make of it."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from harness.analyse.compare import (
    ALLOWED,
    FAIL,
    PASS,
    Comparison,
    MetricComparison,
    to_json,
)

ROW = MetricComparison(
    scenario="fanout", level=10, stack="quart-hypercorn", metric="duration_s",
    higher_is_better=False, headline=True, n_a=5, n_b=5, mean_a=1.0, mean_b=2.0, ratio=0.5,
    ci_low=0.4, ci_high=0.6, method="fieller", p_value=0.001, verdict="slower",
    verdict_why=None)


def row(**changes: Any) -> MetricComparison:
    return dataclasses.replace(ROW, **changes)


@pytest.mark.parametrize(("changes", "outcome", "reason"), [
    ({}, FAIL, "slower by 100.0%, more than 10%"),
    ({"ci_high": 0.999}, FAIL, "slower by 100.0%, more than 10%"),
    ({"ci_high": 1.0}, PASS, "slower"),         # the interval reaches 1: not significant
    ({"ci_high": 1.5}, PASS, "slower"),
    ({"ratio": 1 / 1.0999}, PASS, "slower"),    # 9.99% worse: within 10%
    ({"ratio": 1 / 1.1001}, FAIL, "slower by 10.0%, more than 10%"),
    ({"n_a": 0, "mean_a": None}, PASS, "not in A: nothing to compare with"),
    ({"n_b": 0, "total_b": 0}, ALLOWED, "missing in B"),
    ({"n_b": 0, "lost_b": 2, "total_b": 2}, ALLOWED, "missing in B (2 of 2 trials not ok)"),
    ({"n_a": 1, "status": "insufficient"}, ALLOWED, "insufficient data (1 vs 5 ok trials)"),
    ({"b_lost_more": True, "verdict": "undetermined", "verdict_why": "survivorship: x"},
     FAIL, "B lost more trials: survivorship: x"),
    # A withheld verdict (A lost more trials) keeps its interval: read as undetermined.
    ({"verdict": "undetermined", "verdict_why": "survivorship: y"}, ALLOWED,
     "undetermined (survivorship: y) with a point estimate slower by 100.0%, more than 10%"),
    ({"verdict": "undetermined", "verdict_why": "survivorship: y", "ratio": 0.95}, PASS,
     "undetermined (survivorship: y), point estimate within threshold"),
    ({"ci_low": None, "ci_high": None, "verdict": "undetermined",
      "verdict_why": "no bounded interval"}, ALLOWED,
     "undetermined (no bounded interval) with a point estimate slower by 100.0%, more than 10%"),
])
def test_a_row_at_each_limit(changes: dict[str, Any], outcome: str, reason: str) -> None:
    assert row(**changes).judge(10) == (outcome, reason)


def test_the_gate_holds_missing_cells_against_b_unless_allowed() -> None:
    missing = row(n_b=0, total_b=0)
    comparison = Comparison("a", "b", 0.95, [ROW, missing, row(ratio=1.0, ci_low=0.9, ci_high=1.1,
                                                                verdict="equivalent")])
    assert [g.outcome for g in comparison.gate(10)] == [FAIL, FAIL, PASS]
    assert [g.outcome for g in comparison.gate(10, allow_missing=True)] == [FAIL, PASS, PASS]
    assert comparison.gate(10, allow_missing=True)[1].reason == "missing in B (allowed)"
    assert comparison.gate(10)[1].reason == "missing in B"
    assert len(comparison.regressions(10)) == 2
    assert len(comparison.regressions(10, allow_missing=True)) == 1
    for bad in (-1.0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match=rf"^pct must be a non-negative number, got {bad!r}$"):
            comparison.gate(bad)
    assert [g.outcome for g in comparison.gate(0)] == [FAIL, FAIL, PASS]


def test_the_json_carries_the_gate_when_asked() -> None:
    comparison = Comparison("a", "b", 0.95, [ROW, row(n_b=0, total_b=0)])
    plain = to_json(comparison)
    assert "gate" not in plain and "fail_on_regression_pct" not in plain
    data = to_json(comparison, 10, allow_missing=True)
    assert data["fail_on_regression_pct"] == 10 and data["allow_missing"] is True
    assert data["threshold"] == "slower by more than 10%"
    assert [g["outcome"] for g in data["gate"]] == [FAIL, PASS]
    assert [g["reason"] for g in data["regressions"]] == ["slower by 100.0%, more than 10%"]
    strict = to_json(comparison, 10)
    assert strict["allow_missing"] is False and len(strict["regressions"]) == 2


def test_worse_pct_reads_the_worse_direction() -> None:
    assert row(ratio=0.5).worse_pct() == pytest.approx(100.0)
    assert row(ratio=2.0).worse_pct() == pytest.approx(-50.0)
    assert row(ratio=None).worse_pct() is None
