"""The Database upstream section: rows, model line, figure, and absence on the mock."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.report.database import database_section, family, pool_figure, pool_rows
from harness.report.figures import make_figures
from harness.report.render import render_markdown


def _config(query: str = "sleep") -> dict[str, Any]:
    stacks = {
        "fastapi-uvicorn-pg": {"workers": 2, "pool_size": 10},
        "fastapi-uvicorn-pg[pool_size=50]": {"workers": 2, "pool_size": 50},
    }
    return {"upstream": {"kind": "postgres", "query": query, "database_url": None},
            "delay_ms": 100, "stacks": stacks, "stack_order": list(stacks)}


def _summary() -> dict[str, Any]:
    def cell(stack: str, level: int, mean: float) -> dict[str, Any]:
        return {"scenario": "clients", "metric": "throughput_rps", "stack": stack,
                "level": level, "mean": mean, "sd": 1.0}
    return {"cells": [cell("fastapi-uvicorn-pg", 20, 150.0), cell("fastapi-uvicorn-pg", 400, 190.0),
                      cell("fastapi-uvicorn-pg[pool_size=50]", 400, 700.0)]}


def test_rows_at_the_highest_level_beside_the_pool_line() -> None:
    rows = pool_rows(_summary(), _config())
    assert [(r["family"], r["connections"], r["level"], r["measured"]) for r in rows] == [
        ("fastapi-uvicorn-pg", 20, 400, 190.0), ("fastapi-uvicorn-pg", 100, 400, 700.0)]
    assert [r["model"] for r in rows] == [pytest.approx(200.0), pytest.approx(1000.0)]
    assert rows[0]["share"] == pytest.approx(0.95)


def test_the_read_query_has_no_model_line() -> None:
    rows = pool_rows(_summary(), _config("read"))
    assert [r["model"] for r in rows] == [None, None]


def test_no_section_and_no_figure_on_the_mock() -> None:
    manifest = {"config": {**_config(), "upstream": {"kind": "mock"}}}
    assert database_section(_summary(), manifest, {}) is None
    assert pool_figure(_summary(), manifest) is None
    assert family("a[pool_size=5]") == "a"


def test_the_figure_draws_one_line_per_stack_and_the_model() -> None:
    fig = pool_figure(_summary(), {"config": _config()})
    assert fig is not None
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "pool model (connections / query time)" in labels


def test_the_report_renders_the_section_from_a_postgres_run() -> None:
    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "report"
    summary = json.loads((fixtures / "summary.json").read_text(encoding="utf-8"))
    manifest = json.loads((fixtures / "manifest.json").read_text(encoding="utf-8"))
    plain = render_markdown(summary, manifest, {})
    assert "## Database upstream" not in plain
    config = manifest["config"]
    top = max(c["level"] for c in summary["cells"] if c["scenario"] == "clients")
    manifest = {**manifest, "config": {**config, "upstream": {"kind": "postgres",
                                                              "query": "sleep",
                                                              "database_url": None}}}
    svgs = make_figures(summary, manifest)
    assert "database_pool" in svgs
    text = render_markdown(summary, manifest, {n: f"figures/{n}.svg" for n in svgs})
    section = text.split("## Database upstream", 1)[1].split("\n## ", 1)[0]
    assert "![Database upstream" in section and "(figures/database_pool.svg)" in section
    for name in config["stack_order"]:
        if config["stacks"][name]["kind"] == "production":
            assert f"| {name} | " in section and f" | {top} | " in section
