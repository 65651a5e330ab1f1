"""The commands that read run folders and bundles: ``stats``, ``report``, ``compare``,
``publish``, ``verify``. None of them starts a server."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.analyse.compare import (
    compare_runs,
    describe_regression,
    render_markdown,
    render_table,
    threshold_words,
    to_json,
)
from harness.analyse.summary import summarise
from harness.cli.common import RESULTS, err, help_with, newest_run, out, percent, warn_skipped
from harness.errors import BundleError, RunDirError
from harness.report.bundle import publish
from harness.report.render import render_run_report
from harness.report.tables import render_tables
from harness.report.verify import verify
from harness.rundir.reader import load_run


def print_tables(run_dir: Path) -> None:
    """The tables of the original scripts, with intervals, for a run folder."""
    out(render_tables(summarise(load_run(run_dir))))


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


def cmd_verify(args: argparse.Namespace) -> int:
    """Check a bundle against its SHA256SUMS and its own records; print its sha256.

    A refused bundle (not gzip, a limit, a sparse, link or device member) exits 1 too.
    """
    try:
        result = verify(args.bundle)
    except BundleError as exc:
        err(f"asyncbench: {exc}")
        return 1
    out(f"sha256 {result.sha256}  {args.bundle}")
    if result.ok:
        out(f"ok: {result.files_verified} files verified (integrity only: compare the sha256 "
            "above with the one the publisher announced)")
        return 0
    for problem in result.problems:
        out(problem)
    err(f"asyncbench: {args.bundle}: verification failed ({len(result.problems)} problem(s))")
    return 1


def register(sub: Any) -> None:
    """Add the reading commands to ``sub`` (from ``add_subparsers``)."""
    p = sub.add_parser("stats", help="print a run's statistics (tables, or --json summary)",
                       **help_with("  python -m harness stats\n"
                                   "  python -m harness stats results/example --baseline "
                                   "quart-hypercorn\n"
                                   "  python -m harness stats results/example --json\n"))
    p.add_argument("run_dir", type=Path, nargs="?", help="run folder (default: the newest)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--baseline", metavar="STACK",
                   help="compare every stack against this one instead of the run's baseline")
    p.add_argument("--results", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("report", help="render a run's Markdown and HTML report",
                       **help_with("  python -m harness report\n"
                                   "  python -m harness report results/example\n"))
    p.add_argument("run_dir", type=Path, nargs="?", help="run folder (default: the newest)")
    p.add_argument("--results", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("compare", help="compare run B with run A (ratio > 1: B is better)",
                       **help_with("  python -m harness compare results/RUN_A results/RUN_B\n"
                                   "  python -m harness compare results/RUN_A results/RUN_B "
                                   "--format md\n"
                                   "  python -m harness compare results/RUN_A results/RUN_B "
                                   "--json\n"))
    p.add_argument("run_a", type=Path, help="the reference run folder")
    p.add_argument("run_b", type=Path, help="the run folder compared with it")
    p.add_argument("--fail-on-regression", type=percent, metavar="PCT",
                   help="exit 1 when B is significantly slower (or uses more CPU or memory) "
                        "by more than PCT%% (100: twice as slow), or a cell of A is missing, "
                        "has too few trials or no bounded interval in B")
    p.add_argument("--allow-missing", action="store_true",
                   help="with --fail-on-regression: let missing, insufficient and "
                        "undetermined cells pass")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON "
                   "(same as --format json)")
    p.add_argument("--format", choices=("text", "md", "json"), default="text",
                   help="text table (default), Markdown table, or JSON")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("publish", help="write a run folder as a deterministic tar.gz bundle",
                       **help_with("  python -m harness publish results/example\n"
                                   "  python -m harness publish results/example --out dist\n"))
    p.add_argument("run_dir", type=Path, help="run folder to publish")
    p.add_argument("--out", type=Path, help="bundle file or folder "
                   "(default: <run_id>.tar.gz beside the run folder)")
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("verify", help="check a published bundle against its SHA256SUMS",
                       **help_with("  python -m harness verify results/example.tar.gz\n"
                                   "  python -m harness verify dist/20261127-135220-quick.tar.gz"
                                   "\n"))
    p.add_argument("bundle", type=Path, help="the .tar.gz bundle")
    p.set_defaults(func=cmd_verify)
