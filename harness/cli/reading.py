"""The commands that read run folders and bundles: ``stats``, ``report``, ``compare``,
``publish`` (``verify`` is in ``verifying``). None of them starts a server."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from harness.analyse.compare import (
    compare_runs,
    describe_regression,
    render_markdown,
    render_table,
    threshold_words,
    to_json,
)
from harness.analyse.summary import summarise
from harness.cli.common import err, newest_run, out, warn_skipped
from harness.errors import RunDirError
from harness.report.bundle import publish
from harness.report.precision import render_precision
from harness.report.render import render_run_report
from harness.report.tables import render_tables
from harness.rundir.reader import load_run


def print_tables(run_dir: Path) -> None:
    """The tables of the original scripts, with intervals, for a run folder, and each
    headline cell's precision."""
    summary = summarise(load_run(run_dir))
    out(render_tables(summary))
    out(render_precision(summary))


def render_report(run_dir: Path) -> None:
    """Write the run's report and say where."""
    for path in render_run_report(run_dir):
        if path.suffix in (".md", ".html"):
            out(f"report: {path}")


def cmd_stats(args: argparse.Namespace) -> int:
    """Print the statistics of a run folder."""
    run = load_run(args.run_dir or newest_run(args.results))
    warn_skipped(run.path, run.skipped_lines)
    if args.baseline is not None and args.baseline not in {t["stack"] for t in run.trials}:
        raise RunDirError(f"{run.path}: --baseline {args.baseline!r} is not a stack of this run")
    summary = summarise(run, baseline=args.baseline)
    if args.json:
        out(json.dumps(summary, indent=2, sort_keys=True))
    else:
        out(render_tables(summary))
        out(render_precision(summary))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Render a run's report from its files."""
    render_report(args.run_dir or newest_run(args.results))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare run B with run A per cell and metric; optionally fail on a regression."""
    runs = [load_run(args.run_a), load_run(args.run_b)]
    for run in runs:
        warn_skipped(run.path, run.skipped_lines)
    comparison = compare_runs(*runs)
    for warning in comparison.warnings:
        err(f"asyncbench: warning: {warning}")
    pct = args.fail_on_regression
    if args.json:
        args.format = "json"
    if args.format == "json":
        data = to_json(comparison, pct, args.allow_missing)
        out(json.dumps(data, indent=2, sort_keys=True, allow_nan=False))
    elif args.format == "md":
        out(render_markdown(comparison))
    else:
        out(render_table(comparison))
    if pct is None:
        return 0
    failing = comparison.regressions(pct, args.allow_missing)
    say = err if args.format == "json" else out
    if not failing:
        say(f"gate passed: no metric is {threshold_words(pct)} (or worse on resources), "
            f"{len(comparison.rows)} rows checked")
        return 0
    say(f"gate failed: {len(failing)} row(s) {threshold_words(pct)}, missing or undecidable:")
    for row in failing:
        say(f"  FAIL {describe_regression(row)}")
    return 1


def cmd_publish(args: argparse.Namespace) -> int:
    """Write a run folder as a deterministic tar.gz bundle with SHA256SUMS."""
    published = publish(args.run_dir, args.out)
    if published.rendered_report:
        out(f"report rendered into {args.run_dir} (it was missing)")
    for warning in published.warnings:
        err(f"asyncbench: warning: {warning}")
    out(f"bundle: {published.path}")
    out(f"{len(published.members)} files under {published.run_id}/, "
        f"sha256 {published.sha256}")
    return 0
