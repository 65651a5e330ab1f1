"""The HTML report in a real browser: loads nothing, logs no error, and is not blank; its
summary table is coloured by verdict; and the figures of a one-level run keep their scale
(tick labels on every axis) with no legend over a label.

Uses Debian's Chromium (``/usr/bin/chromium``) through playwright; playwright's own
browser download is not used. The full-page screenshot is kept in ``tmp_path`` and
copied to ``/tmp/report_screenshot.png`` for a human to look at.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest
from matplotlib.image import imread
from playwright.sync_api import ConsoleMessage, Request, ViewportSize, sync_playwright

from harness.analyse.summary import summarise
from harness.report.render import write_report
from harness.rundir.reader import Run, load_run

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "report"
EXAMPLE = Path(__file__).resolve().parents[2] / "results" / "example"
SCREENSHOT_COPY = Path("/tmp/report_screenshot.png")
VIEWPORT: ViewportSize = {"width": 1280, "height": 900}

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists(),
    reason="needs Debian's Chromium at /usr/bin/chromium (apt-get install -y chromium)")


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def test_report_renders_offline_without_errors(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    run_dir.mkdir()  # a run folder exists before its report: write_report creates no parents
    written = write_report(run_dir, load("summary.json"), load("manifest.json"))
    n_figures = sum(1 for p in written if p.suffix == ".svg")
    shot = tmp_path / "report.png"
    errors: list[str] = []
    foreign: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    def on_request(request: Request) -> None:
        if not request.url.startswith(("file://", "data:")):
            foreign.append(request.url)

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.on("console", on_console)
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.on("request", on_request)
            page.goto((run_dir / "report.html").as_uri(), wait_until="load")
            figures = page.eval_on_selector_all(
                "figure svg", "els => els.map(e => [e.getBoundingClientRect().width,"
                                                  " e.getBoundingClientRect().height])")
            clipped = page.eval_on_selector_all(
                ".table-wrap", "els => els.filter(e => e.scrollWidth > e.clientWidth + 1)"
                               ".map(e => e.querySelector('caption, thead')?.textContent)")
            page_width = page.evaluate("document.documentElement.scrollWidth")
            tones = page.eval_on_selector_all(
                "table.overview td[class*=verdict-]",
                "els => els.map(e => [e.className, getComputedStyle(e).backgroundColor])")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()

    shutil.copyfile(shot, SCREENSHOT_COPY)
    assert errors == []
    assert foreign == []
    assert len(figures) == n_figures == 5
    assert all(width > 300 and height > 150 for width, height in figures), figures
    assert page_width <= VIEWPORT["width"]
    assert clipped == [], f"tables wider than the page at {VIEWPORT['width']} px: {clipped}"
    # The summary table: one coloured cell per headline comparison of a production stack,
    # one colour per verdict tone, and the tones told apart.
    summary = load("summary.json")
    assert len(tones) == sum(1 for e in summary["speedups"]
                             if e["headline"] and e["stack"] != "flask-dev")
    colour_of = {cls.split("verdict-")[1]: colour for cls, colour in tones}
    assert len(colour_of) >= 2  # the fixture holds faster, slower and no-verdict cells
    assert len(set(colour_of.values())) == len(colour_of)
    assert all(colour_of[cls.split("verdict-")[1]] == colour for cls, colour in tones)

    image = imread(str(shot))[..., :3]  # floats in [0, 1]
    height, width = image.shape[:2]
    assert width == VIEWPORT["width"] and height > 3 * VIEWPORT["height"]
    assert float(image.std()) > 0.05
    ink = float((image < 0.9).any(axis=-1).mean())
    assert 0.02 < ink < 0.6, f"fraction of non-white pixels is {ink:.3f}"


# Per figure: the axis-aligned boxes of its tick labels and of its legends' texts.
LABEL_BOXES = """els => els.map(svg => {
  const box = e => { const r = e.getBoundingClientRect(); return [r.left, r.top, r.right, r.bottom]; };
  const texts = sel => Array.from(svg.querySelectorAll(sel)).filter(t => t.textContent.trim()).map(box);
  return {id: svg.closest('figure').id,
          x: texts('g[id*="-xtick_"] text'), y: texts('g[id*="-ytick_"] text'),
          legend: texts('g[id*="-legend_"] text')};
})"""


def _overlap(a: list[float], b: list[float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_a_one_level_runs_figures_keep_their_scale(tmp_path: Path) -> None:
    """One level per scenario (N = 10, C = 50) and two stacks: every figure shows its tick
    labels, on every axis, and no legend text lies over one."""
    run = load_run(EXAMPLE)
    trials = [t for t in run.trials if t["level"] in (10, 50)
              and t["stack"] in ("flask-gunicorn", "fastapi-uvicorn")]
    run_dir = tmp_path / "example"
    run_dir.mkdir()
    written = write_report(run_dir, summarise(Run(run.path, run.manifest, trials)), run.manifest)
    n_figures = sum(1 for p in written if p.suffix == ".svg")
    errors: list[str] = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.on("pageerror", lambda exc: errors.append(f"page error: {exc}"))
            page.goto((run_dir / "report.html").as_uri(), wait_until="load")
            figures = page.eval_on_selector_all("figure svg", LABEL_BOXES)
            page.screenshot(path=str(tmp_path / "one-level.png"), full_page=True)
        finally:
            browser.close()
    assert errors == []
    assert len(figures) == n_figures >= 4
    for fig in figures:
        assert len(fig["x"]) >= 1 and len(fig["y"]) >= 2, fig["id"]
        for legend in fig["legend"]:
            for label in fig["x"] + fig["y"]:
                assert not _overlap(legend, label), (fig["id"], legend, label)
