"""The report's "Server or paradigm?" section: the headline ratio split into its server part
(the same app on two servers) and its paradigm part (two paradigms on one server).

Built from the summary's ``split`` rows (``analyse.split``); absent when the run did not
measure the four stacks a split needs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.analyse.metrics import level_title, metric_label
from harness.analyse.sentences import format_ratio
from harness.report.overview import verdict_tone as tone

PART_LABELS = {
    "headline": "Headline: paradigm and server both change",
    "paradigm": "Paradigm: two paradigms, one server",
    "sync_server": "Server: the sync app on two servers",
    "async_server": "Server: the async app on two servers",
}


def _part(entry: Mapping[str, Any]) -> dict[str, Any]:
    why = "; ".join(w for w in (entry.get("verdict_why"), entry.get("attrition")) if w)
    return {"part": entry["part"], "label": PART_LABELS.get(entry["part"], entry["part"]),
            "stack": entry["stack"], "compared_with": entry["compared_with"],
            "ratio": entry["ratio"], "ci_low": entry["ci_low"], "ci_high": entry["ci_high"],
            "verdict": entry["verdict"], "why": why, "tone": tone(entry["verdict"]),
            "trials": f"{entry['n_stack']} / {entry['n_compared']}"}


def _sentence(row: Mapping[str, Any], parts: Mapping[str, Mapping[str, Any]]) -> str:
    """The split in one sentence: the headline, the paradigm on one server, each server."""
    def said(name: str) -> str:
        p = parts[name]
        return (f"{p['stack']} against {p['compared_with']} "
                f"{format_ratio(p['ratio'], p['ci_low'], p['ci_high'])}")

    factor = row.get("server_factor")
    servers = ("" if factor is None else
               f"; together the servers account for a factor of {factor:.2f} (the sync "
               "app's server part over the async app's, a point estimate)")
    return (f"The headline, {said('headline')}, is the paradigm on one server, "
            f"{said('paradigm')}, times the sync app's server part, {said('sync_server')}, "
            f"over the async app's, {said('async_server')}{servers}.")


def split_section(summary: Mapping[str, Any]) -> dict[str, Any] | None:
    """The section's context, or None when the summary has no split."""
    rows = summary.get("split") or []
    if not rows:
        return None
    shown = []
    for row in rows:
        parts = {p["part"]: _part(p) for p in row["parts"]}
        variant = f" ({row['suffix']})" if row.get("suffix") else ""
        shown.append({
            "title": level_title(row["scenario"], row["level"]).capitalize() + variant,
            "metric": metric_label(row["metric"]),
            "parts": list(parts.values()),
            "sentence": _sentence(row, parts),
        })
    fam = summary.get("family") or {}
    level = next((p.get("confidence") for r in rows for p in r["parts"]
                  if p.get("confidence")), None)
    return {"rows": shown, "split_tests": int(fam.get("split_tests") or 0),
            "headline_tests": int(fam.get("headline_tests") or 0),
            "level_pct": None if level is None else
            f"{level * 100:.2f}".rstrip("0").rstrip(".")}
