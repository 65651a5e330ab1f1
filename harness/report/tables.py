"""Plain-text tables and sentences from the summary, in the format of the original scripts.

Pure formatting: strings in, strings out; the CLI prints them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.analyse.metrics import (
    HEADLINE_METRICS,
    SECONDS_METRICS,
    TABLE_ROWS,
    level_label,
    metric_title,
    sort_key,
)
from harness.analyse.sentences import format_ratio, headline_sentence, interval_statement


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
    capacity = capacity_lines(summary)
    if not pairs:
        return "\n\n".join(["No speedups to tabulate.", *capacity]) + "\n"
    blocks = []
    for scenario, level, stack in pairs:
        metrics = [m for (s, lv, st, m) in speedups if (s, lv, st) == (scenario, level, stack)]
        rows = TABLE_ROWS.get(scenario) or tuple(sorted(metrics))
        # A variant arm is paired with the baseline at the same variant; the
        # speedup names it, so the column shows the arm the ratio was taken against.
        arm = speedups[(scenario, level, stack, metrics[0])].get("baseline") or baseline
        table = [["Metric", arm, stack, "Improvement"]]
        for metric in rows:
            sp = speedups.get((scenario, level, stack, metric))
            table.append(
                [
                    metric_title(metric),
                    _fmt_value(metric, means.get((scenario, level, arm, metric))),
                    _fmt_value(metric, means.get((scenario, level, stack, metric))),
                    format_ratio(sp["ratio"], sp["ci_low"], sp["ci_high"]) if sp else "n/a",
                ]
            )
        widths = [max(len(row[i]) for row in table) for i in range(4)]
        lines = [f"{scenario} {level_label(scenario, level)}: {stack} vs {arm}"]
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
    blocks.append(interval_statement(summary.get("family") or {}, summary["confidence"]))
    return "\n\n".join([*blocks, *capacity]) + "\n"


def capacity_lines(summary: Mapping[str, Any]) -> list[str]:
    """The capacity sweep's knees and the USL fits, one sentence each, as blocks."""
    knees = [f"- {row['sentence']}" for row in summary.get("capacity") or []]
    fits = [f"- {row['sentence']}" for row in summary.get("usl") or []]
    blocks = []
    if knees:
        blocks.append("\n".join(["Capacity (knee per stack):", *knees]))
    if fits:
        blocks.append("\n".join(["Throughput against concurrency (USL):", *fits]))
    return blocks

