"""Plain-text tables and sentences from the summary, in the format of the original scripts.

Pure formatting: strings in, strings out; the CLI prints them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from harness.metrics import (
    HEADLINE_METRICS,
    METRIC_LABELS,
    SECONDS_METRICS,
    TABLE_ROWS,
    level_label,
    sort_key,
)


def headline_sentence(sp: Mapping[str, Any], confidence: float) -> str:
    """One sentence for a speedup entry of the summary, e.g. for a report's lead."""
    where = f"{sp['scenario']} {level_label(sp['scenario'], sp['level'])}"
    metric = METRIC_LABELS.get(sp["metric"], sp["metric"])
    trials = f"{sp['n_stack']} vs {sp['n_baseline']} ok trials"
    if sp["ci_low"] is None or sp["ci_high"] is None:
        return (
            f"{where}: {sp['stack']} vs {sp['baseline']} on {metric}: insufficient data ({trials})."
        )
    relation = {
        "faster": "faster than",
        "slower": "slower than",
    }.get(sp["verdict"], "not significantly different from")
    notes = [sp["magnitude"]] if sp["magnitude"] not in (None, "none") else []
    notes.append(f"{confidence:.0%} CI, {sp['method']}, {trials}")
    return (
        f"{where}: {sp['stack']} is {relation} {sp['baseline']} on {metric}, "
        f"{format_ratio(sp['ratio'], sp['ci_low'], sp['ci_high'])} ({'; '.join(notes)})."
    )


def _fmt(x: float) -> str:
    if math.isinf(x):
        return "inf" if x > 0 else "-inf"
    return f"{x:.2f}" if abs(x) >= 0.1 or x == 0 else f"{x:.3g}"


def format_ratio(ratio: float | None, low: float | None, high: float | None) -> str:
    """``4.62x [4.41, 4.85]``; ``4.62x (no CI)`` without bounds; ``n/a`` without a ratio."""
    if ratio is None:
        return "n/a"
    if low is None or high is None:
        return f"{_fmt(ratio)}x (no CI)"
    return f"{_fmt(ratio)}x [{_fmt(low)}, {_fmt(high)}]"


def _fmt_value(metric: str, value: float | None) -> str:
    if value is None:
        return "n/a"
    return f"{value:.4f}" if metric in SECONDS_METRICS else f"{value:.2f}"


def render_tables(summary: Mapping[str, Any]) -> str:
    """Plain-text tables, one per scenario, level and non-baseline stack, each
    followed by its verdict line; the format of the original benchmark scripts.
    """
    baseline = summary["baseline"]
    means = {
        (c["scenario"], c["level"], c["stack"], c["metric"]): c["mean"] for c in summary["cells"]
    }
    speedups = {
        (s["scenario"], s["level"], s["stack"], s["metric"]): s for s in summary["speedups"]
    }
    pairs = sorted({(s, lv, st) for s, lv, st, _ in speedups}, key=sort_key)
    if not pairs:
        return "No speedups to tabulate.\n"
    blocks = []
    for scenario, level, stack in pairs:
        metrics = [m for (s, lv, st, m) in speedups if (s, lv, st) == (scenario, level, stack)]
        rows = TABLE_ROWS.get(scenario) or tuple((m, m) for m in sorted(metrics))
        table = [["Metric", baseline, stack, "Improvement"]]
        for metric, label in rows:
            sp = speedups.get((scenario, level, stack, metric))
            table.append(
                [
                    label,
                    _fmt_value(metric, means.get((scenario, level, baseline, metric))),
                    _fmt_value(metric, means.get((scenario, level, stack, metric))),
                    format_ratio(sp["ratio"], sp["ci_low"], sp["ci_high"]) if sp else "n/a",
                ]
            )
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        lines = [f"{scenario} {level_label(scenario, level)}: {stack} vs {baseline}"]
        for i, row in enumerate(table):
            lines.append(
                " | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
            )
            if i == 0:
                lines.append("-+-".join("-" * w for w in widths))
        headline = speedups.get((scenario, level, stack, HEADLINE_METRICS.get(scenario, "")))
        if headline is not None:
            lines.append("Verdict: " + headline_sentence(headline, summary["confidence"]))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"

