"""The report's "Capacity" section: where each stack stops scaling.

Two charts and their sentences, from the summary's ``capacity`` (the capacity sweep's
knees, ``analyse.capacity``) and ``usl`` (the Universal Scalability Law fitted to the
clients levels, ``analyse.concurrency``):

- ``capacity_latency``: p99 against offered load per stack, log-log (the hockey stick),
  the bound dashed, each stack's knee a vertical line in its colour with its interval
  shaded; an open marker is a rung beyond the bound.
- ``capacity_usl``: throughput against C per stack (mean ± sd over trials), the fitted
  law as a solid curve and the stack's model line dashed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from harness.analyse.capacity import rate_words
from harness.analyse.usl import throughput
from harness.config.ladder import CAPACITY
from harness.report import plotting
from harness.report.filters import show

LATENCY_FIGURE = "capacity_latency"
USL_FIGURE = "capacity_usl"
FIGURES = (LATENCY_FIGURE, USL_FIGURE)
CAPTIONS = {
    LATENCY_FIGURE: "Capacity: p99 latency against offered load per stack (mean over the "
    "rounds; log-log). Dashed: the bound (a multiple of the unloaded latency); an open marker "
    "is a rung beyond it (p99 above the bound, or under 95% of the rate served). The vertical "
    "line is the stack's knee, its interval shaded.",
    USL_FIGURE: "Throughput against concurrent clients (mean ± sd over trials) with the "
    "Universal Scalability Law fitted to each stack (solid) and the stack's model (dashed: "
    "worker slots / delay, and never above its CPUs / CPU per request).",
}


def _stack_colours(names: Sequence[str], colours: Mapping[str, str]) -> dict[str, str]:
    return {name: colours.get(name, plotting.PALETTE[i % len(plotting.PALETTE)])
            for i, name in enumerate(names)}


def latency_figure(summary: Mapping[str, Any], colours: Mapping[str, str]) -> Figure | None:
    """The hockey stick of every stack the capacity sweep measured; None without one."""
    rows = [r for r in summary.get("capacity") or []
            if any(g.get("p99_ms") for g in r["rungs"])]
    if not rows:
        return None
    shades = _stack_colours([r["stack"] for r in rows], colours)
    fig, ax = plotting.new_figure()
    rates: list[float] = []
    for row in rows:
        colour = shades[row["stack"]]
        points = [(g["rate"], g["p99_ms"], g["within"]) for g in row["rungs"] if g.get("p99_ms")]
        xs, ys = [p[0] for p in points], [p[1] for p in points]
        rates += [g["rate"] for g in row["rungs"]]
        ax.plot(xs, ys, color=colour, label=row["stack"])
        for x, y, inside in points:
            ax.plot([x], [y], color=colour, marker="o", linestyle="none",
                    markerfacecolor=colour if inside else "white")
        knee = row["knee"]
        if knee.get("estimate"):
            ax.axvline(knee["estimate"], color=colour, linewidth=1.0, linestyle="-.")
            if knee.get("low") and knee.get("high"):
                ax.axvspan(knee["low"], knee["high"], color=colour, alpha=0.12, linewidth=0)
    for bound in sorted({r["bound_ms"] for r in rows}):
        ax.axhline(bound, color="#777777", linestyle="--", linewidth=0.9)
    plotting.level_axis(ax, _ticks(rates), "rate")
    plotting.log_y(ax)
    ax.set_xlabel(plotting.LEVEL_AXIS["rate"])
    ax.set_ylabel("p99 latency (ms, log scale)")
    ax.set_title("Capacity: p99 against offered load, knee marked")
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="#777777", linestyle="--", linewidth=0.9),
                Line2D([], [], color="#555555", linestyle="-.", linewidth=1.0)]
    labels += ["bound", "knee"]
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=3,
              fontsize=7.5)
    return fig


def _ticks(rates: Sequence[float], apart: float = 1.3) -> list[float]:
    """The rung rates as ticks, each at least ``apart`` times the one before (labels of
    close rungs would overlap; the axis reaches 1.3 times past the last, so none is cut)."""
    ticks: list[float] = []
    for rate in sorted(set(rates)):
        if not ticks or rate >= ticks[-1] * apart:
            ticks.append(rate)
    return ticks


def _curve(levels: Sequence[int], lam: float, sigma: float,
           kappa: float) -> tuple[list[float], list[float]]:
    low, high = math.log(min(levels)), math.log(max(levels))
    xs = [math.exp(low + (high - low) * i / 60) for i in range(61)]
    return xs, [throughput(x, lam, sigma, kappa) for x in xs]


def usl_figure(summary: Mapping[str, Any], colours: Mapping[str, str]) -> Figure | None:
    """Throughput against C with each stack's fitted law and model; None without a fit."""
    rows = summary.get("usl") or []
    if not rows:
        return None
    shades = _stack_colours([r["stack"] for r in rows], colours)
    cells = {(c["stack"], c["level"]): c for c in summary.get("cells") or []
             if c["scenario"] == "clients" and c["metric"] == "throughput_rps"}
    fig, ax = plotting.new_figure()
    levels: list[float] = []
    for row in rows:
        colour = shades[row["stack"]]
        points = [cells[(row["stack"], lv)] for lv in row["levels"] if (row["stack"], lv) in cells]
        xs = [float(c["level"]) for c in points]
        ys = [float(c["mean"]) for c in points]
        sds = [float(c.get("sd") or 0.0) for c in points]
        levels += xs
        ax.errorbar(xs, ys, yerr=[plotting.lower_errors(ys, sds), sds], color=colour,
                    marker="o", linestyle="none", label=row["stack"])
        cx, cy = _curve(row["levels"], row["lam"], row["sigma"], row["kappa"])
        ax.plot(cx, cy, color=colour, linewidth=1.2)
        if row["model"]:
            ax.plot([m["level"] for m in row["model"]], [m["expected"] for m in row["model"]],
                    color=colour, linestyle="--", linewidth=0.9, alpha=0.8)
    plotting.level_axis(ax, levels, "clients")
    plotting.log_y(ax)
    ax.set_ylabel("throughput (req/s)")
    ax.set_title("Throughput against concurrency: USL fit and model")
    handles, labels = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="#555555", linewidth=1.2),
                Line2D([], [], color="#555555", linestyle="--", linewidth=0.9)]
    labels += ["USL fit", "model"]
    ax.legend(handles, labels, loc="best", fontsize=7.5)
    return fig


def _rung_rows(row: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"rate": rate_words(g["rate"]), "n": g["n"], "served_rps": g["served_rps"],
             "served_share": g["served_share"], "timed_out_share": g["timed_out_share"],
             "p99_ms": g["p99_ms"], "within": bool(g["within"])} for g in row["rungs"]]


def _little_rows(summary: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [{"scenario": r["scenario"], "stack": r["stack"], "off": r["little_off"],
             "checked": r["little_checked"], "low": r.get("little_ratio_min"),
             "high": r.get("little_ratio_max")}
            for r in summary.get("checks") or [] if r.get("little_checked")]


def capacity_section(summary: Mapping[str, Any],
                     figures: Mapping[str, Any]) -> dict[str, Any] | None:
    """The section's context, or None when the run has neither a capacity sweep nor a
    USL fit."""
    knees = summary.get("capacity") or []
    usl = summary.get("usl") or []
    if not knees and not usl:
        return None
    return {
        "knees": [{"stack": r["stack"], "sentence": r["sentence"], "bound_ms": r["bound_ms"],
                   "rungs": _rung_rows(r)} for r in knees],
        "usl": [{"stack": r["stack"], "sentence": r["sentence"], "sigma": r["sigma"],
                 "kappa": r["kappa"], "peak_n": r["peak_n"], "peak_x": r["peak_x"],
                 "cpu_bound_rps": r["cpu_bound_rps"], "points": r["points"]} for r in usl],
        "little": _little_rows(summary),
        "figures": [{"name": name, "caption": CAPTIONS[name], "ref": figures[name]}
                    for name in FIGURES if name in figures],
    }


def levels_words(name: str, spec: Any) -> Any:
    """A scenario's levels as the methodology lists them; the capacity sweep's ladder in
    words (its rungs are each stack's own)."""
    spec = spec if isinstance(spec, Mapping) else {}
    ladder = spec.get("ladder")
    if name != CAPACITY or not isinstance(ladder, Mapping):
        return spec.get("levels")
    share = ladder.get("served_min")
    served = f"{share * 100:g}%" if isinstance(share, int | float) else show(share)
    return (f"a ladder per stack from {show(ladder.get('start'))} x the model's estimate, "
            f"x{show(ladder.get('step'))} a rung, until under {served} of the offered rate "
            f"is served or p99 exceeds {show(ladder.get('p99_multiple'))}"
            f" x the unloaded latency (at most {show(ladder.get('max_steps'))} rungs a round; "
            f"a rung up to {show(spec.get('max_duration_s'))} s for its p99)")
