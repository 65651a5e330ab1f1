"""Verdicts: what an interval for a speedup allows one to say, in a closed vocabulary.

Pure functions of an interval's bounds (ratios oriented so that above 1 the stack is
better); the point estimate never decides a verdict.
"""

from __future__ import annotations

import math


def verdict(ci_low: float, ci_high: float) -> str:
    """``"faster"`` if the interval lies above 1, ``"slower"`` if below, else no difference."""
    if ci_low > ci_high:
        raise ValueError(f"ci_low {ci_low} is above ci_high {ci_high}")
    if ci_low > 1.0:
        return "faster"
    if ci_high < 1.0:
        return "slower"
    return "no significant difference"


_SPEEDUP_WORDS = ((5.0, "major"), (2.0, "large"), (1.2, "moderate"))


def magnitude(ci_low: float, ci_high: float) -> str:
    """Words for the size of a speedup, claimed only as far as the CI bound supports.

    Speedups read the lower bound: >= 5 "major speedup", >= 2 "large speedup",
    >= 1.2 "moderate speedup", > 1 "small speedup". Slowdowns read the upper
    bound with the reciprocal thresholds: <= 1/5 "major slowdown", <= 1/2 "large
    slowdown", <= 1/1.2 "moderate slowdown", < 1 "small slowdown". An interval
    containing 1 gives "none".
    """
    if ci_low > ci_high:
        raise ValueError(f"ci_low {ci_low} is above ci_high {ci_high}")
    if ci_low > 1.0:
        for threshold, word in _SPEEDUP_WORDS:
            if ci_low >= threshold:
                return f"{word} speedup"
        return "small speedup"
    if ci_high < 1.0:
        for threshold, word in _SPEEDUP_WORDS:
            if ci_high <= 1.0 / threshold:
                return f"{word} slowdown"
        return "small slowdown"
    return "none"


def ci_half_width_ratio(ratio: float, low: float, high: float) -> float:
    """Relative half-width ``max(high - ratio, ratio - low) / ratio`` (``inf`` if unbounded)."""
    if not ratio > 0:
        raise ValueError(f"ratio must be positive, got {ratio!r}")
    if math.isnan(low) or math.isnan(high) or low > high:
        raise ValueError(f"invalid interval [{low}, {high}]")
    return max(high - ratio, ratio - low) / ratio
