"""A sweep's chart: the headline metric against the swept parameter, one line per level."""

from __future__ import annotations

from harness.report.figures import make_figures


def _cell(stack: str, level: int, mean: float) -> dict[str, object]:
    return {"scenario": "clients", "level": level, "stack": stack, "metric": "throughput_rps",
            "n": 3, "mean": mean, "median": mean, "sd": mean * 0.05, "min": mean, "max": mean}


def test_sweep_chart_plots_every_variant_and_level() -> None:
    variants = {"flask-gunicorn[threads=2]": 2, "flask-gunicorn[threads=8]": 8,
                "flask-gunicorn[threads=32]": 32}
    cells = [_cell(name, c, value * c / 10) for name, value in variants.items() for c in (10, 200)]
    cells += [_cell("quart-hypercorn", c, 90.0 * c / 10) for c in (10, 200)]
    summary = {"baseline": "quart-hypercorn", "confidence": 0.95, "cells": cells,
               "speedups": [], "latency": [], "model": []}
    manifest = {"config": {"sweep": {"stack": "flask-gunicorn", "param": "threads",
                                     "values": [2, 8, 32], "variants": variants},
                           "stack_order": [*variants, "quart-hypercorn"]}}
    svgs = make_figures(summary, manifest)
    assert "clients_sweep" in svgs
    svg = svgs["clients_sweep"]
    assert "flask-gunicorn: threads" in svg and "C=10" in svg and "C=200" in svg
    assert "fanout_sweep" not in svgs  # no fanout cells
    without = make_figures(summary, {"config": {"sweep": None}})
    assert "clients_sweep" not in without
