"""Verdicts: what an interval for a speedup allows one to say, in a closed vocabulary.

Pure functions of an interval's bounds (ratios oriented so that above 1 the stack is
better); the point estimate never decides a verdict. The words, in the order they are
tried:

``insufficient data``   an arm has fewer than 2 trials
``degenerate``          no spread in either arm: a resolution artefact, no verdict
``undetermined``        no bounded interval for the ratio of means, or the arms' failure
                        rates differ so much that the ok trials are a biased sample
``equivalent``          the interval lies inside ``[1/(1+e), 1+e]`` (``e`` the band)
``faster`` / ``slower`` the interval lies above / below 1 (a resource reads
                        ``uses less/more CPU per request``, ``uses less/more memory``)
``inconclusive``        the interval holds 1 and reaches outside the band
``saturated``           (rate latency only) an arm could not carry the offered rate: it
                        served less than 95% of it, so its latencies describe the requests
                        that got through, not the rate (``analyse.capacity``)

An inconclusive verdict says how many trials per arm would settle it only where that
estimate means something: from :data:`STABLE_TRIALS` ok trials in each arm (fewer give
an interval too wide to extrapolate from), and never more than :data:`MAX_TRIALS_PROMISED`
("more than 100 per arm": a difference that small, if there is one, is beyond a run).

A size word (:func:`magnitude`) names the sizes the whole interval spans, so it never
contradicts the estimate printed beside it: ``4.93x [4.88, 4.97]`` is a "large speedup",
``3.44x [1.07, 5.82]`` a "small to major speedup".
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from harness.analyse.metrics import METRICS, verdict_words

INSUFFICIENT = "insufficient data"
DEGENERATE = "degenerate"
UNDETERMINED = "undetermined"
EQUIVALENT = "equivalent"
INCONCLUSIVE = "inconclusive"
SATURATED = "saturated"
DEFAULT_EQUIVALENCE_PCT = 5.0
STABLE_TRIALS = 10          # ok trials per arm before an interval is narrow enough to plan on
MAX_TRIALS_PROMISED = 100   # trials per arm an inconclusive verdict may ask for, at most

VOCABULARY: tuple[str, ...] = (
    "faster", "slower", EQUIVALENT, INCONCLUSIVE, UNDETERMINED, DEGENERATE, INSUFFICIENT,
    SATURATED,
    *sorted({w for m in METRICS.values() for w in (m.better, m.worse)} - {"faster", "slower"}),
)
"""Every word a verdict may be; nothing else is ever printed as one."""


@dataclass(frozen=True)
class Verdict:
    """A verdict ``word`` from :data:`VOCABULARY`, ``why`` it was chosen when that is not
    plain from the interval, and for ``inconclusive`` the trials per arm estimated to
    settle it."""

    word: str
    why: str | None = None
    trials_needed: int | None = None


def _check(ci_low: float, ci_high: float) -> None:
    if ci_low > ci_high:
        raise ValueError(f"ci_low {ci_low} is above ci_high {ci_high}")


def band(equivalence_pct: float) -> tuple[float, float]:
    """The equivalence band ``[1/(1+e), 1+e]`` for ``e = equivalence_pct / 100``."""
    if not (math.isfinite(equivalence_pct) and equivalence_pct > 0):
        raise ValueError(f"equivalence_pct must be a positive number, got {equivalence_pct!r}")
    top = 1.0 + equivalence_pct / 100.0
    return 1.0 / top, top


def verdict(ci_low: float, ci_high: float, equivalence_pct: float = DEFAULT_EQUIVALENCE_PCT,
            better: str = "faster", worse: str = "slower") -> str:
    """``equivalent`` inside the band, ``better`` above 1, ``worse`` below 1, else
    ``inconclusive``."""
    _check(ci_low, ci_high)
    low, high = band(equivalence_pct)
    if low <= ci_low and ci_high <= high:
        return EQUIVALENT
    if ci_low > 1.0:
        return better
    if ci_high < 1.0:
        return worse
    return INCONCLUSIVE


def trials_needed(ratio: float, ci_low: float, ci_high: float, n: int,
                  equivalence_pct: float = DEFAULT_EQUIVALENCE_PCT) -> int | None:
    """Trials per arm estimated to settle an inconclusive interval, or None when the
    point estimate sits on a boundary it would have to clear.

    Half-widths shrink as ``1/sqrt(n)``: with the point estimate inside the band, the
    interval must fit inside it (equivalence); outside the band, it must clear 1 (a
    difference). ``n`` is the larger arm's trial count.
    """
    _check(ci_low, ci_high)
    low, high = band(equivalence_pct)
    if low < ratio < high:
        factor = max((ci_high - ratio) / (high - ratio), (ratio - ci_low) / (ratio - low))
    elif ratio > 1.0:
        factor = (ratio - ci_low) / (ratio - 1.0)
    elif ratio < 1.0:
        factor = (ci_high - ratio) / (1.0 - ratio)
    else:
        return None
    return max(n, math.ceil(n * factor**2))


def need_words(need: int | None, n_min: int) -> tuple[str, int | None]:
    """Why an interval is inconclusive, and the trials per arm it is fair to promise:
    ``need`` only from :data:`STABLE_TRIALS` trials in the smaller arm (``n_min``), capped
    at :data:`MAX_TRIALS_PROMISED`."""
    if n_min < STABLE_TRIALS or need is None:
        return (f"need more trials (too few, {n_min} in an arm, to estimate how many)"
                if n_min < STABLE_TRIALS else "need more trials"), None
    if need > MAX_TRIALS_PROMISED:
        return f"need more trials: more than {MAX_TRIALS_PROMISED} per arm", need
    return f"need more trials: about {need} per arm", need


def judge(status: str, ratio: float | None, ci_low: float | None, ci_high: float | None,
          n: int, metric: str, equivalence_pct: float = DEFAULT_EQUIVALENCE_PCT,
          n_min: int | None = None) -> Verdict:
    """The verdict of one speedup from its ``stats.Speedup.status`` and interval; ``n`` is
    the larger arm's ok trials, ``n_min`` the smaller's (default ``n``)."""
    if status == "insufficient" or ratio is None:
        return Verdict(INSUFFICIENT, "fewer than 2 ok trials in an arm")
    if status == "degenerate":
        return Verdict(DEGENERATE, "no spread observed")
    if status == "unbounded" or ci_low is None or ci_high is None:
        return Verdict(UNDETERMINED, "no bounded interval for the ratio of means (the "
                       "denominator's mean is not distinguishable from 0)")
    word = verdict(ci_low, ci_high, equivalence_pct, *verdict_words(metric))
    if word == EQUIVALENT:
        return Verdict(word, f"within {equivalence_pct:g}%")
    if word == INCONCLUSIVE:
        raw = trials_needed(ratio, ci_low, ci_high, n, equivalence_pct)
        why, need = need_words(raw, n if n_min is None else n_min)
        return Verdict(word, why, need)
    return Verdict(word)


_SPEEDUP_WORDS = ((5.0, "major"), (2.0, "large"), (1.2, "moderate"))


def size_word(ratio: float) -> str | None:
    """The size of one ratio: ``major`` (>= 5 or <= 1/5), ``large`` (>= 2 or <= 1/2),
    ``moderate`` (>= 1.2 or <= 1/1.2), ``small`` (any other ratio but 1), None at 1."""
    if ratio == 1.0:
        return None
    factor = ratio if ratio > 1.0 else (1.0 / ratio if ratio > 0 else math.inf)
    return next((word for threshold, word in _SPEEDUP_WORDS if factor >= threshold), "small")


def magnitude(ci_low: float, ci_high: float, gain: str = "speedup",
              loss: str = "slowdown") -> str:
    """Words for the size of a speedup: every size the interval spans, nearest 1 first.

    A speedup (interval above 1) runs from its lower bound's size to its upper bound's,
    a slowdown (interval below 1) from its upper bound's to its lower bound's, with the
    sizes of :func:`size_word`: ``large speedup`` when both bounds are large, ``small to
    major speedup`` for ``[1.07, 5.82]``. The estimate lies inside its interval, so its
    size is always among those named. An interval containing 1 gives "none". ``gain`` and
    ``loss`` replace the nouns (a resource saving is not a speedup).
    """
    _check(ci_low, ci_high)
    if ci_low > 1.0:
        near, far, noun = size_word(ci_low), size_word(ci_high), gain
    elif ci_high < 1.0:
        near, far, noun = size_word(ci_high), size_word(ci_low), loss
    else:
        return "none"
    return f"{near} {noun}" if near == far else f"{near} to {far} {noun}"


def ci_half_width_ratio(ratio: float, low: float, high: float) -> float:
    """Relative half-width ``max(high - ratio, ratio - low) / ratio`` (``inf`` if unbounded)."""
    if not ratio > 0:
        raise ValueError(f"ratio must be positive, got {ratio!r}")
    if math.isnan(low) or math.isnan(high) or low > high:
        raise ValueError(f"invalid interval [{low}, {high}]")
    return max(high - ratio, ratio - low) / ratio
