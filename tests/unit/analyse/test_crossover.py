"""Crossover maps from a summary: cell classes, the boundary and the sentence, and the chart."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.analyse.crossover import (
    classify,
    crossover_maps,
    crossover_sentence,
    crossover_table,
)
from harness.config.load import config_from_dict
from harness.report.figures import caption, make_figures
from harness.report.render import render_html, render_markdown

CONFIG = config_from_dict({
    "run": {"stacks": ["flask-gunicorn", "fastapi-uvicorn"]},
    "scenarios": {"clients": {"levels": [10, 100]}},
    "sweep": {"param": "cpu_ms", "values": [0, 4, 16]},
})
SWEEP = CONFIG.resolved()["sweep"]

# (level, cpu_ms) -> (ratio, low, high) of fastapi-uvicorn against flask-gunicorn.
RATIOS = {(10, 0): (4.0, 3.5, 4.5), (10, 4): (1.02, 0.98, 1.04), (10, 16): (0.6, 0.5, 0.7),
          (100, 0): (16.0, 14.0, 18.0), (100, 4): (1.3, 1.1, 1.5), (100, 16): (0.9, 0.8, 1.1)}


def speedup(level: int, cpu: int, metric: str = "throughput_rps") -> dict[str, Any]:
    ratio, low, high = RATIOS[(level, cpu)]
    return {"scenario": "clients", "level": level, "metric": metric,
            "stack": f"fastapi-uvicorn[cpu_ms={cpu}]", "baseline": f"flask-gunicorn[cpu_ms={cpu}]",
            "ratio": ratio, "ci_low": low, "ci_high": high}


SUMMARY = {"speedups": [speedup(lv, c) for lv, c in RATIOS] + [speedup(10, 0, "p99_ms")],
           "cells": [], "baseline": "flask-gunicorn[cpu_ms=0]"}


@pytest.mark.parametrize(("low", "high", "verdict"), [
    (1.1, 1.5, "faster"), (0.97, 1.04, "equivalent"), (1.01, 1.04, "equivalent"),
    (0.5, 0.9, "slower"), (0.9, 1.1, "inconclusive"), (None, None, "inconclusive")])
def test_classify(low: float | None, high: float | None, verdict: str) -> None:
    assert classify(low, high) == verdict


def test_the_config_pairs_each_variant_with_the_baseline_at_the_same_workload() -> None:
    assert CONFIG.baseline_for("fastapi-uvicorn[cpu_ms=4]") == "flask-gunicorn[cpu_ms=4]"
    assert CONFIG.workload("fastapi-uvicorn[cpu_ms=16]") == {"cpu_ms": 16}
    assert SWEEP["variant_of"]["fastapi-uvicorn[cpu_ms=4]"] == "fastapi-uvicorn"


def test_map_cells_boundary_and_sentence() -> None:
    [m] = crossover_maps(SUMMARY, SWEEP)
    assert (m.scenario, m.stack, m.baseline, m.param) == (
        "clients", "fastapi-uvicorn", "flask-gunicorn", "cpu_ms")
    assert m.levels == (10, 100) and m.values == (0, 4, 16)
    assert [m.cell(100, v).verdict for v in m.values] == [  # type: ignore[union-attr]
        "faster", "faster", "inconclusive"]
    assert m.boundary(10) == 4 and m.boundary(100) == 16
    assert crossover_sentence(m) == (
        "With 16 ms of CPU per request, fastapi-uvicorn's lead over flask-gunicorn at "
        "clients C=100 falls from 16.0x to 0.90x [0.80, 1.10] (inconclusive): there async "
        "stops paying.")


def test_a_lead_that_holds_is_stated_as_such() -> None:
    kept = {"speedups": [s for s in SUMMARY["speedups"] if "16" not in s["stack"]]}
    [m] = crossover_maps(kept, SWEEP)
    assert m.boundary(100) is None
    assert crossover_sentence(m).startswith(
        "Up to 4 ms of CPU per request, fastapi-uvicorn keeps its lead over flask-gunicorn")


def test_no_workload_sweep_no_map() -> None:
    assert crossover_maps(SUMMARY, None) == []
    stack_sweep = config_from_dict({
        "run": {"stacks": ["flask-gunicorn", "quart-hypercorn"], "baseline": "quart-hypercorn"},
        "scenarios": {"clients": {"levels": [10]}},
        "sweep": {"stack": "flask-gunicorn", "param": "threads", "values": [2, 8]}})
    assert crossover_maps(SUMMARY, stack_sweep.resolved()["sweep"]) == []


def test_the_chart_is_drawn_with_its_cells() -> None:
    svgs = make_figures(SUMMARY, {"config": CONFIG.resolved()})
    svg = svgs["clients_crossover"]
    assert "16.0x" in svg and "[0.8, 1.1]" in svg
    assert "fastapi-uvicorn vs flask-gunicorn" in svg
    assert caption("clients_crossover").startswith("Crossover map")


def test_the_report_states_where_async_stops_paying() -> None:
    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "report"
    summary = json.loads((fixtures / "summary.json").read_text())
    model = next(sp for sp in summary["speedups"] if sp["scenario"] == "clients")
    summary["speedups"] = [{**model, **sp} for sp in SUMMARY["speedups"]]
    manifest = json.loads((fixtures / "manifest.json").read_text())
    manifest["config"]["sweep"] = SWEEP
    markdown = render_markdown(summary, manifest, {"clients_crossover": "clients_crossover.svg"})
    html = render_html(summary, manifest, make_figures(summary, manifest))
    sentence = "With 16 ms of CPU per request, fastapi-uvicorn&#39;s lead"
    assert "### Where async stops paying" in markdown
    assert "- With 16 ms of CPU per request, fastapi-uvicorn's lead" in markdown
    assert "clients_crossover.svg" in markdown
    assert ("| 4 | 1.02x \\[0.98, 1.04\\] equivalent | 1.30x \\[1.10, 1.50\\] faster |"
            in markdown)  # brackets escaped for Markdown
    assert sentence in html and "16.0x" in html
    assert "Baseline <strong>flask-gunicorn (at the same workload as each stack)</strong>" in html


def test_the_map_as_a_table() -> None:
    [m] = crossover_maps(SUMMARY, SWEEP)
    table = crossover_table(m)
    assert table["levels"] == ["C=10", "C=100"]
    assert table["rows"][1] == {"value": "4", "cells": [
        "1.02x [0.98, 1.04] equivalent", "1.30x [1.10, 1.50] faster"]}
