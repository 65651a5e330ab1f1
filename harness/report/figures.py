"""Charts of a run's statistics summary, as deterministic SVG text.

:func:`make_figures` draws every chart the summary has data for and returns
``{name: svg_text}``; a chart whose data is absent is left out. Names start with
their scenario so the report can place them: ``fanout_duration``,
``fanout_speedup``, ``clients_throughput``, ``clients_p99``, ``clients_speedup``,
``rate_latency``, ``rate_spectrum``, ``rate_speedup``; ``clients_bursts`` and
``clients_share``, every burst (``harness.report.bursts``); ``database_pool`` for a
PostgreSQL upstream (``harness.report.database``); ``capacity_latency`` and
``capacity_usl`` (``harness.report.capacity``); crossover maps under a workload sweep.

Only production stacks are drawn; development servers are reported apart, in tables.

Drawing and SVG output are ``plotting``'s: the same summary gives the same bytes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, NullLocator

from harness.analyse.metrics import HEADLINE_METRICS, level_label, metric_label
from harness.analyse.model import expected_fanout_duration_s
from harness.report import bursts, capacity, crossover, database, plotting
from harness.report.plotting import PALETTE

BASELINE_COLOUR = "#444444"

SCENARIO_NAMES = {"fanout": "Fan-out", "clients": "Concurrent clients", "rate": "Open-loop rate"}

_MARKS = (". An open marker has no interval (too few trials); a triangle marks an interval "
          "that continues beyond the axis.")
CAPTIONS = {
    "fanout_duration": "Fan-out: duration of one request against N (mean ± sd over trials), "
    "with the model lines: sequential calls take N × delay, concurrent ones one delay.",
    "fanout_speedup": "Fan-out: speedup over the baseline with its confidence interval "
    f"(log scale; above 1 the stack is faster){_MARKS}",
    "clients_throughput": "Concurrent clients: throughput against C (mean ± sd over trials); "
    "dashed lines are each stack's model (worker slots / delay).",
    "clients_p99": "Concurrent clients: p99 latency against C (mean of the per-trial p99s).",
    "clients_speedup": "Concurrent clients: throughput speedup over the baseline with its "
    f"confidence interval (log scale; above 1 the stack is faster){_MARKS}",
    "rate_latency": "Open-loop rate: latency percentiles against offered load "
    "(mean of the per-trial percentiles; log scale).",
    "rate_speedup": "Open-loop rate: p99 latency speedup over the baseline with its "
    f"confidence interval (log scale; above 1 the stack is faster){_MARKS}",
}

CAPTIONS["rate_spectrum"] = (
    "Open-loop rate: the latency spectrum at one offered rate (the highest every stack "
    "sustained), from the trials' merged histograms. Solid: latency from the intended send "
    "(reported); dashed: from the actual send, what a closed-loop tool would report. The gap "
    "between them is the coordinated omission the correction removes.")
CAPTIONS["fanout_sweep"] = ("Fan-out: request duration against the swept stack parameter, "
                            "one line per N (mean ± sd); dotted lines are the other stacks.")
CAPTIONS["clients_sweep"] = ("Concurrent clients: throughput against the swept stack parameter, "
                             "one line per C (mean ± sd); dotted lines are the other stacks.")
CAPTIONS.update({f"{s}_crossover": crossover.CAPTION for s in ("fanout", "clients", "rate")})
CAPTIONS[database.FIGURE] = database.CAPTION
CAPTIONS.update(bursts.CAPTIONS)
CAPTIONS.update(capacity.CAPTIONS)
CHART_NAMES = tuple(CAPTIONS)

def caption(name: str) -> str:
    """The caption of the chart called ``name`` (its name when it has none)."""
    return CAPTIONS.get(name, name)


# --- data access --------------------------------------------------------------------------


def _stacks(summary: Mapping[str, Any], manifest: Mapping[str, Any]) -> list[str]:
    """Production stacks in the config's order, then any others the summary names."""
    config = manifest.get("config") or {}
    specs: Mapping[str, Any] = config.get("stacks") or {}
    order = list(config.get("stack_order") or specs)
    for key in ("cells", "latency", "speedups"):
        for entry in summary.get(key) or []:
            if entry["stack"] not in order:
                order.append(entry["stack"])
    return [s for s in order if (specs.get(s) or {}).get("kind", "production") != "dev"]


def _colours(stacks: Sequence[str], baseline: str) -> dict[str, str]:
    others = [s for s in stacks if s != baseline]
    colours = {s: PALETTE[i % len(PALETTE)] for i, s in enumerate(others)}
    colours[baseline] = BASELINE_COLOUR
    return colours


def _series(entries: Sequence[Mapping[str, Any]], stack: str, key: str,
            err_key: str | None = None) -> tuple[list[float], list[float], list[float]]:
    """``(levels, values, errors)`` of one stack, sorted by level, finite positive values."""
    points = sorted(
        (float(e["level"]), float(e[key]), float(e[err_key]) if err_key else 0.0)
        for e in entries
        if e["stack"] == stack and e.get(key) is not None and math.isfinite(e[key]) and e[key] > 0
    )
    return [p[0] for p in points], [p[1] for p in points], [p[2] for p in points]


def _select(entries: Sequence[Mapping[str, Any]], **match: Any) -> list[Mapping[str, Any]]:
    return [e for e in entries if all(e.get(k) == v for k, v in match.items())]


def _mean_lines(ax: Axes, cells: Sequence[Mapping[str, Any]], stacks: Sequence[str],
                colours: Mapping[str, str]) -> list[float]:
    """One line per stack of its cells' means against the level, ± sd; the levels drawn."""
    levels: list[float] = []
    for stack in stacks:
        xs, ys, sds = _series(cells, stack, "mean", "sd")
        levels += xs
        ax.errorbar(xs, ys, yerr=[plotting.lower_errors(ys, sds), sds], color=colours[stack],
                    marker="o", label=stack)
    return levels


# --- the charts ---------------------------------------------------------------------------


def _fanout_duration(summary: Mapping[str, Any], manifest: Mapping[str, Any],
                     stacks: Sequence[str], colours: Mapping[str, str]) -> Figure | None:
    cells = _select(summary.get("cells") or [], scenario="fanout", metric="duration_s")
    drawn = [s for s in stacks if _series(cells, s, "mean")[0]]
    if not drawn:
        return None
    fig, ax = plotting.new_figure()
    levels = _mean_lines(ax, cells, drawn, colours)
    config = manifest.get("config") or {}
    delay_ms = config.get("delay_ms")
    specs: Mapping[str, Any] = config.get("stacks") or {}
    modes = {(specs.get(s) or {}).get("fanout_mode") for s in drawn}
    if isinstance(delay_ms, int | float) and delay_ms > 0:
        span = [min(levels), max(levels)]
        delay = delay_ms / 1000.0
        for mode, style, label in (("sequential", "--", "model: sequential (N × delay)"),
                                   ("concurrent", ":", "model: concurrent (one delay)")):
            if mode in modes:
                ax.plot(span, [expected_fanout_duration_s(round(n), delay, mode) for n in span],
                        color="#999999", linestyle=style, linewidth=1.0 if mode == "sequential"
                        else 1.2, label=label)
    plotting.level_axis(ax, levels, "fanout")
    plotting.log_y(ax)
    ax.set_ylabel("duration of one request (s)")
    ax.set_title("Fan-out: request duration against N")
    ax.legend(loc="best")
    return fig


def _clients_throughput(summary: Mapping[str, Any], stacks: Sequence[str],
                        colours: Mapping[str, str]) -> Figure | None:
    cells = _select(summary.get("cells") or [], scenario="clients", metric="throughput_rps")
    model = _select(summary.get("model") or [], scenario="clients", metric="throughput_rps")
    drawn = [s for s in stacks if _series(cells, s, "mean")[0]]
    if not drawn:
        return None
    fig, ax = plotting.new_figure()
    levels = _mean_lines(ax, cells, drawn, colours)
    for stack in drawn:
        mx, my, _ = _series(model, stack, "expected")
        if mx:
            ax.plot(mx, my, color=colours[stack], linestyle="--", linewidth=0.9, alpha=0.7)
    plotting.level_axis(ax, levels, "clients")
    plotting.log_y(ax)
    ax.set_ylabel("throughput (req/s)")
    ax.set_title("Concurrent clients: throughput against C")
    handles, labels = ax.get_legend_handles_labels()
    if model:
        handles.append(Line2D([], [], color="#777777", linestyle="--", linewidth=0.9))
        labels.append("model (slots / delay)")
    ax.legend(handles, labels, loc="best")
    return fig


def _clients_p99(summary: Mapping[str, Any], stacks: Sequence[str],
                 colours: Mapping[str, str]) -> Figure | None:
    latency = _select(summary.get("latency") or [], scenario="clients")
    drawn = [s for s in stacks if _series(latency, s, "p99_mean")[0]]
    if not drawn:
        return None
    fig, ax = plotting.new_figure()
    levels: list[float] = []
    for stack in drawn:
        xs, ys, _ = _series(latency, stack, "p99_mean")
        levels += xs
        ax.plot(xs, ys, color=colours[stack], marker="o", label=stack)
    plotting.level_axis(ax, levels, "clients")
    ax.set_ylim(bottom=0)
    ax.yaxis.set_major_formatter(FuncFormatter(plotting.plain))
    ax.set_ylabel("p99 latency (ms)")
    ax.set_title("Concurrent clients: p99 latency against C")
    ax.legend(loc="best")
    return fig


def _speedup(summary: Mapping[str, Any], scenario: str, stacks: Sequence[str],
             colours: Mapping[str, str]) -> Figure | None:
    entries = _select(summary.get("speedups") or [], scenario=scenario)
    metrics = [e["metric"] for e in entries]
    metric = HEADLINE_METRICS.get(scenario)
    if metric not in metrics:
        metric = metrics[0] if metrics else None
    entries = [e for e in entries if e["metric"] == metric and e.get("ratio") is not None
               and e["ratio"] > 0]
    drawn = [s for s in stacks if any(e["stack"] == s for e in entries)]
    if not drawn:
        return None
    levels = sorted({e["level"] for e in entries})
    ratios = [float(e["ratio"]) for e in entries] + [1.0]
    lows = [float(e["ci_low"]) for e in entries if e.get("ci_low") is not None]
    highs = [float(e["ci_high"]) for e in entries if e.get("ci_high") is not None]
    # Show every ratio and the line at 1; intervals reaching far beyond end in an arrow.
    floor = max(min([lo for lo in lows if lo > 0] + ratios) / 1.25, min(ratios) / 4)
    ceiling = min(max([hi for hi in highs if math.isfinite(hi)] + ratios) * 1.25,
                  max(ratios) * 4)
    fig, ax = plotting.new_figure()
    width = 0.6 / len(drawn)
    for i, stack in enumerate(drawn):
        offset = (i - (len(drawn) - 1) / 2) * width
        colour = colours[stack]
        for e in sorted(_select(entries, stack=stack), key=lambda e: e["level"]):
            x = levels.index(e["level"]) + offset
            ratio = float(e["ratio"])
            low, high = e.get("ci_low"), e.get("ci_high")
            # No bounded interval (or, defensively, one that misses its own point): the
            # point alone, as an open marker, never a bar of negative length.
            if low is None or high is None or not float(low) <= ratio <= float(high):
                ax.plot([x], [ratio], color=colour, marker="o", linestyle="none",
                        markerfacecolor="white")
                continue
            shown_low, shown_high = max(float(low), floor), min(float(high), ceiling)
            ax.errorbar([x], [ratio], yerr=[[ratio - shown_low], [shown_high - ratio]],
                        color=colour, marker="o", linestyle="none")
            if low <= floor:
                ax.plot([x], [floor], color=colour, marker="v", clip_on=False)
            if high >= ceiling:
                ax.plot([x], [ceiling], color=colour, marker="^", clip_on=False)
        ax.plot([], [], color=colour, marker="o", linestyle="none", label=stack)
    ax.axhline(1.0, color=BASELINE_COLOUR, linewidth=1.0, linestyle="--",
               label=f"{summary.get('baseline', 'baseline')} (baseline) = 1")
    ax.set_xticks(range(len(levels)), [plotting.plain(float(level)) for level in levels])
    ax.set_xlim(-0.6, len(levels) - 0.4)
    ax.grid(axis="x", visible=False)
    ax.set_ylim(floor, ceiling)
    plotting.log_y(ax)
    ax.set_xlabel(plotting.LEVEL_AXIS.get(scenario, "level"))
    ax.set_ylabel("speedup (×, log scale)")
    ax.set_title(f"{SCENARIO_NAMES.get(scenario, scenario)}: speedup in "
                 f"{metric_label(str(metric))} ({interval_words(summary, entries)})")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=min(3, len(drawn) + 1))
    return fig


def interval_words(summary: Mapping[str, Any], entries: Sequence[Mapping[str, Any]]) -> str:
    """The level of the intervals drawn, as the entries carry it: ``99.77% CI, 95%
    family-wise`` for headline entries, ``95% CI`` for exploratory ones."""
    levels = {e.get("confidence") for e in entries if e.get("ci_low") is not None}
    level = next(iter(levels), None)
    if len(levels) != 1 or not isinstance(level, float):
        return "CI"
    words = f"{level * 100:.2f}".rstrip("0").rstrip(".") + "% CI"
    together = (summary.get("family") or {}).get("familywise_confidence")
    if all(e.get("family") == "headline" for e in entries) and isinstance(together, float) \
            and together != level:
        words += f", {together * 100:g}% family-wise"
    return words


def _rate_latency(summary: Mapping[str, Any], stacks: Sequence[str],
                  colours: Mapping[str, str]) -> Figure | None:
    latency = _select(summary.get("latency") or [], scenario="rate")
    drawn = [s for s in stacks if _series(latency, s, "p50_mean")[0]]
    if not drawn:
        return None
    fig, ax = plotting.new_figure()
    styles: tuple[tuple[str, Any, str], ...] = (
        ("p50_mean", "-", "p50"), ("p99_mean", "--", "p99"), ("p999_mean", ":", "p99.9"))
    levels: list[float] = []
    for stack in drawn:
        for key, linestyle, _ in styles:
            xs, ys, _errs = _series(latency, stack, key)
            levels += xs
            ax.plot(xs, ys, color=colours[stack], linestyle=linestyle, marker="o",
                    markersize=3.5)
    plotting.level_axis(ax, levels, "rate")
    plotting.log_y(ax)
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title("Open-loop rate: latency against offered load")
    handles = [Line2D([], [], color=colours[s]) for s in drawn]
    handles += [Line2D([], [], color="#555555", linestyle=ls) for _, ls, _ in styles]
    ax.legend(handles, [*drawn, *(label for _, _, label in styles)], loc="upper center",
              bbox_to_anchor=(0.5, -0.2), ncol=3)
    return fig


def spectrum_level(summary: Mapping[str, Any], stacks: Sequence[str]) -> int | None:
    """The offered rate the spectrum chart shows: the highest level of the spectrum that
    every stack sustained (``saturation``), else the lowest level measured."""
    levels = sorted({int(e["level"]) for e in summary.get("spectrum") or []
                     if e["stack"] in stacks})
    if not levels:
        return None
    sustained = [r.get("sustained_rps") for r in summary.get("saturation") or []
                 if r["stack"] in stacks]
    if sustained and all(isinstance(x, int) for x in sustained):
        ok = [lv for lv in levels if lv <= min(int(x) for x in sustained)]
        if ok:
            return ok[-1]
    return levels[0]


def _rate_spectrum(summary: Mapping[str, Any], stacks: Sequence[str],
                   colours: Mapping[str, str]) -> Figure | None:
    level = spectrum_level(summary, stacks)
    rows = {e["stack"]: e for e in summary.get("spectrum") or [] if e["level"] == level}
    drawn = [s for s in stacks if s in rows]
    if not drawn:
        return None
    fig, ax = plotting.new_figure()
    labels = [f"{p:g}" if p < 100 else "max" for p in rows[drawn[0]]["percentiles"]]
    xs = list(range(len(labels)))
    for stack in drawn:
        row = rows[stack]
        ax.plot(xs, row["corrected_ms"], color=colours[stack], marker="o", markersize=3.5,
                label=stack)
        if row.get("uncorrected_ms"):
            ax.plot(xs, row["uncorrected_ms"], color=colours[stack], linestyle="--",
                    linewidth=1.0)
    ax.set_xticks(xs, labels)
    plotting.log_y(ax)
    ax.set_xlabel("percentile")
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_title(f"Open-loop rate: latency spectrum at {level} req/s offered")
    handles, names = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="#555555"), Line2D([], [], color="#555555", linestyle="--")]
    names += ["from the intended send", "from the actual send"]
    ax.legend(handles, names, loc="upper left", fontsize=7.5)
    return fig


def _sweep(summary: Mapping[str, Any], manifest: Mapping[str, Any],
           scenario: str) -> Figure | None:
    """The headline metric against a swept stack parameter, one line per level
    (one-axis stack sweeps; workload sweeps are drawn as crossover maps)."""
    sweep = (manifest.get("config") or {}).get("sweep")
    if (not isinstance(sweep, Mapping) or not sweep.get("variants") or not sweep.get("stack")
            or sweep.get("second")):
        return None
    # Older manifests map a variant to its value, newer ones to {param: value}.
    variants: Mapping[str, int] = {
        name: value[sweep.get("param")] if isinstance(value, Mapping) else value
        for name, value in sweep["variants"].items()}
    metric = "duration_s" if scenario == "fanout" else "throughput_rps"
    cells = _select(summary.get("cells") or [], scenario=scenario, metric=metric)
    swept = [c for c in cells if c["stack"] in variants and c.get("mean")]
    if not swept:
        return None
    fig, ax = plotting.new_figure()
    levels = sorted({c["level"] for c in swept})
    palette = matplotlib.colormaps["viridis"]
    for i, level in enumerate(levels):
        rows = sorted((variants[c["stack"]], c["mean"], c.get("sd") or 0.0)
                      for c in swept if c["level"] == level)
        colour = palette(i / max(1, len(levels) - 1) * 0.85)
        xs, ys, sds = zip(*rows, strict=True)
        ax.errorbar(xs, ys, yerr=[plotting.lower_errors(ys, sds), sds], color=colour, marker="o",
                    label=level_label(scenario, level))
        for other in cells:
            if other["level"] == level and other["stack"] not in variants and other.get("mean"):
                ax.axhline(other["mean"], color=colour, linestyle=":", linewidth=0.9)
    values = sorted(variants.values())
    ax.set_xscale("log")
    ax.set_xticks(values, [str(v) for v in values])
    ax.xaxis.set_minor_locator(NullLocator())
    plotting.log_y(ax)
    ax.set_xlabel(f"{sweep.get('stack')}: {sweep.get('param')}")
    ax.set_ylabel("duration of one request (s)" if scenario == "fanout" else "throughput (req/s)")
    ax.set_title(f"{SCENARIO_NAMES.get(scenario, scenario)}: {metric_label(metric)} "
                 f"against {sweep.get('param')}")
    ax.legend(loc="best")
    return fig


def figure_makers(summary: Mapping[str, Any],
                  manifest: Mapping[str, Any]) -> dict[str, Callable[[], Figure | None]]:
    """Each chart's name and the function that draws it (None without data), in report
    order; :func:`make_figures` calls each inside its style. Crossover maps are apart."""
    stacks = _stacks(summary, manifest)
    colours = _colours(stacks, str(summary.get("baseline", "")))
    return {
        "fanout_duration": lambda: _fanout_duration(summary, manifest, stacks, colours),
        "fanout_speedup": lambda: _speedup(summary, "fanout", stacks, colours),
        "clients_throughput": lambda: _clients_throughput(summary, stacks, colours),
        "clients_p99": lambda: _clients_p99(summary, stacks, colours),
        "clients_speedup": lambda: _speedup(summary, "clients", stacks, colours),
        bursts.STRIP: lambda: bursts.strip_figure(summary, stacks, colours),
        bursts.SHARE: lambda: bursts.share_figure(summary, stacks, colours),
        "clients_sweep": lambda: _sweep(summary, manifest, "clients"),
        "fanout_sweep": lambda: _sweep(summary, manifest, "fanout"),
        "rate_latency": lambda: _rate_latency(summary, stacks, colours),
        "rate_spectrum": lambda: _rate_spectrum(summary, stacks, colours),
        "rate_speedup": lambda: _speedup(summary, "rate", stacks, colours),
        database.FIGURE: lambda: database.pool_figure(summary, manifest),
        capacity.LATENCY_FIGURE: lambda: capacity.latency_figure(summary, colours),
        capacity.USL_FIGURE: lambda: capacity.usl_figure(summary, colours),
    }


def make_figures(summary: Mapping[str, Any], manifest: Mapping[str, Any]) -> dict[str, str]:
    """Every chart the summary has data for, as ``{name: svg_text}`` in report order.

    Args:
        summary: the statistics summary (``harness.analyse.summary.summarise``'s dict).
        manifest: the run's manifest; its ``config`` gives the stack order and
            kinds, the delay and each stack's fan-out mode. It may be sparse.
    Returns:
        SVG documents keyed by chart name; charts without data are absent.
    """
    svgs: dict[str, str] = {}
    for name, make in figure_makers(summary, manifest).items():
        with plotting.style(name):
            fig = make()
            if fig is not None:
                svgs[name] = plotting.to_svg(fig, name, caption(name))
    svgs.update(crossover.draw_crossovers(summary, manifest))
    return svgs
