"""The precision section of the report and of ``run``'s closing lines: each headline
cell's trials and width against the target, why it stopped, and the trial-seconds spent
against a fixed plan giving the same widths (the summary's ``precision``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.analyse.allocation import MIN_TRIALS_TO_MEET, ROUND_CAP
from harness.analyse.metrics import level_label
from harness.config.duration import duration_words
from harness.report.filters import show


def _width(value: object) -> str:
    return f"±{value:.1%}" if isinstance(value, int | float) else "no interval"


def _met(value: object) -> str:
    return "yes" if value is True else "no" if value is False else "-"


def precision_view(summary: Mapping[str, Any]) -> dict[str, Any]:
    """Rows of display strings and the sentences under them; ``rows`` is empty when the
    summary has no headline cells (or predates the section)."""
    precision = summary.get("precision") or {}
    target = precision.get("target_ci")
    rows = [{"cell": f"{c['scenario']} {level_label(c['scenario'], c['level'])}",
             "stack": c["stack"], "baseline": c["baseline"],
             "trials": f"{c['n_stack']} / {c['n_baseline']}",
             "width": _width(c.get("width")), "met": _met(c.get("met")),
             "why": c.get("why") or "-"}
            for c in precision.get("cells") or []]
    sentences = []
    if rows and isinstance(target, int | float):
        sentences.append(f"{precision.get('met')} of {len(rows)} headline intervals met the "
                         f"target ±{target:.1%} (a cell counts on at least {MIN_TRIALS_TO_MEET} ok "
                         "trials an arm).")
    fixed = precision.get("fixed")
    spent = precision.get("trial_s")
    if (rows and precision.get("allocation") == "adaptive" and isinstance(fixed, Mapping)
            and isinstance(spent, int | float) and spent > 0):
        widest = _width(precision.get("widest"))
        sentences.append(
            f"The trials took {duration_words(spent)}. A fixed plan (every cell every "
            f"round) would need {fixed['rounds']} rounds, about "
            f"{duration_words(fixed['trial_s'])} of trials ({fixed['trial_s'] / spent:.1f}x), "
            f"to give every cell the width it has here, and {fixed['rounds_widest']} rounds, "
            f"about {duration_words(fixed['trial_s_widest'])} "
            f"({fixed['trial_s_widest'] / spent:.1f}x), for the same widest width ({widest}); "
            "estimated from each arm's spread and mean trial cost (delta method), trials "
            "only (stack starts and warm-ups come on top).")
    return {"rows": rows, "sentences": sentences, "has_target": isinstance(target, int | float)}


def render_precision(summary: Mapping[str, Any]) -> str:
    """The section as plain text for the terminal (empty without headline cells)."""
    view = precision_view(summary)
    if not view["rows"]:
        return ""
    header = ["Cell", "Stack vs baseline", "Ok trials", "Width", "Met", "Why it stopped"]
    table = [header] + [[r["cell"], f"{r['stack']} vs {r['baseline']}", r["trials"], r["width"],
                         r["met"], r["why"]] for r in view["rows"]]
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    lines = ["Precision per headline cell"]
    for i, row in enumerate(table):
        lines.append(" | ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True))
                     .rstrip())
        if i == 0:
            lines.append("-+-".join("-" * w for w in widths))
    lines.extend(view["sentences"])
    return "\n".join(lines) + "\n"


def allocation_words(config: Mapping[str, Any]) -> str:
    """How the run gave out its trials, and its wall-clock budget, in a sentence."""
    budget = config.get("budget_s")
    within = (f" Wall-clock budget: {duration_words(budget)}; no round or trial was started "
              "that was not expected to end within it." if isinstance(budget, int | float)
              and budget > 0 else "")
    if config.get("allocation") != "adaptive":
        return "fixed: every cell in every round." + within
    return (f"adaptive: after {show(config['rounds'])} full rounds, each round ran only the "
            "cells not yet within the target on at least "
            f"{MIN_TRIALS_TO_MEET} ok trials an arm, giving each arm trials in proportion to "
            "the spread of its values over the square root of its trial's cost, both measured "
            f"so far (Neyman), at most {ROUND_CAP} an arm a round and no round planned longer "
            "than a full one; a level's baseline serves its widest cell. Every stack was still "
            "started afresh in every round it ran in, in seeded, shuffled order." + within)
