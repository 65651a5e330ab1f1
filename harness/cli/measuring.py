"""The commands that start servers and measure: ``check``, ``run``, ``rerun``, ``calibrate``."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
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

from harness.analyse.cells import arms_without_ok, empty_arms_line
from harness.analyse.metrics import HEADLINE_METRICS, level_label, metric_title
from harness.cli.common import (
    err,
    out,
)
from harness.cli.reading import print_tables, render_report
from harness.config.load import (
    load_config,
    with_engine,
    with_overrides,
    with_query,
    with_selection,
)
from harness.config.schema import Config
from harness.errors import RunDirError, StackError
from harness.measure import rerun
from harness.measure.calibrate import calibration_lines, run_calibration, save_calibration
from harness.measure.envinfo import collect_python
from harness.measure.manifest import interpreter_version, named_run_id
from harness.measure.plan import skipped
from harness.measure.resume import recorded_config, resume_point
from harness.measure.runner import resume_run, start_run
from harness.rundir.format import MANIFEST_NAME
from harness.rundir.reader import load_run
from harness.targets import network_summary, open_stack, roles_on_hosts, target_details
from harness.targets.contract import check_contract, check_own_app
from harness.targets.netns import remove_leftovers


def cmd_check(args: argparse.Namespace) -> int:
    """Start every configured stack, run the contract against it, stop it."""
    config = load_config(args.config)
    # A target that cannot be used (an interpreter's environment missing) ends here.
    details = target_details(config)
    for line in remove_leftovers([], config.hosts.prefix):
        err(f"asyncbench: {line}")
    failures = 0
    # The logs a failure names must outlive the command: kept unless every stack passed.
    logs = Path(tempfile.mkdtemp(prefix="asyncbench-check-"))
    with roles_on_hosts(config) as sites:
        for spec in config.stacks:
            try:
                python = interpreter_version({**details, "environment": collect_python()}, spec)
                with open_stack(config, spec, log_dir=logs, sites=sites) as handle:
                    results = (check_own_app(handle.base_url, spec) if spec.own
                               else check_contract(handle.base_url, spec.name, python=python))
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
                under = f", Python {python}" if python and not spec.own else ""
                out(f"ok   {spec.name:<26} healthy; {len(results)} contract checks passed "
                    f"({f'{spec.server} {spec.worker_class}' if spec.server else 'own command'}, "
                    f"{spec.workers} workers{under})")
    total = len(config.stacks)
    out(f"{total - failures}/{total} stacks passed the contract check")
    if failures == 0:
        shutil.rmtree(logs, ignore_errors=True)
        return 0
    out(f"logs: {logs}")
    return 1


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
        self.bar.console.log(message, markup=False)  # brackets ("[run] pythons") are text


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
            outcome = resume_run(args.resume, progress, point,
                                 retry_failed_starts=args.retry_failed_starts)
    else:
        levels: dict[str, list[int]] | None = None
        if args.levels:
            levels = {}
            for scenario, values in args.levels:
                levels.setdefault(scenario, []).extend(values)
        config = with_selection(load_config(args.config), args.stacks, levels)
        config = with_overrides(config, rounds=args.rounds, seed=args.seed,
                                max_rounds=args.max_rounds, target_ci=args.target_ci,
                                target=args.target, delay_ms=args.delay_ms,
                                allocation=args.allocation, budget_s=args.budget)
        for item in skipped(config):
            err(f"asyncbench: note: {item['scenario']} skipped on {item['stack']}: "
                f"{item['reason']}")
        if args.min_rounds is not None:
            config = with_overrides(config, rounds=args.min_rounds)
        if args.query is not None:
            config = with_overrides(config, upstream=with_query(config.upstream, args.query))
        if args.engine is not None or args.workers is not None:
            config = with_overrides(config, loadgen=with_engine(config.loadgen, args.engine,
                                                                args.workers))
        if args.run_id is not None:
            named_run_id(args.run_id, args.out)  # refused before the progress display
        with RichProgress() as progress:
            outcome = start_run(config, args.out, progress, argv=args.argv,
                                retry_failed_starts=args.retry_failed_starts,
                                run_id=args.run_id)
    out(f"run folder: {outcome.run_dir}")
    out(f"stopped: {outcome.stop_reason}")
    counts = outcome.counts
    out(f"trials: {counts['ok']} ok, {counts['failed']} failed, {counts['invalid']} invalid")
    print_tables(outcome.run_dir)
    if not args.no_report:
        render_report(outcome.run_dir)
    # A run that could not measure an arm has no answer for it: say which, and fail.
    empty = arms_without_ok(load_run(outcome.run_dir).trials)
    if empty:
        err(f"asyncbench: error: {empty_arms_line(empty)}")
        return 1
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
                           concurrency=args.concurrency, use_wrk=not args.no_wrk, note=note,
                           workers=args.workers or 0)
    path = None if args.no_save else save_calibration(args.out, data)
    if args.json:
        out(json.dumps(data, indent=2, sort_keys=True))
        return 0
    for line in calibration_lines(data):
        out(line)
    if path is not None:
        out(f"calibration: {path}")
    return 0
