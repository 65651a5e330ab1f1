"""The clients scenario's scatter in the report: every burst's throughput as a strip plot
(``clients_bursts``), burst time against the busiest worker's connections
(``clients_share``), and their table, with the spread stated beside each mean.

Read from the summary's ``bursts`` rows (``harness.analyse.bursts``); charts are drawn on
bare figures like every other chart (``plotting``), with no random jitter: a burst's place
inside its stack's band follows its order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from harness.analyse.arrival import arrival_words, trial_arrival
from harness.analyse.bursts import share_sentence
from harness.analyse.metrics import level_label
from harness.analyse.sentences import format_number
from harness.config.arrival import ARRIVAL_PARAMS
from harness.report import plotting

STRIP, SHARE = "clients_bursts", "clients_share"
CAPTIONS = {
    STRIP: "Concurrent clients: the throughput of every burst (C / burst time; a sustained "
           "trial is one point), per stack and C, on a log scale. Filled: the bursts the "
           "headline counts; open: first bursts; the bar is the mean as the headline "
           "computes it (C / mean burst time).",
    SHARE: "Concurrent clients: each burst's time against the connections its busiest worker "
           "held at the burst's peak (log-log; open: first bursts). Dashed: the share model "
           "of a stack with a fixed number of threads per worker, ceil(busiest / threads) × "
           "delay: the busiest worker's queue decides when the burst ends.",
}
GOLDEN = (math.sqrt(5) - 1) / 2


def _rows(summary: Mapping[str, Any], stacks: Sequence[str]) -> list[Mapping[str, Any]]:
    rows = [r for r in summary.get("bursts") or [] if r.get("stack") in stacks
            and r.get("points")]
    return sorted(rows, key=lambda r: (r["level"], stacks.index(r["stack"])))


def _place(index: int, width: float) -> float:
    """A deterministic spread of points across a band of ``width`` (a golden-ratio walk)."""
    return ((index * GOLDEN) % 1.0 - 0.5) * width


def strip_figure(summary: Mapping[str, Any], stacks: Sequence[str],
                 colours: Mapping[str, str]) -> Figure | None:
    """Per level, one band per stack: every burst's throughput and the mean."""
    rows = _rows(summary, stacks)
    if not rows:
        return None
    levels = sorted({r["level"] for r in rows})
    drawn = [s for s in stacks if any(r["stack"] == s for r in rows)]
    band = 0.8 / len(drawn)
    fig, ax = plotting.new_figure()
    for row in rows:
        centre = levels.index(row["level"]) + (drawn.index(row["stack"]) - (len(drawn) - 1) / 2) \
            * band
        colour = colours[row["stack"]]
        for i, point in enumerate(row["points"]):
            ax.plot([centre + _place(i, band * 0.7)], [point["throughput_rps"]], marker="o",
                    markersize=3.5, linestyle="none", color=colour, alpha=0.75,
                    markerfacecolor="white" if point["first"] else colour)
        if row.get("steady"):
            ax.plot([centre - band * 0.4, centre + band * 0.4], [row["steady"]["mean_rps"]] * 2,
                    color=colour, linewidth=2.2)
    ax.set_xticks(range(len(levels)), [level_label("clients", lv) for lv in levels])
    ax.set_xlim(-0.6, len(levels) - 0.4)
    ax.grid(axis="x", visible=False)
    plotting.log_y(ax)
    ax.set_ylabel("throughput of one burst (req/s)")
    ax.set_title("Concurrent clients: the throughput of every burst")
    handles = [Line2D([], [], color=colours[s], marker="o", linestyle="none") for s in drawn]
    handles += [Line2D([], [], color="#555555", marker="o", linestyle="none",
                       markerfacecolor="white"), Line2D([], [], color="#555555", linewidth=2.2)]
    ax.legend(handles, [*drawn, "first burst", "mean (C / mean burst time)"],
              loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=min(3, len(drawn) + 2))
    return fig


def share_figure(summary: Mapping[str, Any], stacks: Sequence[str],
                 colours: Mapping[str, str]) -> Figure | None:
    """Burst time against the busiest worker's connections, with the share model."""
    rows = [r for r in _rows(summary, stacks)
            if any(p.get("busiest_worker") for p in r["points"])]
    if not rows:
        return None
    fig, ax = plotting.new_figure()
    xs: list[float] = []
    for row in rows:
        colour = colours[row["stack"]]
        points = [p for p in row["points"] if p.get("busiest_worker")]
        xs += [p["busiest_worker"] for p in points]
        for first in (False, True):
            chosen = [p for p in points if p["first"] == first]
            if chosen:
                ax.plot([p["busiest_worker"] for p in chosen], [p["duration_s"] for p in chosen],
                        marker="o", markersize=3.5, linestyle="none", color=colour, alpha=0.75,
                        markerfacecolor="white" if first else colour)
    models = sorted({(r["share"]["slots_per_worker"], r["share"]["delay_s"]) for r in rows
                     if r.get("share") and r["share"].get("slots_per_worker")
                     and r["share"].get("delay_s")})
    span = range(max(1, int(min(xs))), int(max(xs)) + 1)
    for slots, delay in models:
        ax.plot(list(span), [math.ceil(x / slots) * delay for x in span], color="#777777",
                linestyle="--", linewidth=1.0)
    plotting.log_x(ax)
    plotting.log_y(ax)
    ax.set_xlabel("connections held by the busiest worker at the burst's peak")
    ax.set_ylabel("burst time (s)")
    ax.set_title("Concurrent clients: burst time against the busiest worker's share")
    drawn = list(dict.fromkeys(r["stack"] for r in rows))
    handles = [Line2D([], [], color=colours[s], marker="o", linestyle="none") for s in drawn]
    labels = list(drawn)
    for slots, delay in models:
        handles.append(Line2D([], [], color="#777777", linestyle="--", linewidth=1.0))
        labels.append(f"ceil(busiest / {slots}) × {format_number(delay * 1000, 0)} ms")
    ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.2),
              ncol=min(3, len(labels)))
    return fig


def _rps(value: float | None) -> str:
    return "n/a" if value is None else f"{format_number(value, 1)}"


def _burst_list(points: Sequence[Mapping[str, Any]]) -> str:
    """``r1: 10.48 s (200)*, 5.71 s (108); r2: ...``: each trial's bursts, their time and
    the busiest worker's connections, the first burst starred."""
    trials: dict[str, list[str]] = {}
    for p in points:
        share = f" ({p['busiest_worker']:.0f})" if p.get("busiest_worker") is not None else ""
        label = f"r{p['round']}" if isinstance(p.get("round"), int) else str(p["trial_id"])
        trials.setdefault(label, []).append(
            f"{p['duration_s']:.2f} s{share}{'*' if p['first'] else ''}")
    return "; ".join(f"{label}: {', '.join(items)}" for label, items in trials.items())


def bursts_section(summary: Mapping[str, Any], stacks: Sequence[str]) -> dict[str, Any]:
    """The clients section's table of the scatter (display strings), one row per stack and
    C, the sentences relating burst time to the busiest worker's share, and every burst."""
    rows = []
    for row in _rows(summary, stacks):
        steady, first, share = row.get("steady") or {}, row.get("first"), row.get("share")
        precision = row.get("precision_pct")
        rows.append({
            "stack": row["stack"], "level": str(row["level"]),
            "arrival": row.get("arrival") or "not recorded alike",
            "bursts": str(steady.get("n", 0)),
            "mean": _rps(steady.get("mean_rps")),
            "range": f"{_rps(steady.get('min_rps'))} to {_rps(steady.get('max_rps'))}",
            "cv": "n/a" if steady.get("cv_duration") is None
                  else f"{steady['cv_duration'] * 100:.0f}%",
            "known": "n/a" if precision is None else f"±{precision:.1f}%",
            "first": _rps(first["mean_rps"]) if first else "",
            "share": "" if not share else f"{share['min']:.0f} to {share['max']:.0f} of "
                                          f"{share['of']}",
            "r": "" if not share or share.get("r") is None else f"{share['r']:.2f}",
            "list": _burst_list(row["points"]),
        })
    sentences = [s for s in (share_sentence(r) for r in _rows(summary, stacks)) if s]
    return {"rows": rows, "sentences": sentences}


def arrival_text(config: Mapping[str, Any]) -> str | None:
    """The run's configured arrival, without a number of clients (``C clients arriving at
    once, 3 back-to-back bursts, keep-alive``), and what a sweep varies of it; None for a
    run that records none."""
    arrival = config.get("arrival")
    if not isinstance(arrival, Mapping):
        return None
    sweep = config.get("sweep")
    axes = [sweep, sweep.get("second")] if isinstance(sweep, Mapping) else []
    swept = [str(a.get("param")) for a in axes
             if isinstance(a, Mapping) and a.get("param") in ARRIVAL_PARAMS]
    bursts = config.get("bursts_per_trial")
    mode = arrival.get("mode")
    params = {key: arrival.get(key) for key in
              (("duration_s", "warmup_s") if mode == "sustained"
               else ("gap_ms", "connection", "ramp_ms"))}
    plan = trial_arrival({"arrival": {"mode": mode, **params,
                                      **({} if mode == "sustained" else {"bursts": bursts})}})
    if plan is None:
        return None
    words = arrival_words(plan, None)
    if swept:
        words += (f"; the sweep varies {' and '.join(swept)} (each variant's name says its "
                  "value)")
    return words
