"""The report: a run's statistics summary and manifest, rendered as Markdown and HTML.

Flow, one way::

    summary + manifest -> build_context (every default filled here, in Python)
        -> report_templates/report.{md,html}.j2 (Jinja, StrictUndefined) -> text
    write_report: figures.make_figures -> figures/*.svg, report.md, report.html

The summary (``harness.analyse.summary.summarise``'s dict) and the manifest are the only
inputs; nothing here reads trials, runs anything or prints.

How every printed value is escaped and rounded: ``harness.report.filters``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from markupsafe import Markup

from harness import safefs
from harness.analyse.summary import summarise
from harness.paths import project_relative
from harness.report.context import build_context
from harness.report.figures import CHART_NAMES, make_figures
from harness.report.filters import MdSafe, environment
from harness.rundir.format import FIGURES_DIR, REPORT_FILES
from harness.rundir.reader import load_run

MARKDOWN_TEMPLATE = "report.md.j2"
HTML_TEMPLATE = "report.html.j2"


def render_template(name: str, context: Mapping[str, Any]) -> str:
    """Render one template of report_templates/ with ``context`` (StrictUndefined)."""
    output = "html" if name.endswith((".html.j2", ".html")) else "markdown"
    return environment(output).get_template(name).render(context)


def render_markdown(summary: Mapping[str, Any], manifest: Mapping[str, Any],
                    figures: Mapping[str, str]) -> str:
    """The Markdown report; ``figures`` maps chart names to paths relative to report.md."""
    refs = {name: MdSafe(quote(path, safe="/._-")) for name, path in figures.items()}
    return render_template(MARKDOWN_TEMPLATE, build_context(summary, manifest, refs))


_PROLOG = re.compile(r"\A\s*(<\?xml[^>]*\?>\s*)?(<!DOCTYPE[^>]*>\s*)?", re.IGNORECASE)


def inline_svg(svg: str) -> Markup:
    """An SVG document made fit to inline in HTML: no XML prolog or DOCTYPE."""
    return Markup(_PROLOG.sub("", svg).strip())


def render_html(summary: Mapping[str, Any], manifest: Mapping[str, Any],
                svgs: Mapping[str, str]) -> str:
    """The self-contained HTML report; ``svgs`` maps chart names to SVG text (inlined)."""
    refs = {name: inline_svg(svg) for name, svg in svgs.items()}
    return render_template(HTML_TEMPLATE, build_context(summary, manifest, refs))


def _write(path: Path, text: str) -> Path:
    return safefs.write_atomic(path, text.encode("utf-8"))


def write_report(run_dir: Path, summary: Mapping[str, Any],
                 manifest: Mapping[str, Any]) -> list[Path]:
    """Write ``figures/*.svg``, ``report.md`` and ``report.html`` into ``run_dir``.

    Charts of an earlier rendering that this summary has no data for are removed.

    Returns:
        The paths written: the figures in report order, then report.md, report.html.
    """
    # The report's rerun/publish commands name the folder where the report is written.
    manifest = {**manifest, "run_dir": project_relative(str(run_dir), None)}
    svgs = make_figures(summary, manifest)
    fig_dir = safefs.ensure_dir(run_dir / FIGURES_DIR)  # never through a link
    for name in CHART_NAMES:  # a chart an earlier rendering drew but this one has no data for
        if name not in svgs:
            (fig_dir / f"{name}.svg").unlink(missing_ok=True)
    written = [_write(fig_dir / f"{name}.svg", svg) for name, svg in svgs.items()]
    paths = {name: f"{FIGURES_DIR}/{name}.svg" for name in svgs}
    markdown, html = REPORT_FILES
    written.append(_write(run_dir / markdown, render_markdown(summary, manifest, paths)))
    written.append(_write(run_dir / html, render_html(summary, manifest, svgs)))
    return written


def render_run_report(run_dir: Path) -> list[Path]:
    """Read the run folder, summarise it and write its report: :func:`write_report`."""
    run = load_run(run_dir)
    return write_report(run_dir, summarise(run), run.manifest)

