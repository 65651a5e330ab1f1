"""The crossover map chart: one panel per async stack, levels across, the workload axis
up, each cell the headline ratio and its interval, coloured by where the interval lies,
with the boundary where async stops paying drawn as a step line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure
from matplotlib.patches import Patch, Rectangle

from harness.analyse.crossover import CrossoverMap, crossover_maps
from harness.analyse.metrics import level_label
from harness.analyse.sentences import format_number
from harness.report import plotting

CLASS_COLOURS = {"faster": "#009E73", "equivalent": "#E69F00", "inconclusive": "#BBBBBB",
                 "slower": "#D55E00"}
CLASS_WORDS = {"faster": "interval above 1", "equivalent": "inside the ±5 % band",
               "inconclusive": "across a band edge", "slower": "interval below 1"}
CAPTION = ("Crossover map: headline speedup over the baseline at each level (across) and "
           "workload value (up), with its interval; green above 1, amber inside the ±5 % "
           "equivalence band, red below 1, grey across a band edge. The black step is the "
           "boundary where the stack stops being faster.")


def _panel(fig: Figure, index: int, count: int, m: CrossoverMap) -> None:
    ax = fig.add_subplot(1, count, index + 1)
    for i, level in enumerate(m.levels):
        for j, value in enumerate(m.values):
            cell = m.cell(level, value)
            if cell is None:
                continue
            ax.add_patch(Rectangle((i, j), 1, 1, facecolor=CLASS_COLOURS[cell.verdict],
                                   edgecolor="white"))
            text = "n/a" if cell.ratio is None else f"{format_number(cell.ratio, 1)}x"
            if cell.low is not None and cell.high is not None:
                text += f"\n[{format_number(cell.low, 1)}, {format_number(cell.high, 1)}]"
            ax.text(i + 0.5, j + 0.5, text, ha="center", va="center", fontsize=7)
        edge = m.boundary(level)
        if edge is not None:
            y = m.values.index(edge)
            ax.plot([i, i + 1], [y, y], color="black", linewidth=2.0)
    ax.set_xlim(0, len(m.levels))
    ax.set_ylim(0, len(m.values))
    ax.set_xticks([i + 0.5 for i in range(len(m.levels))],
                  [level_label(m.scenario, lv) for lv in m.levels], rotation=30)
    ax.set_yticks([j + 0.5 for j in range(len(m.values))],
                  [format_number(v, 2 if v % 1 else 0) for v in m.values])
    ax.set_ylabel(m.param)
    held = ", ".join(f"{k}={v}" for k, v in m.fixed)
    ax.set_title(f"{m.stack} vs {m.baseline}" + (f"\n({held})" if held else ""), fontsize=8)


def crossover_figures(summary: Mapping[str, Any],
                      manifest: Mapping[str, Any]) -> dict[str, Figure]:
    """``{SCENARIO_crossover: figure}`` for every scenario with crossover maps."""
    maps = crossover_maps(summary, (manifest.get("config") or {}).get("sweep"))
    figures: dict[str, Figure] = {}
    for scenario in dict.fromkeys(m.scenario for m in maps):
        mine = [m for m in maps if m.scenario == scenario]
        # Constrained layout with the legend "outside": the layout makes room below the
        # level labels for it, at any number of levels, values or panels.
        fig = Figure(figsize=(3.2 * len(mine) + 0.8, 0.45 * max(len(m.values) for m in mine)
                              + 2.0), layout="constrained")
        for i, m in enumerate(mine):
            _panel(fig, i, len(mine), m)
        fig.legend(handles=[Patch(color=c, label=CLASS_WORDS[k])
                            for k, c in CLASS_COLOURS.items()],
                   loc="outside lower center", ncol=4 if len(mine) > 1 else 2, fontsize=7)
        figures[f"{scenario}_crossover"] = fig
    return figures


def draw_crossovers(summary: Mapping[str, Any], manifest: Mapping[str, Any]) -> dict[str, str]:
    """The crossover charts as SVG text, in the figures' format."""
    svgs = {}
    for name, fig in crossover_figures(summary, manifest).items():
        with plotting.style(name):
            svgs[name] = plotting.to_svg(fig, name, CAPTION)
    return svgs
