"""Results in words: a ratio with its interval, and one sentence per speedup.

Pure formatting of summary entries; the summary, the comparison of two runs, the CLI's
tables and the report all write a ratio through :func:`format_ratio`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from harness.analyse.metrics import level_label, metric_label


def format_number(x: float, digits: int = 2) -> str:
    """A ratio or bound: ``4.62`` (``digits`` decimals from 0.1 up), ``0.0512`` (three
    significant digits below), ``<0.001``, ``inf``; never in scientific notation."""
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    if abs(x) >= 0.1 or x == 0:
        return f"{x:.{digits}f}"
    if abs(x) >= 0.001:
        return f"{x:.3g}"
    return "<0.001" if x > 0 else ">-0.001"


def format_ratio(ratio: float | None, low: float | None, high: float | None,
                 digits: int = 2) -> str:
    """``4.62x [4.41, 4.85]``; ``4.62x (no CI)`` without bounds; ``n/a`` without a ratio."""
    if ratio is None:
        return "n/a"
    if low is None or high is None:
        return f"{format_number(ratio, digits)}x (no CI)"
    return (f"{format_number(ratio, digits)}x "
            f"[{format_number(low, digits)}, {format_number(high, digits)}]")


def relation(verdict: str, baseline: str) -> str:
    """How a verdict reads against the baseline: ``is faster than flask-gunicorn``,
    ``uses less memory than flask-gunicorn``, ``is equivalent to flask-gunicorn``."""
    if verdict in ("faster", "slower"):
        return f"is {verdict} than {baseline}"
    if verdict.startswith("uses "):
        return f"{verdict} than {baseline}"
    if verdict == "equivalent":
        return f"is equivalent to {baseline}"
    return f"vs {baseline}: {verdict}"


def headline_sentence(sp: Mapping[str, Any], confidence: float) -> str:
    """One sentence for a speedup entry of the summary, e.g. for a report's lead.

    ``confidence`` is the run's; the entry's own (family-wise) level is shown when the
    entry carries one. A clients entry names how its clients arrived (``arrival``).
    """
    where = f"{sp['scenario']} {level_label(sp['scenario'], sp['level'])}"
    if sp.get("arrival"):  # how the clients arrived is part of the result
        where += f" ({sp['arrival']})"
    metric = metric_label(sp["metric"])
    trials = f"{sp['n_stack']} vs {sp['n_baseline']} ok trials"
    why = [sp["verdict_why"]] if sp.get("verdict_why") else []
    if sp.get("attrition") and not any(sp["attrition"] in w for w in why):
        why.append(sp["attrition"])
    if sp["ci_low"] is None or sp["ci_high"] is None:
        return (f"{where}: {sp['stack']} vs {sp['baseline']} on {metric}: {sp['verdict']} "
                f"({'; '.join([*why, trials])}).")
    level = sp.get("confidence", confidence)
    family = " family-wise" if sp.get("family") == "headline" else ""
    notes = [sp["magnitude"]] if sp["magnitude"] not in (None, "none") else []
    notes.extend(why)
    notes.append(f"{_pct(level)}{family} CI, {sp['method']}, {trials}")
    said = relation(sp["verdict"], sp["baseline"])
    said = f"{said} on {metric}" if not said.startswith("vs ") else (
        f"vs {sp['baseline']} on {metric}: {sp['verdict']}")
    return (
        f"{where}: {sp['stack']} {said}, "
        f"{format_ratio(sp['ratio'], sp['ci_low'], sp['ci_high'])} ({'; '.join(notes)})."
    )


def _pct(level: float) -> str:
    """``95%``, ``99.77%``: a confidence level with the digits it needs."""
    text = f"{level * 100:.2f}".rstrip("0").rstrip(".")
    return f"{text}%"


def interval_note(family: Mapping[str, Any], confidence: float) -> str:
    """:func:`interval_statement` in a few words: ``99.77% headline intervals (95%
    family-wise), others 95%``."""
    tests = int(family.get("headline_tests") or 0)
    together = float(family.get("familywise_confidence") or confidence)
    if tests < 1:
        return f"{_pct(confidence)} confidence intervals"
    per_test = 1.0 - (1.0 - together) / tests
    return (f"{_pct(per_test)} headline intervals ({_pct(together)} family-wise), others "
            f"{_pct(confidence)}")


def interval_statement(family: Mapping[str, Any], confidence: float) -> str:
    """What the intervals of a summary are, in one true sentence: the headline ones at the
    per-test level that holds the family at ``familywise_confidence``, the rest at
    ``confidence`` (``analyse.family``)."""
    tests = int(family.get("headline_tests") or 0)
    together = float(family.get("familywise_confidence") or confidence)
    if tests < 1:
        return f"Every interval is a {_pct(confidence)} confidence interval."
    if tests == 1:
        head = f"The headline interval is a {_pct(together)} confidence interval"
    else:
        per_test = 1.0 - (1.0 - together) / tests
        head = (f"Each headline interval is a {_pct(per_test)} confidence interval, so that "
                f"the {tests} headline intervals hold together with {_pct(together)} "
                "confidence (family-wise, Bonferroni)")
    return f"{head}; every other interval is a {_pct(confidence)} interval on its own."
