"""The report's Capacity section: knees, USL fits, Little's law and both charts, rendered
from a run folder's summary; absent from a run that has neither."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.analyse.summary import summarise
from harness.report.capacity import capacity_section
from harness.report.figures import make_figures
from harness.report.render import render_html, render_markdown
from harness.rundir.reader import load_run
from tests.unit.analyse.test_capacity import CAPACITY_CONFIG, sweep
from tests.unit.analyse.test_summary import ASYNC, BASE, clients, write_run


def capacity_run(folder: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    trials = (sweep(BASE, {40: 110.0, 60: 150.0, 90: 900.0})
              + sweep(ASYNC, {500: 105.0, 750: 110.0, 1125: 320.0}))
    for stack, top in ((BASE, 80.0), (ASYNC, 900.0)):
        for r in range(1, 4):
            for level in (1, 8, 64, 256):
                rps = min(level * 10.0, top) * (1 + 0.01 * r)
                trial = clients(f"r{r}-{stack}-clients-{level}", stack, level, rps, round_=r)
                trial["checks"] = {"server_cpus": [1], "little": {
                    "ratio": 0.5, "within": False, "measured": level / 2, "intended": level}}
                trial["resources"] = {"cpu_ms_per_request": 2.0 if stack == BASE else 1.0}
                trials.append(trial)
    run = load_run(write_run(folder, trials, config=CAPACITY_CONFIG))
    return summarise(run), run.manifest


def test_the_section_names_each_knee_and_fit(tmp_path: Path) -> None:
    summary, manifest = capacity_run(tmp_path / "run")
    svgs = make_figures(summary, manifest)
    assert {"capacity_latency", "capacity_usl"} <= set(svgs)
    markdown = render_markdown(summary, manifest, {name: f"figures/{name}.svg" for name in svgs})
    section = markdown.split("## Capacity", 1)[1].split("\n## ", 1)[0]
    assert "- flask-gunicorn gthread 2x4 keeps p99 under 2x the unloaded latency (100 ms)" in section
    assert "- quart-hypercorn keeps p99 under 2x" in section and "req/s \\[" in section
    assert "contention σ = " in section and "its model's bound: 8 slots / 100 ms = 80 req/s" in section
    assert "![Capacity: p99 latency against offered load" in section
    assert "| flask-gunicorn | 90 | 3 | 90.00 | 100% | 0% | 918.0 | no |" in section
    assert "| quart-hypercorn | 1,125 | 3 |" in section
    assert "| clients | quart-hypercorn | 12 of 12 | 0.500, 0.500 |" in section
    html = render_html(summary, manifest, svgs)
    assert '<section id="capacity">' in html and 'href="#capacity"' in html
    assert html.count("<svg") == len(svgs)


def test_no_section_without_a_sweep_or_a_fit() -> None:
    assert capacity_section({"capacity": [], "usl": []}, {}) is None
