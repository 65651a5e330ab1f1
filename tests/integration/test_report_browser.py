"""The HTML report in a real browser: loads nothing, logs no error, and is not blank.

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

from harness.report.render import write_report

CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "report"
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

    image = imread(str(shot))[..., :3]  # floats in [0, 1]
    height, width = image.shape[:2]
    assert width == VIEWPORT["width"] and height > 3 * VIEWPORT["height"]
    assert float(image.std()) > 0.05
    ink = float((image < 0.9).any(axis=-1).mean())
    assert 0.02 < ink < 0.6, f"fraction of non-white pixels is {ink:.3f}"
