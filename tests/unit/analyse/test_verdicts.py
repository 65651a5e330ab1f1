"""Verdicts from interval bounds: the words, their boundaries, and the relative half-width."""

from __future__ import annotations

import math

import pytest

from harness.analyse import verdicts


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (1.01, 2.0, "faster"),
        (1.0, 2.0, "no significant difference"),
        (0.5, 1.0, "no significant difference"),
        (0.5, 0.99, "slower"),
        (0.9, 1.1, "no significant difference"),
    ],
)
def test_verdict(low: float, high: float, expected: str) -> None:
    assert verdicts.verdict(low, high) == expected


@pytest.mark.parametrize(
    ("low", "high", "expected"),
    [
        (5.0, 6.0, "major speedup"),
        (4.99, 6.0, "large speedup"),
        (2.0, 3.0, "large speedup"),
        (1.99, 3.0, "moderate speedup"),
        (1.2, 3.0, "moderate speedup"),
        (1.19, 3.0, "small speedup"),
        (1.0001, 3.0, "small speedup"),
        (1.0, 3.0, "none"),
        (0.5, 1.5, "none"),
        (0.5, 0.9999, "small slowdown"),
        (0.5, 0.84, "small slowdown"),
        (0.5, 1 / 1.2, "moderate slowdown"),
        (0.1, 0.5, "large slowdown"),
        (0.1, 0.51, "moderate slowdown"),
        (0.1, 0.2, "major slowdown"),
        (0.1, 0.21, "large slowdown"),
    ],
)
def test_magnitude_boundaries(low: float, high: float, expected: str) -> None:
    assert verdicts.magnitude(low, high) == expected


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
