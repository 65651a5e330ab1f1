"""Charts keep their scale: every log axis carries at least two tick labels inside its view
whatever its range (a spectrum within one decade included), and no legend covers a tick
label or an axis label, at one level, at one stack, or at many."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.text import Text

from harness.analyse.summary import summarise
from harness.report import crossover, plotting
from harness.report.figures import figure_makers
from harness.rundir.reader import Run, load_run
from tests.unit.analyse.test_crossover import SUMMARY as CROSSOVER_SUMMARY
from tests.unit.analyse.test_crossover import SWEEP

EXAMPLE = Path(__file__).resolve().parents[3] / "results" / "example"


def _run_with(keep: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    run = load_run(EXAMPLE)
    trials = [t for t in run.trials if keep(t)]
    return summarise(Run(run.path, run.manifest, trials)), run.manifest


def spectrum(low_ms: float, high_ms: float) -> tuple[dict[str, Any], dict[str, Any]]:
    """A rate run's summary whose latency spectrum spans ``low_ms``..``high_ms``."""
    steps = [low_ms + (high_ms - low_ms) * f for f in (0, 0.2, 0.5, 0.8, 1.0)]
    rows = [{"scenario": "rate", "level": 40, "stack": stack, "percentiles": [50, 90, 99, 99.9, 100],
             "nines": [], "corrected_ms": [v * scale for v in steps],
             "uncorrected_ms": [v * scale * 0.99 for v in steps]}
            for stack, scale in (("flask-gunicorn", 1.0), ("fastapi-uvicorn", 1.01))]
    latency = [{"scenario": "rate", "level": level, "stack": stack, "n": 3,
                "p50_mean": low_ms * f, "p90_mean": low_ms * f * 1.05,
                "p99_mean": high_ms * f, "p999_mean": high_ms * f * 1.01, "pooled": None}
               for stack, f in (("flask-gunicorn", 1.0), ("fastapi-uvicorn", 1.02))
               for level in (40,)]
    summary = {"baseline": "flask-gunicorn", "confidence": 0.95, "cells": [], "speedups": [],
               "model": [], "latency": latency, "spectrum": rows, "saturation": []}
    return summary, {"config": {"stack_order": ["flask-gunicorn", "fastapi-uvicorn"]}}


CASES = {
    "example": lambda: _run_with(lambda t: True),
    "one level each": lambda: _run_with(lambda t: t["level"] in (10, 50)),
    "one stack": lambda: _run_with(lambda t: t["stack"] in ("flask-gunicorn", "quart-hypercorn")),
    "one level, one stack": lambda: _run_with(
        lambda t: t["level"] == 50 and t["stack"] in ("flask-gunicorn", "fastapi-uvicorn")),
    "spectrum 104-130 ms": lambda: spectrum(104, 130),
    "spectrum 104.0-104.4 ms": lambda: spectrum(104.0, 104.4),
    "spectrum 0.3-900 ms": lambda: spectrum(0.3, 900),
}


def figures(summary: dict[str, Any], manifest: dict[str, Any]) -> Iterator[tuple[str, Figure]]:
    for name, make in figure_makers(summary, manifest).items():
        with plotting.style(name):
            fig = make()
            if fig is not None:
                FigureCanvasAgg(fig).draw()
                yield name, fig
    for name, fig in crossover.crossover_figures(summary, manifest).items():
        with plotting.style(name):
            FigureCanvasAgg(fig).draw()
            yield name, fig


def labelled_ticks(ax: Axes, axis: str) -> list[str]:
    """The tick labels an axis shows inside its view limits."""
    low, high = sorted(ax.get_ylim() if axis == "y" else ax.get_xlim())
    which = ax.yaxis if axis == "y" else ax.xaxis
    return [label.get_text() for tick, label in zip(which.get_majorticklocs(),
                                                  which.get_majorticklabels(), strict=False)
            if low <= tick <= high and label.get_text().strip() and label.get_visible()]


def _texts(fig: Figure) -> list[Text]:
    found: list[Text] = []
    for ax in fig.axes:
        found += [t for t in ax.get_xticklabels() + ax.get_yticklabels()
                  if t.get_visible() and t.get_text().strip()]
        found += [t for t in (ax.xaxis.label, ax.yaxis.label) if t.get_text().strip()]
    return found


@pytest.mark.parametrize("case", list(CASES))
def test_every_log_axis_carries_tick_labels(case: str) -> None:
    drawn = list(figures(*CASES[case]()))
    assert drawn
    for name, fig in drawn:
        for ax in fig.axes:
            for axis in ("x", "y"):
                scale = ax.get_yscale() if axis == "y" else ax.get_xscale()
                if scale == "log":
                    shown = labelled_ticks(ax, axis)
                    assert len(shown) >= (1 if axis == "x" else 2), (name, axis, shown)


@pytest.mark.parametrize("case", list(CASES))
def test_no_legend_covers_a_label(case: str) -> None:
    for name, fig in figures(*CASES[case]()):
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
        for legend in legends:
            box = legend.get_window_extent(renderer)
            for text in _texts(fig):
                assert not box.overlaps(text.get_window_extent(renderer)), (
                    name, text.get_text())


def _one_level_crossover() -> tuple[dict[str, Any], dict[str, Any]]:
    summary = copy.deepcopy(CROSSOVER_SUMMARY)
    summary["speedups"] = [s for s in summary["speedups"] if s["level"] == 100]
    return summary, {"config": {"sweep": SWEEP}}


@pytest.mark.parametrize("make", [_one_level_crossover,
                                  lambda: (CROSSOVER_SUMMARY, {"config": {"sweep": SWEEP}})])
def test_the_crossover_legend_never_covers_the_level_labels(make: Any) -> None:
    summary, manifest = make()
    [fig] = [f for n, f in figures(summary, manifest) if n.endswith("_crossover")]
    renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
    [legend] = fig.legends
    box = legend.get_window_extent(renderer)
    labels = [t for ax in fig.axes for t in ax.get_xticklabels() if t.get_text()]
    assert labels
    for label in labels:
        assert not box.overlaps(label.get_window_extent(renderer)), label.get_text()
