"""Drawing helpers of the report's charts: one style, log axes with plain labels, error bars
that stay above zero, and deterministic SVG output.

Determinism: charts are drawn on bare ``Figure`` objects (pyplot is never imported), text
stays text (``svg.fonttype = "none"``), each chart has a fixed ``svg.hashsalt``, the SVG
carries no metadata (no date), and every ``id`` is prefixed with the chart's name so
several charts can be inlined in one page. The same data therefore gives the same bytes.
"""

from __future__ import annotations

import html
import io
import math
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator, NullLocator

LEVEL_AXIS = {
    "fanout": "N: upstream calls per request",
    "clients": "C: concurrent clients",
    "rate": "offered load (req/s)",
    "capacity": "offered load (req/s)",
}

_RC: dict[str, Any] = {
    "svg.fonttype": "none",
    "text.parse_math": False,  # a "$" in a stack name is text, not mathtext
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Liberation Sans", "Arial", "Helvetica"],
    "font.size": 9.0,
    "axes.titlesize": 10.0,
    "axes.titlelocation": "left",
    "axes.labelsize": 9.0,
    "axes.labelcolor": "#333333",
    "axes.edgecolor": "#999999",
    "axes.linewidth": 0.8,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "axes.axisbelow": True,
    "grid.color": "#e4e4e4",
    "grid.linewidth": 0.6,
    "xtick.color": "#555555",
    "ytick.color": "#555555",
    "legend.frameon": False,
    "legend.fontsize": 8.0,
    "lines.linewidth": 1.6,
    "lines.markersize": 5.0,
    "errorbar.capsize": 3.0,
}
_FIGSIZE = (6.4, 3.4)
_ID = re.compile(r'\bid="([^"]+)"')


# Okabe-Ito: distinguishable with every common form of colour blindness.
PALETTE = ("#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442")


def plain(value: float, _pos: object = None) -> str:
    """A tick label without scientific notation: 0.1, 1, 20, 1,000."""
    if value >= 1000:
        return f"{value:,.0f}"
    return f"{value:g}"


def level_axis(ax: Axes, levels: Sequence[float], scenario: str) -> None:
    """A log x axis labelled exactly at the measured levels."""
    ax.set_xscale("log")
    ticks = sorted(set(levels))
    ax.xaxis.set_major_locator(FixedLocator(ticks))
    ax.xaxis.set_major_formatter(FuncFormatter(plain))
    ax.xaxis.set_minor_locator(NullLocator())
    ax.set_xlabel(LEVEL_AXIS.get(scenario, "level"))
    if len(ticks) == 1:
        ax.set_xlim(ticks[0] / 2, ticks[0] * 2)
    else:
        ax.set_xlim(ticks[0] / 1.3, ticks[-1] * 1.3)


def log_ticks(low: float, high: float) -> list[float]:
    """At least two tick positions inside ``[low, high]`` (``0 < low < high``) for a log
    axis: 1-2-5 steps, finer ones over a short range, and within one step (104 to 130 ms,
    say) evenly spaced round numbers, so that an axis never loses its scale."""
    ticks: list[float] = []
    for steps in ((1, 2, 5), (1, 1.5, 2, 3, 4, 5, 6, 8)):  # finer when the range is short
        ticks = [m * 10.0**e for e in range(math.floor(math.log10(low)) - 1,
                                            math.ceil(math.log10(high)) + 1)
                 for m in steps if low <= m * 10.0**e <= high]
        if len(ticks) >= 3:
            return ticks
    even = [float(t) for t in MaxNLocator(nbins=4, steps=[1, 2, 2.5, 5, 10]).tick_values(low, high)
            if low <= t <= high]
    if len(even) >= 2:
        return even
    return ticks if len(ticks) >= 2 else [low, high]


def log_y(ax: Axes) -> None:
    """A log y axis with plain labels at :func:`log_ticks`, whatever its range."""
    ax.set_yscale("log")
    _plain_log_ticks(ax.yaxis, *ax.get_ylim())


def log_x(ax: Axes) -> None:
    """A log x axis with plain labels at :func:`log_ticks`, whatever its range."""
    ax.set_xscale("log")
    _plain_log_ticks(ax.xaxis, *ax.get_xlim())


def _plain_log_ticks(axis: Any, *limits: float) -> None:
    low, high = sorted(limits)
    axis.set_major_locator(FixedLocator(log_ticks(low, high)))
    axis.set_major_formatter(FuncFormatter(plain))
    axis.set_minor_locator(NullLocator())


def lower_errors(values: Sequence[float], errors: Sequence[float]) -> list[float]:
    """Error bars that stay above zero, so they can be drawn on a log axis."""
    return [min(err, 0.95 * value) for value, err in zip(values, errors, strict=True)]


@contextmanager
def style(name: str) -> Iterator[None]:
    rc: Any = {**_RC, "svg.hashsalt": f"asyncbench-{name}"}
    with matplotlib.rc_context(rc):
        yield


def to_svg(fig: Figure, name: str, title: str) -> str:
    """Save as SVG without metadata (so no date), titled, every id prefixed with ``name``."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", pad_inches=0.08,
                metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    title = f"\n <title>{html.escape(title)}</title>"
    svg = re.sub(r"(<svg\b[^>]*>)", lambda m: m.group(1) + title, buf.getvalue(), count=1)
    ids = sorted(set(_ID.findall(svg)), key=len, reverse=True)
    for old in ids:
        new = f"{name}-{old}"
        svg = (svg.replace(f'id="{old}"', f'id="{new}"')
               .replace(f"url(#{old})", f"url(#{new})")
               .replace(f'href="#{old}"', f'href="#{new}"'))
    return svg


def new_figure() -> tuple[Figure, Axes]:
    fig = Figure(figsize=_FIGSIZE)
    return fig, fig.add_subplot()
