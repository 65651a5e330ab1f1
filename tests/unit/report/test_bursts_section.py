"""The report's view of the clients scatter: the strip plot and the share chart are drawn
(the same bytes twice), the table states the spread beside the mean, every burst is listed
with its busiest worker's share, and the text names how the clients arrived."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from harness.analyse.bursts import scatter_rows
from harness.report import render as report
from harness.report.bursts import SHARE, STRIP, arrival_text
from harness.report.figures import make_figures
from tests.unit.analyse.test_burst_analysis import CONFIG, burst, trial

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "report"


@pytest.fixture(scope="module")
def run() -> tuple[dict[str, Any], dict[str, Any]]:
    summary = json.loads((FIXTURES / "summary.json").read_text(encoding="utf-8"))
    manifest = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
    gthread = [trial(r, [burst(10.48, 200), burst(5.71, 108), burst(3.10, 57)], clients=200)
               for r in (1, 2)]
    quart = [trial(r, [burst(0.21, 51), burst(0.20, 55), burst(0.22, 60)],
                   stack="quart-hypercorn", clients=200) for r in (1, 2)]
    summary["bursts"] = scatter_rows({("clients", 200, "flask-gunicorn"): gthread,
                                      ("clients", 200, "quart-hypercorn"): quart}, CONFIG)
    manifest = copy.deepcopy(manifest)
    manifest["config"]["arrival"] = {"mode": "bursts", "gap_ms": 0, "connection": "keep-alive",
                                     "ramp_ms": 0, "duration_s": 10.0, "warmup_s": 1.0}
    manifest["config"]["bursts_per_trial"] = 3
    for sp in summary["speedups"] + summary["headlines"]:
        if sp["scenario"] == "clients":
            sp["arrival"] = f"{sp['level']} clients arriving at once, 3 back-to-back bursts, " \
                            "keep-alive"
    return summary, manifest


def test_the_strip_plot_and_the_share_chart_are_drawn_deterministically(
        run: tuple[dict[str, Any], dict[str, Any]]) -> None:
    summary, manifest = run
    first, second = make_figures(summary, manifest), make_figures(summary, manifest)
    assert STRIP in first and SHARE in first
    assert first[STRIP] == second[STRIP] and first[SHARE] == second[SHARE]
    assert "ceil(busiest / 2) × 100 ms" in first[SHARE]  # gthread's share model
    assert "first burst" in first[STRIP]


def test_without_bursts_there_is_no_strip_plot(run: tuple[dict[str, Any], dict[str, Any]]) -> None:
    summary, manifest = run
    svgs = make_figures({**summary, "bursts": []}, manifest)
    assert STRIP not in svgs and SHARE not in svgs


def test_the_report_states_the_spread_beside_the_mean_and_every_burst(
        run: tuple[dict[str, Any], dict[str, Any]]) -> None:
    summary, manifest = run
    svgs = make_figures(summary, manifest)
    markdown = report.render_markdown(summary, manifest, {n: f"figures/{n}.svg" for n in svgs})
    row = next(line for line in markdown.splitlines()
               if line.startswith("| flask-gunicorn | 200 |"))
    # mean 200 / mean(5.71, 3.10, 5.71, 3.10) s; range of the steady bursts' throughput
    assert "| 45.4 |" in row and "| 35.0 to 64.5 |" in row
    assert "57 to 108 of 200" in row
    assert ("flask-gunicorn, C = 200**: r1: 10.48 s (200)\\*, 5.71 s (108), 3.10 s (57); "
            "r2: 10.48 s (200)\\*") in markdown
    assert "the busiest worker held 57 to 108 of 200 connections over 4 bursts; burst time " \
           "follows that share" in markdown
    assert "how they arrive: C clients arriving at once, 3 back-to-back bursts, keep-alive" \
        in markdown
    assert "**Arrival (clients):** C clients arriving at once" in markdown
    html = report.render_html(summary, manifest, svgs)
    assert "<table class=\"bursts\">" in html and "57 to 108 of 200" in html


def test_the_answer_names_the_arrival(run: tuple[dict[str, Any], dict[str, Any]]) -> None:
    summary, manifest = run
    markdown = report.render_markdown(summary, manifest, {})
    opening = markdown.split("\n\n")[1]
    assert "concurrent clients (100 clients arriving at once, 3 back-to-back bursts, " \
           "keep-alive; flask-gunicorn serves 8 at a time)" in opening


def test_the_arrival_text_says_what_a_sweep_varies() -> None:
    config = {"arrival": {"mode": "sustained", "gap_ms": 0, "connection": "keep-alive",
                          "ramp_ms": 0, "duration_s": 10.0, "warmup_s": 1.0},
              "bursts_per_trial": 3,
              "sweep": {"param": "gap_ms", "stack": None,
                        "second": {"param": "connection", "stack": None}}}
    assert arrival_text(config) == ("C keep-alive connections sending back to back for 10 s "
                                    "(steady window from 1 s); the sweep varies gap_ms and "
                                    "connection (each variant's name says its value)")
    assert arrival_text({"arrival": None}) is None
    assert arrival_text({"arrival": {"mode": "bursts", "gap_ms": -3}}) is None
