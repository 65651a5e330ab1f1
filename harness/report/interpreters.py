"""The report's "Interpreters" section: which interpreters the stacks ran under (version,
build, whether the GIL was off), and each stack under another interpreter against the
same stack under the run's default one.

Drawn only for runs with ``[run] pythons``; the comparisons come from the summary's
``interpreters`` rows (``analyse.interpreters``), the interpreters from the manifest.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.analyse.metrics import METRICS, level_title
from harness.report.overview import verdict_tone as tone


def _interpreter(label: str, info: Mapping[str, Any], default: str) -> dict[str, Any]:
    free = bool(info.get("free_threaded"))
    return {"label": label, "default": label == default,
            "version": str(info.get("version") or "not recorded"),
            "build": " ".join(str(info.get(k) or "") for k in ("implementation", "build")).strip(),
            "gil": ("off (free-threaded, PYTHON_GIL=0)" if free and info.get("gil_disabled")
                    else "on (free-threaded build, re-enabled)" if free else "on"),
            "environment": str(info.get("environment") or "the harness's own")}


def interpreters_section(summary: Mapping[str, Any],
                         manifest: Mapping[str, Any]) -> dict[str, Any] | None:
    """The section's context, or None when the run named no interpreters."""
    labels = list((manifest.get("config") or {}).get("pythons") or [])
    if not labels:
        return None
    recorded = manifest.get("pythons") or {}
    cells = {(c["scenario"], c["level"], c["stack"], c["metric"]): c
             for c in summary.get("cells") or []}
    levels: dict[tuple[str, int], list[dict[str, Any]]] = {}
    for row in summary.get("interpreters") or []:
        metric = row["metric"]
        unit = METRICS[metric].unit if metric in METRICS else ""
        levels.setdefault((row["scenario"], row["level"]), []).append({
            "base": row["base"], "python": row["python"], "stack": row["stack"],
            "metric": METRICS[metric].label if metric in METRICS else metric, "unit": unit,
            "default_cell": cells.get((row["scenario"], row["level"], row["base"], metric)),
            "cell": cells.get((row["scenario"], row["level"], row["stack"], metric)),
            "ratio": row["ratio"], "ci_low": row["ci_low"], "ci_high": row["ci_high"],
            "verdict": row["verdict"], "tone": tone(row["verdict"]),
            "why": "; ".join(w for w in (row.get("verdict_why"), row.get("attrition")) if w),
        })
    return {
        "default": labels[0],
        "interpreters": [_interpreter(label, recorded.get(label) or {}, labels[0])
                         for label in labels],
        "note": str(manifest.get("pythons_note") or ""),
        "levels": [{"title": level_title(scenario, level).capitalize(), "rows": rows}
                   for (scenario, level), rows in levels.items()],
    }
