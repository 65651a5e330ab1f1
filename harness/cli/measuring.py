"""The commands that start servers and measure: ``check``, ``run``, ``rerun``, ``calibrate``."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from harness.analyse.metrics import HEADLINE_METRICS, level_label, metric_title
from harness.cli.common import (
    RESULTS,
    config_arg,
    err,
    fraction,
    help_with,
    name_list,
    nonneg_int,
    out,
    positive_float,
    positive_int,
    scenario_levels,
)
from harness.cli.reading import print_tables, render_report
from harness.config.load import load_config, with_overrides, with_query, with_selection
from harness.config.schema import TARGETS, Config
from harness.config.upstream import QUERY_KINDS
from harness.errors import RunDirError, StackError
from harness.measure import rerun
from harness.measure.calibrate import calibration_lines, run_calibration, save_calibration
from harness.measure.plan import skipped
from harness.measure.runner import recorded_config, resume_point, resume_run, start_run
from harness.rundir.format import MANIFEST_NAME
from harness.targets import network_summary, open_stack, target_details
from harness.targets.contract import check_contract, check_own_app


def cmd_check(args: argparse.Namespace) -> int:
    """Start every configured stack, run the contract against it, stop it."""
    config = load_config(args.config)
    target_details(config)  # a target that cannot be used ends here, with one line
    failures = 0
    for spec in config.stacks:
        try:
            with open_stack(config, spec) as handle:
                results = (check_own_app(handle.base_url, spec) if spec.own
                           else check_contract(handle.base_url, spec.name))
        except StackError as exc:
            failures += 1
            out(f"FAIL {spec.name:<26} {exc}")
            if args.verbose:
                out(exc.details())
            continue
        bad = [r for r in results if not r.ok]
        if bad:
            failures += 1
            out(f"FAIL {spec.name:<26} " + "; ".join(f"{r.name}: {r.detail}" for r in bad))
        else:
            out(f"ok   {spec.name:<26} healthy; {len(results)} contract checks passed "
                f"({f'{spec.server} {spec.worker_class}' if spec.server else 'own command'}, "
                f"{spec.workers} workers)")
    total = len(config.stacks)
    out(f"{total - failures}/{total} stacks passed the contract check")
    return 0 if failures == 0 else 1


class RichProgress:
    """The runner's progress as a rich progress bar with an ETA, on stderr."""

    def __init__(self) -> None:
        self.console = Console(stderr=True)
        self.bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(),
                            MofNCompleteColumn(), TimeElapsedColumn(), TextColumn("ETA"),
                            TimeRemainingColumn(), TextColumn("{task.fields[last]}"),
                            console=self.console, transient=False)

    def __enter__(self) -> RichProgress:
        self.bar.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.bar.stop()

    def start(self, total: int) -> None:
        """A bar of ``total`` trials."""
        self.bar.add_task("trials", total=total, last="")

    def extend(self, total: int) -> None:
        """``total`` more trials (an adaptive run added a round)."""
        task = self.bar.tasks[0]
        self.bar.update(task.id, total=(task.total or 0) + total)

    def advance(self, record: dict[str, Any]) -> None:
        """One trial ended."""
        task = self.bar.tasks[0]
        self.bar.update(task.id, advance=1, last=f"{record['trial_id']} {record['status']}")

    def note(self, message: str) -> None:
        """A line above the bar."""
        self.bar.console.log(message)


def announce_network(config: Config, run_dir: Path, allow_remote: bool) -> None:
    """Print where a recorded run would bind and send requests; refuse to reach beyond
    loopback without ``--allow-remote`` (a run folder may be someone else's)."""
    lines, reasons = network_summary(config)
    for line in lines:
        out(line)
    if reasons and not allow_remote:
        raise RunDirError(f"{run_dir / MANIFEST_NAME}: refusing: {'; '.join(reasons)}; pass "
                          "--allow-remote if you trust this run folder")


def cmd_run(args: argparse.Namespace) -> int:
    """Run the configured matrix into a new run folder and print the tables."""
    if args.resume is not None:
        announce_network(recorded_config(args.resume), args.resume, args.allow_remote)
        point = resume_point(args.resume)  # a refusal comes before the progress bar
        with RichProgress() as progress:
            outcome = resume_run(args.resume, progress, point)
    else:
        levels: dict[str, list[int]] | None = None
        if args.levels:
            levels = {}
            for scenario, values in args.levels:
                levels.setdefault(scenario, []).extend(values)
        config = with_selection(load_config(args.config), args.stacks, levels)
        config = with_overrides(config, rounds=args.rounds, seed=args.seed,
                                max_rounds=args.max_rounds, target_ci=args.target_ci,
                                target=args.target, delay_ms=args.delay_ms)
        for item in skipped(config):
            err(f"asyncbench: note: {item['scenario']} skipped on {item['stack']}: "
                f"{item['reason']}")
        if args.min_rounds is not None:
            config = with_overrides(config, rounds=args.min_rounds)
        if args.query is not None:
            config = with_overrides(config, upstream=with_query(config.upstream, args.query))
        with RichProgress() as progress:
            outcome = start_run(config, args.out, progress, argv=args.argv)
    out(f"run folder: {outcome.run_dir}")
    out(f"stopped: {outcome.stop_reason}")
    counts = outcome.counts
    out(f"trials: {counts['ok']} ok, {counts['failed']} failed, {counts['invalid']} invalid")
    print_tables(outcome.run_dir)
    if not args.no_report:
        render_report(outcome.run_dir)
    return 0


def cmd_rerun(args: argparse.Namespace) -> int:
    """Run one recorded trial again K times on a fresh stack; print original against reruns."""
    target = rerun.load_target(args.run_dir, args.trial_id)
    announce_network(target.config, args.run_dir, args.allow_remote)
    identity = rerun.current_identity()
    for warning in rerun.environment_warnings(target.manifest, identity):
        err(f"asyncbench: warning: {warning}")
    trial = target.trial
    out(f"rerunning {target.trial_id} ({trial.scenario} {level_label(trial.scenario, trial.level)}"
        f", {trial.stack}, delay {trial.params.get('delay_ms')} ms) {args.repeat} times "
        "on a freshly started stack")
    headline = HEADLINE_METRICS.get(trial.scenario, "")

    def show(record: dict[str, Any]) -> None:
        metrics = record.get("metrics")
        value = metrics.get(headline) if isinstance(metrics, dict) else None
        shown = (f" {metric_title(headline)} = {value:.6g}" if isinstance(value, int | float)
                 else "")
        error = f" ({record['error']})" if record.get("error") else ""
        out(f"  {record['trial_id']}: {record['status']}{shown}{error}")

    outcome = rerun.run_reruns(target, args.repeat, identity=identity, on_record=show)
    out(f"records: {outcome.records_path}")
    out()
    out(rerun.render_comparison(outcome.comparison))
    out()
    out(rerun.agreement_sentence(outcome.comparison))
    for error in outcome.comparison.rerun_errors:
        err(f"asyncbench: warning: a rerun was not ok: {error}")
    return 0


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Measure the load generator, the mock upstream and (if installed) wrk; save and print."""
    def note(step: str) -> None:
        if not args.json:
            print(f"... {step}", file=sys.stderr, flush=True)

    data = run_calibration(seconds=args.seconds, samples=args.samples,
                           concurrency=args.concurrency, use_wrk=not args.no_wrk, note=note)
    path = None if args.no_save else save_calibration(args.out, data)
    if args.json:
        out(json.dumps(data, indent=2, sort_keys=True))
        return 0
    for line in calibration_lines(data):
        out(line)
    if path is not None:
        out(f"calibration: {path}")
    return 0


def allow_remote_arg(parser: argparse.ArgumentParser) -> None:
    """``--allow-remote``: obey a recorded non-loopback host or non-local target."""
    parser.add_argument("--allow-remote", action="store_true",
                        help="with a recorded run folder: allow a non-loopback [run] host or a "
                             "compose or external target (refused otherwise)")


def register(sub: Any) -> None:
    """Add the measuring commands to ``sub`` (from ``add_subparsers``)."""
    p = sub.add_parser("check", help="start every stack and check the app contract", **help_with(
        "  python -m harness check --config configs/quick.toml\n"
        "  python -m harness check --config examples/falcon/asyncbench.toml -v\n"))
    config_arg(p)
    p.add_argument("-v", "--verbose", action="store_true", help="show failing commands' output")
    p.set_defaults(func=cmd_check)

    p = sub.add_parser("run", help="run the benchmark matrix into a new run folder", **help_with(
        "  python -m harness run --config configs/quick.toml\n"
        "  python -m harness run --stacks flask-gunicorn,fastapi-uvicorn --levels fanout=1,5 "
        "--levels clients=10,50 --delay-ms 50 --rounds 3\n"
        "  python -m harness run --config examples/falcon/asyncbench.toml --rounds 2\n"))
    config_arg(p)
    p.add_argument("--stacks", type=name_list, metavar="A,B",
                   help="measure these stacks (built-in or the config's; see `stacks`); the "
                        "baseline is the config's if listed, else the first")
    p.add_argument("--levels", type=scenario_levels, action="append", metavar="SCENARIO=L,L",
                   help="run this scenario at these levels, e.g. fanout=1,5 (repeat for "
                        "others); only the scenarios given run")
    p.add_argument("--delay-ms", type=nonneg_int, help="upstream delay per call, ms "
                   "(default: config)")
    p.add_argument("--rounds", type=positive_int,
                   help="rounds to run (the minimum, with --target-ci)")
    p.add_argument("--min-rounds", type=positive_int, help="same as --rounds")
    p.add_argument("--max-rounds", type=positive_int, help="most rounds with --target-ci")
    p.add_argument("--target-ci", type=fraction, help="add rounds until every headline "
                   "speedup's CI half-width is at most this fraction of the ratio (e.g. 0.05)")
    p.add_argument("--seed", type=nonneg_int, help="seed of the trial order (default: config)")
    p.add_argument("--out", type=Path, default=RESULTS, help="results root (default results/)")
    p.add_argument("--no-report", action="store_true", help="do not render the report at the end")
    p.add_argument("--target", choices=TARGETS, help="where the stacks run: local processes "
                   "(the default), compose (docker-compose.yml on this machine's Docker "
                   "engine) or external (servers already running, URLs in [external])")
    p.add_argument("--query", choices=QUERY_KINDS, help="the database query of a "
                   "[upstream] kind = \"postgres\" config: sleep (pg_sleep(delay)) or read "
                   "(an indexed join)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="continue an interrupted run from its records (other options ignored)")
    allow_remote_arg(p)
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("rerun", help="run one recorded trial again K times and compare",
                       **help_with(
        "  python -m harness rerun results/example r001-flask-gunicorn-fanout-5\n"
        "  python -m harness rerun results/example r002-fastapi-uvicorn-clients-20 "
        "--repeat 10\n"))
    p.add_argument("run_dir", type=Path, help="run folder holding the trial")
    p.add_argument("trial_id", help="the trial to rerun, e.g. r002-flask-gunicorn-fanout-5")
    p.add_argument("--repeat", type=positive_int, default=5, metavar="K",
                   help="how many times to run it (default 5)")
    allow_remote_arg(p)
    p.set_defaults(func=cmd_rerun)

    p = sub.add_parser(
        "calibrate", help="measure the load generator's ceiling and added latency, the mock "
                          "upstream's ceiling, and wrk beside them", **help_with(
            "  python -m harness calibrate\n"
            "  python -m harness calibrate --seconds 5 --no-wrk --json\n"))
    p.add_argument("--seconds", type=positive_float, default=3.0,
                   help="duration of each rate measurement (default 3)")
    p.add_argument("--samples", type=positive_int, default=100,
                   help="sequential 100 ms requests for the added latency (default 100)")
    p.add_argument("--concurrency", type=positive_int, default=32,
                   help="connections of each closed-loop measurement (default 32)")
    p.add_argument("--no-wrk", action="store_true", help="do not run wrk even if installed")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--out", type=Path, default=RESULTS,
                   help="results root; the figures go to OUT/calibration.json (default results/)")
    p.add_argument("--no-save", action="store_true", help="print only; write no file")
    p.set_defaults(func=cmd_calibrate)
