"""The command line: a function from argv to an exit code.

Only this module prints errors and chooses exit codes: 0 success, 1 a check or
comparison failed, 2 bad input, 130 interrupted (SIGINT), 143 terminated (SIGTERM).
"""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import NoReturn

from harness import __version__, cli_calibrate
from harness.config import TARGETS, Config
from harness.configfile import load_config
from harness.errors import AsyncbenchError, ConfigError, RunDirError, StackError

DEFAULT_CONFIG = Path("configs/default.toml")


class Terminated(BaseException):
    """Raised in the main thread on SIGTERM so that every context manager unwinds."""


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"asyncbench: error: {message} (see --help)\n")


@contextmanager
def _sigterm_raises() -> Iterator[None]:
    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _out(text: str = "") -> None:
    print(text, flush=True)


def _err(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _config_arg(parser: argparse.ArgumentParser, default: Path | None = DEFAULT_CONFIG) -> None:
    parser.add_argument("--config", type=Path, default=default,
                        help=f"experiment config (TOML), default {default}")


def _load(args: argparse.Namespace) -> Config:
    return load_config(args.config)


# --- check ----------------------------------------------------------------------------

def cmd_check(args: argparse.Namespace) -> int:
    """Start every configured stack, run the contract against it, stop it."""
    from harness.contract import check_contract
    from harness.stacks import open_stack
    from harness.targets import target_details

    config = _load(args)
    target_details(config)  # a target that cannot be used ends here, with one line
    failures = 0
    for spec in config.stacks:
        try:
            with open_stack(config, spec) as handle:
                results = check_contract(handle.base_url, spec.name)
        except StackError as exc:
            failures += 1
            _out(f"FAIL {spec.name:<26} {exc}")
            if args.verbose:
                _out(exc.details())
            continue
        bad = [r for r in results if not r.ok]
        if bad:
            failures += 1
            _out(f"FAIL {spec.name:<26} " + "; ".join(f"{r.name}: {r.detail}" for r in bad))
        else:
            _out(f"ok   {spec.name:<26} healthy; {len(results)} contract checks passed "
                 f"({spec.server} {spec.worker_class}, {spec.workers} workers)")
    total = len(config.stacks)
    _out(f"{total - failures}/{total} stacks passed the contract check")
    return 0 if failures == 0 else 1


# --- run ------------------------------------------------------------------------------

class RichProgress:
    """The runner's progress as a rich progress bar with an ETA, on stderr."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.console = Console(stderr=True)
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                            TimeRemainingColumn(), TextColumn("{task.fields[last]}"),
                            console=self.console, transient=False)
        self.task: object = None

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def start(self, total: int) -> None:
        self.task = self.bar.add_task("trials", total=total, last="")

    def extend(self, total: int) -> None:
        task = self.bar.tasks[0]
        self.bar.update(task.id, total=(task.total or 0) + total)

    def advance(self, record: dict[str, object]) -> None:
        task = self.bar.tasks[0]
        label = f"{record['trial_id']} {record['status']}"
        self.bar.update(task.id, advance=1, last=label)

    def note(self, message: str) -> None:
        self.bar.console.log(message)


def _print_summary(run_dir: Path) -> None:
    from harness.rundir import load_run
    from harness.summary import summarise
    from harness.tables import render_tables

    summary = summarise(load_run(run_dir))
    _out(render_tables(summary))


def cmd_run(args: argparse.Namespace) -> int:
    """Run the configured matrix into a new run folder and print the tables."""
    from harness.configfile import with_overrides
    from harness.runner import resume_run, start_run

    if args.resume is not None:
        with RichProgress() as progress:
            outcome = resume_run(args.resume, progress)
    else:
        config = with_overrides(_load(args), rounds=args.rounds, seed=args.seed,
                                max_rounds=args.max_rounds, target_ci=args.target_ci,
                                target=args.target)
        if args.min_rounds is not None:
            config = with_overrides(config, rounds=args.min_rounds)
        with RichProgress() as progress:
            outcome = start_run(config, args.out, progress, argv=args.argv)
    _out(f"run folder: {outcome.run_dir}")
    _out(f"stopped: {outcome.stop_reason}")
    counts = outcome.counts
    _out(f"trials: {counts['ok']} ok, {counts['failed']} failed, {counts['invalid']} invalid")
    _print_summary(outcome.run_dir)
    if not args.no_report:
        _render_report(outcome.run_dir)
    return 0


def _render_report(run_dir: Path) -> None:
    from harness.report import write_report
    from harness.rundir import load_run
    from harness.summary import summarise

    run = load_run(run_dir)
    paths = write_report(run_dir, summarise(run), run.manifest)
    for path in paths:
        if path.suffix in (".md", ".html"):
            _out(f"report: {path}")


def newest_run(root: Path) -> Path:
    """The most recent run folder under ``root`` (by name, which starts with the time)."""
    runs = sorted(p for p in root.glob("*/manifest.json") if p.parent.name != "example")
    if not runs:
        raise RunDirError(f"{root}: no run folder found; run `make bench` first or name one")
    return runs[-1].parent


def cmd_stats(args: argparse.Namespace) -> int:
    """Print the statistics of a run folder."""
    import json

    from harness.rundir import load_run
    from harness.summary import summarise
    from harness.tables import render_tables

    run = load_run(args.run_dir or newest_run(args.results))
    for line_no, reason in run.skipped_lines:
        _err(f"asyncbench: warning: {run.path / 'trials.jsonl'}:{line_no}: skipped ({reason})")
    if args.baseline is not None and args.baseline not in {t["stack"] for t in run.trials}:
        raise RunDirError(f"{run.path}: --baseline {args.baseline!r} is not a stack of this run")
    summary = summarise(run, baseline=args.baseline)
    if args.json:
        _out(json.dumps(summary, indent=2, sort_keys=True))
    else:
        _out(render_tables(summary))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    """Render a run's report from its files."""
    _render_report(args.run_dir or newest_run(args.results))
    return 0


# --- rerun, compare, publish, verify ---------------------------------------------------

def cmd_rerun(args: argparse.Namespace) -> int:
    """Run one recorded trial again K times on a fresh stack; print original against reruns."""
    from harness import rerun
    from harness.metrics import HEADLINE_METRICS, level_label

    target = rerun.load_target(args.run_dir, args.trial_id)
    identity = rerun.current_identity()
    for warning in rerun.environment_warnings(target.manifest, identity):
        _err(f"asyncbench: warning: {warning}")
    trial = target.trial
    _out(f"rerunning {target.trial_id} ({trial.scenario} {level_label(trial.scenario, trial.level)}"
         f", {trial.stack}, delay {trial.params.get('delay_ms')} ms) {args.repeat} times "
         "on a freshly started stack")
    headline = HEADLINE_METRICS.get(trial.scenario, "")

    def show(record: dict[str, object]) -> None:
        metrics = record.get("metrics")
        value = metrics.get(headline) if isinstance(metrics, dict) else None
        shown = f" {headline} = {value:.6g}" if isinstance(value, int | float) else ""
        error = f" ({record['error']})" if record.get("error") else ""
        _out(f"  {record['trial_id']}: {record['status']}{shown}{error}")

    outcome = rerun.run_reruns(target, args.repeat, identity=identity, on_record=show)
    _out(f"records: {outcome.records_path}")
    _out()
    _out(rerun.render_comparison(outcome.comparison))
    _out()
    _out(rerun.agreement_sentence(outcome.comparison))
    for error in outcome.comparison.rerun_errors:
        _err(f"asyncbench: warning: a rerun was not ok: {error}")
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Compare run B with run A per cell and metric; optionally fail on a regression."""
    import json

    from harness.compare import compare_runs, describe_regression, render_table, to_json
    from harness.rundir import load_run

    runs = [load_run(args.run_a), load_run(args.run_b)]
    for run in runs:
        for line_no, reason in run.skipped_lines:
            _err(f"asyncbench: warning: {run.path / 'trials.jsonl'}:{line_no}: skipped ({reason})")
    comparison = compare_runs(*runs)
    for warning in comparison.warnings:
        _err(f"asyncbench: warning: {warning}")
    pct = args.fail_on_regression
    if args.json:
        _out(json.dumps(to_json(comparison, pct), indent=2, sort_keys=True, allow_nan=False))
    else:
        _out(render_table(comparison))
    if pct is None:
        return 0
    regressions = comparison.regressions(pct)
    say = _err if args.json else _out
    if not regressions:
        say(f"no metric is significantly worse by more than {pct:g}%")
        return 0
    say(f"{len(regressions)} metric(s) significantly worse by more than {pct:g}%:")
    for row in regressions:
        say(f"  REGRESSION {describe_regression(row)}")
    return 1


def cmd_publish(args: argparse.Namespace) -> int:
    """Write a run folder as a deterministic tar.gz bundle with SHA256SUMS."""
    from harness.bundle import publish

    published = publish(args.run_dir, args.out)
    if published.rendered_report:
        _out(f"report rendered into {args.run_dir} (it was missing)")
    for warning in published.warnings:
        _err(f"asyncbench: warning: {warning}")
    _out(f"bundle: {published.path}")
    _out(f"{len(published.members)} files under {published.run_id}/, "
         f"sha256 {published.sha256}")
    return 0


def cmd_verify(args: argparse.Namespace) -> int:
    """Check a bundle against its SHA256SUMS and its own records."""
    from harness.bundle import verify

    result = verify(args.bundle)
    if result.ok:
        _out(f"ok: {result.files_verified} files verified")
        return 0
    for problem in result.problems:
        _out(problem)
    _err(f"asyncbench: {args.bundle}: verification failed ({len(result.problems)} problem(s))")
    return 1


# --- parser -----------------------------------------------------------------------------

Command = Callable[[argparse.Namespace], int]


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of every subcommand."""
    parser = _Parser(prog="asyncbench", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"asyncbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("check", help="start every stack and check the app contract")
    _config_arg(p)
    p.add_argument("-v", "--verbose", action="store_true", help="show failing commands' output")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("run", help="run the benchmark matrix into a new run folder")
    _config_arg(p)
    p.add_argument("--rounds", type=_positive_int,
                   help="rounds to run (the minimum, with --target-ci)")
    p.add_argument("--min-rounds", type=_positive_int, help="same as --rounds")
    p.add_argument("--max-rounds", type=_positive_int, help="most rounds with --target-ci")
    p.add_argument("--target-ci", type=_fraction, help="add rounds until every headline "
                   "speedup's CI half-width is at most this fraction of the ratio (e.g. 0.05)")
    p.add_argument("--seed", type=_nonneg_int, help="seed of the trial order (default: config)")
    p.add_argument("--out", type=Path, default=Path("results"),
                   help="results root (default results/)")
    p.add_argument("--no-report", action="store_true", help="do not render the report at the end")
    p.add_argument("--target", choices=TARGETS, help="where the stacks run: local processes "
                   "(the default), compose (docker-compose.yml on this machine's Docker "
                   "engine) or external (servers already running, URLs in [external])")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="continue an interrupted run from its records (other options ignored)")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("stats", help="print a run's statistics (tables, or --json summary)")
    p.add_argument("run_dir", type=Path, nargs="?", help="run folder (default: the newest)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--baseline", metavar="STACK",
                   help="compare every stack against this one instead of the run's baseline")
    p.add_argument("--results", type=Path, default=Path("results"), help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_stats)

    p = sub.add_parser("report", help="render a run's Markdown and HTML report")
    p.add_argument("run_dir", type=Path, nargs="?", help="run folder (default: the newest)")
    p.add_argument("--results", type=Path, default=Path("results"), help=argparse.SUPPRESS)
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("rerun", help="run one recorded trial again K times and compare")
    p.add_argument("run_dir", type=Path, help="run folder holding the trial")
    p.add_argument("trial_id", help="the trial to rerun, e.g. r002-flask-gunicorn-fanout-5")
    p.add_argument("--repeat", type=_positive_int, default=5, metavar="K",
                   help="how many times to run it (default 5)")
    p.set_defaults(func=cmd_rerun)

    p = sub.add_parser("compare", help="compare run B with run A (ratio > 1: B is better)")
    p.add_argument("run_a", type=Path, help="the reference run folder")
    p.add_argument("run_b", type=Path, help="the run folder compared with it")
    p.add_argument("--fail-on-regression", type=_percent, metavar="PCT",
                   help="exit 1 when a metric is significantly worse in B by more than PCT%%")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON")
    p.set_defaults(func=cmd_compare)

    p = sub.add_parser("publish", help="write a run folder as a deterministic tar.gz bundle")
    p.add_argument("run_dir", type=Path, help="run folder to publish")
    p.add_argument("--out", type=Path, help="bundle file or folder "
                   "(default: <run_id>.tar.gz beside the run folder)")
    p.set_defaults(func=cmd_publish)

    p = sub.add_parser("verify", help="check a published bundle against its SHA256SUMS")
    p.add_argument("bundle", type=Path, help="the .tar.gz bundle")
    p.set_defaults(func=cmd_verify)

    cli_calibrate.register(sub)
    return parser


def _positive_int(text: str) -> int:
    value = _nonneg_int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive integer")
    return value


def _nonneg_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def _number_in(low: float, high: float, what: str) -> Callable[[str], float]:
    """An argparse type: a number in [low, high)."""
    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if not low <= value < high:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return parse


_fraction = _number_in(0, 1, "in [0, 1)")
_percent = _number_in(0, 100, "a percentage in [0, 100)")


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 2
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    func: Command | None = getattr(args, "func", None)
    if func is None:
        parser.print_help()
        return 2
    try:
        with _sigterm_raises():
            return func(args)
    except ConfigError as exc:
        _err(f"asyncbench: config error: {exc}")
        return 2
    except AsyncbenchError as exc:
        _err(f"asyncbench: {exc}")
        return 2 if not isinstance(exc, StackError) else 1
    except KeyboardInterrupt:
        _err("asyncbench: interrupted")
        return 130
    except Terminated:
        _err("asyncbench: terminated")
        return 143
    except BrokenPipeError:
        return 1
    except OSError as exc:  # a file the run needs cannot be written or read
        where = f" ({exc.filename})" if exc.filename else ""
        _err(f"asyncbench: {exc.strerror or exc}{where}")
        return 1
