"""The report's summary table: one row per scenario level, one column per stack, each cell
the headline speedup with its interval, coloured by its verdict.

It opens the headline findings (``_overview.md.j2``, ``_overview.html.j2``); the sentences
follow it. Only production stacks appear (development servers are reported apart), and
only headline entries: the scenario's headline metric, at the family-wise level.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.analyse.metrics import HEADLINE_METRICS, level_label, metric_label, sort_key

SCENARIO_WORDS = {"fanout": "Fan-out", "clients": "Concurrent clients", "rate": "Open-loop rate"}
TONE_WORDS = {"good": "better", "bad": "worse", "neutral": "no difference shown",
              "warn": "no verdict"}


def verdict_tone(verdict: str) -> str:
    """Colour of a verdict: good or bad for a direction, neutral for equivalent or
    inconclusive, warn where the data allow no verdict."""
    if verdict == "faster" or verdict.startswith("uses less"):
        return "good"
    if verdict == "slower" or verdict.startswith("uses more"):
        return "bad"
    return "neutral" if verdict in ("equivalent", "inconclusive") else "warn"


def _cell(entry: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if entry is None:
        return None
    return {"verdict": entry["verdict"], "tone": verdict_tone(entry["verdict"]),
            "ratio": entry["ratio"], "ci_low": entry["ci_low"], "ci_high": entry["ci_high"]}


def overview_table(summary: Mapping[str, Any], stacks: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The table as the templates print it.

    Args:
        summary: the statistics summary; its ``speedups`` with ``headline`` set are used.
        stacks: the report's stack views (``name``, ``kind``), in the config's order.
    Returns:
        ``{"columns": [{stack, against}], "rows": [{scenario, level, label, metric,
        cells}]}``; a cell is None where the stack has no entry at that level. ``against``
        names a column's baseline when it is not the run's (a variant's own arm).
    """
    order = [s["name"] for s in stacks if s.get("kind") != "dev"]
    entries = [e for e in summary.get("speedups") or []
               if e.get("headline") and e["stack"] in order]
    names = sorted({e["stack"] for e in entries}, key=order.index)
    baseline = summary.get("baseline")
    columns = []
    for name in names:
        against = sorted({str(e["baseline"]) for e in entries if e["stack"] == name})
        columns.append({"stack": name, "against": ", ".join(a for a in against
                                                             if a != baseline)})
    found = {(e["scenario"], e["level"], e["stack"]): e for e in entries}
    rows = []
    for scenario, level in sorted({(e["scenario"], e["level"]) for e in entries}, key=sort_key):
        rows.append({
            "scenario": scenario, "level": level,
            "label": f"{SCENARIO_WORDS.get(scenario, scenario)} {level_label(scenario, level)}",
            "metric": metric_label(HEADLINE_METRICS.get(scenario, "")),
            "cells": [_cell(found.get((scenario, level, name))) for name in names],
        })
    return {"columns": columns, "rows": rows, "tones": TONE_WORDS}
