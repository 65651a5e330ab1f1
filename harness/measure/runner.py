"""The runner: rounds of trials against freshly started stacks, one record per trial.

Flow: config -> plan (seeded order) -> stacks (lifecycle) -> loadgen -> records.
A trial is written the moment it ends; nothing is written for a trial that was
interrupted. A failed trial is recorded with its reason and the stack is started
afresh for the trials that remain. Rounds continue until the configured stopping
rule is met.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import safefs
from harness.analyse.summary import summarise, widest_headline_half_width
from harness.config.load import config_from_resolved
from harness.config.schema import Config, StackSpec
from harness.errors import (
    LoadGeneratorError,
    MachineBusyError,
    RunDirError,
    StackError,
    StackStartError,
    Terminated,
)
from harness.loadgen.engines import Engine, open_engine, worker_placement
from harness.measure import headroom
from harness.measure.climb import ClimbStep, climbs_for
from harness.measure.envinfo import loadavg
from harness.measure.manifest import (
    build_manifest,
    interpreter_version,
    make_run_id,
    named_run_id,
    new_run_dir,
    typed_command,
)
from harness.measure.plan import (
    PlannedTrial,
    climb_steps,
    order_slots,
    plan_round,
    stack_order,
    trials_per_round,
)
from harness.measure.progress import CountingProgress, Progress
from harness.measure.progress import SilentProgress as SilentProgress
from harness.measure.quiet import wait_for_quiet
from harness.measure.records import RecordSink, WithPython
from harness.measure.trial import disturbed_by_foreign_load, failed_record, run_trial, warm
from harness.paths import project_relative
from harness.rundir.format import LOGS_DIR, MANIFEST_NAME, PIDS_NAME, TRIALS_NAME
from harness.rundir.reader import load_run
from harness.rundir.writer import TrialWriter, repair_tail, write_json_atomic
from harness.targets import leftovers, netns, open_stack, roles_on_hosts
from harness.targets.process import pin_this_process, unpin
from harness.targets.topology import Sites


@dataclass
class RunOutcome:
    """Where a run went and why it stopped."""

    run_dir: Path
    stop_reason: str
    rounds_completed: int
    counts: dict[str, int]


START_ATTEMPTS = 2  # failed starts in a row before a stack's round is given up
GIVEN_UP_KEY = "stacks_given_up"  # manifest: stack -> why it is no longer started
RETRY_FLAG = "--retry-failed-starts"


class StopRun(Exception):
    """Raised inside the runner when ``on_failure = "stop"`` meets a failed trial."""


def quiet_gate(config: Config, progress: Progress) -> None:
    """Wait for a quiet machine (``measure.quiet``); MachineBusyError when it never is."""
    wait_for_quiet(config.limits.foreign_cpu_max, config.quiet_wait_s, progress.note)


def record_not_started(config: Config, trials: list[PlannedTrial], run_id: str,
                       writer: RecordSink, progress: Progress, why: str) -> None:
    """Record ``trials`` failed without starting their stack (it was given up earlier)."""
    for trial in trials:
        record = failed_record(run_id, trial, why)
        writer.write(record)
        progress.advance(record)
        if config.on_failure == "stop":
            raise StopRun(f"trial {trial.trial_id} failed: {why}")
def run_stack_trials(config: Config, spec: StackSpec, trials: list[PlannedTrial],
                     run_id: str, writer: RecordSink, progress: Progress,
                     log_dir: Path | None, cpus: frozenset[int] | None = None,
                     cpu_iterations_per_ms: int | None = None,
                     engine: Engine | None = None,
                     start_failures: int = 0,
                     climb: ClimbStep | None = None, *, sites: Sites | None = None,
                     upstream_cpus: frozenset[int] | None = None) -> tuple[int, str | None]:
    """Run one stack's trials of a round, restarting it after any failure.

    A trial made invalid by other processes' CPU use is kept (its id gets ``-attempt1``)
    and run once more after the machine is quiet again. ``cpus`` pins a local stack and
    ``upstream_cpus`` its upstream; ``sites`` says where each runs (``roles_on_hosts``);
    ``cpu_iterations_per_ms`` is the run's CPU-work calibration (from its manifest);
    ``engine`` drives the load (builtin by default). ``start_failures`` is how many
    starts of the stack had failed in a row before. After the planned trials, ``climb``
    adds the capacity sweep's trials one at a time, each decided from the records before it.

    Returns:
        Failed starts in a row at the end, and the last start error. From
        :data:`START_ATTEMPTS` failed starts in a row, the round's remaining trials are
        recorded failed without another start (the climb then ends: a failed rung counts
        as saturated).
    """
    remaining = list(trials)
    error: str | None = None

    def more() -> bool:
        """True while trials remain; asks the climb for its next one when none do."""
        if remaining:
            return True
        step = climb.next_trial() if climb is not None else None
        if step is None:
            return False
        remaining.append(step)
        progress.extend(1)
        return True

    def written(record: dict[str, Any]) -> None:
        writer.write(record)
        if climb is not None and not record.get("retried"):
            climb.climb.observe(record)

    while more():
        try:
            with open_stack(config, spec, log_dir, cpus, cpu_iterations_per_ms, sites=sites,
                            upstream_cpus=upstream_cpus) as handle:
                start_failures = 0
                if config.warmup_requests:
                    problem = asyncio.run(warm(handle, config, engine))
                    if problem:
                        progress.note(f"warm-up of {spec.name}: {problem}")
                while more():
                    record = run_trial(config, run_id, handle, remaining[0], engine)
                    if disturbed_by_foreign_load(record) and config.quiet_wait_s > 0:
                        record["trial_id"] = f"{record['trial_id']}-attempt1"
                        record["retried"] = True
                        writer.write(record)
                        progress.extend(1)
                        progress.advance(record)
                        progress.note(f"{remaining[0].trial_id} disturbed ({record['error']}); "
                                      "running it again once the machine is quiet")
                        quiet_gate(config, progress)
                        record = run_trial(config, run_id, handle, remaining[0], engine)
                    written(record)
                    remaining.pop(0)
                    progress.advance(record)
                    for line in engine.notes() if engine is not None else ():
                        progress.note(line)
                    if record["status"] == "failed":
                        if config.on_failure == "stop":
                            raise StopRun(f"trial {record['trial_id']} failed: {record['error']}")
                        progress.note(f"{record['trial_id']} failed ({record['error']}); "
                                      f"restarting {spec.name}")
                        break
        except StackError as exc:
            # The stack did not start, or died outside a trial: the next trial fails with it;
            # after START_ATTEMPTS failed starts in a row, so do the round's other trials
            # (a command that exits at once would fail them all, one timeout at a time).
            start_failures = start_failures + 1 if isinstance(exc, StackStartError) else 0
            doomed = (len(remaining) if start_failures >= START_ATTEMPTS else 1)
            for trial in remaining[:doomed]:
                record = failed_record(run_id, trial, str(exc))
                written(record)
                progress.advance(record)
                if config.on_failure == "stop":
                    raise StopRun(f"trial {trial.trial_id} failed: {exc}") from None
            progress.note(f"{remaining[0].trial_id} failed: {exc}" if doomed == 1 else
                          f"{spec.name} did not start {START_ATTEMPTS} times; its {doomed} "
                          f"remaining trials of this round are recorded failed: {exc}")
            error = str(exc)
            del remaining[:doomed]
            if start_failures >= START_ATTEMPTS:
                break  # no start for the climb's next rung either
    return start_failures, error


def not_started_reason(name: str, round_no: int, error: str) -> str:
    """The error of a trial whose stack is no longer started, and how to change that."""
    return (f"not started: {name} failed to start {START_ATTEMPTS} times in a row, the last in "
            f"round {round_no} ({error}); {RETRY_FLAG} starts it again every round")


def _widest_half_width(run_dir: Path) -> tuple[float | None, int]:
    """The widest relative CI half-width among headline speedups, and how many there are."""
    return widest_headline_half_width(summarise(load_run(run_dir)))


def _pct(width: float | None) -> str:
    return f"±{width:.1%}" if width is not None else "undefined"


def stop_decision(config: Config, round_no: int, widest: float | None,
                  count: int) -> str | None:
    """Why the run stops after round ``round_no``, or None to add a round.

    ``widest`` is the widest relative half-width among the ``count`` headline
    speedup intervals (None when one is undefined); it is only consulted between
    ``config.rounds`` and ``config.max_rounds`` when a ``target_ci`` is set.
    """
    if round_no < config.rounds:
        return None
    if config.target_ci <= 0:
        return f"fixed rounds: {round_no} completed"
    if widest is not None and widest <= config.target_ci:
        return (f"target reached: all {count} headline intervals within "
                f"±{config.target_ci:.1%} after {round_no} rounds (widest {_pct(widest)})")
    if round_no >= config.max_rounds:
        return (f"max rounds reached: {round_no} rounds, widest headline interval "
                f"{_pct(widest)} > target ±{config.target_ci:.1%}")
    return None


def execute(config: Config, run_dir: Path, progress: Progress, *,
            start_round: int = 1, skip: Iterable[str] = (), rounds_done: int = 0,
            retry_failed_starts: bool = False) -> RunOutcome:
    """Run rounds into ``run_dir`` (whose manifest exists) until the stopping rule holds.

    A stack that failed to start :data:`START_ATTEMPTS` times in a row (in one round or
    across two) is not started again in later rounds (its trials are recorded failed,
    saying why; the manifest's ``stacks_given_up`` names it) unless ``retry_failed_starts``.
    """
    manifest_path = run_dir / MANIFEST_NAME
    manifest = json.loads(safefs.read_bytes(manifest_path))
    given_up: dict[str, str] = {} if retry_failed_starts else {
        str(k): str(v) for k, v in (manifest.get(GIVEN_UP_KEY) or {}).items()}
    in_a_row: dict[str, int] = {}  # failed starts in a row, per stack
    run_id = manifest["run_id"]
    cpu_iterations = (manifest.get("cpu_work") or {}).get("iterations_per_ms")
    skip_ids = set(skip)
    log_dir = run_dir / LOGS_DIR
    counts = {"ok": 0, "failed": 0, "invalid": 0}
    per_round = trials_per_round(config)
    last_planned = max(config.rounds, start_round)
    progress.start(sum(1 for r in range(start_round, last_planned + 1)
                       for t in plan_round(config, r, (r - 1) * per_round)
                       if t.trial_id not in skip_ids))
    stop_reason = "interrupted"
    round_no = start_round - 1
    slots = order_slots(config)

    counting = CountingProgress(progress, counts)
    pid_files = sorted(run_dir.parent.glob(f"*/{PIDS_NAME}"))
    for line in [*leftovers.end_leftovers(pid_files),
                 *netns.remove_leftovers(pid_files, config.hosts.prefix)]:
        progress.note(line)
    headroom.raise_open_files()  # before any child starts: they inherit it
    stack_cpus, harness_cpus = config.placement.resolve(os.sched_getaffinity(0))
    upstream_cpus = config.placement.resolve_upstream(os.sched_getaffinity(0))
    climbs = climbs_for(config, run_dir, len(stack_cpus or os.sched_getaffinity(0)),
                     resumed=bool(skip_ids))
    pinned = pin_this_process(harness_cpus) if harness_cpus is not None else {}
    try:
        with TrialWriter(run_dir / TRIALS_NAME) as trials_file, \
                leftovers.recording(run_dir / PIDS_NAME), roles_on_hosts(config) as sites, \
                open_engine(config.loadgen, harness_cpus, log_dir, worker_placement(sites),
                            note=progress.note) as engine:
            writer = WithPython(trials_file, {spec.name: interpreter_version(manifest, spec)
                                              for spec in config.stacks})
            if sites.network is not None:  # the names and addresses this session made
                manifest["hosts"] = sites.describe()
                write_json_atomic(manifest_path, manifest)
            if config.loadgen.distributed:
                manifest["loadgen"] = engine.describe()
                write_json_atomic(manifest_path, manifest)
                progress.note(f"load engine: Locust master at {manifest['loadgen']['master']}, "
                              f"{manifest['loadgen']['local_workers']} local and "
                              f"{config.loadgen.expect_workers} remote workers")
            while True:
                round_no += 1
                base = (round_no - 1) * slots
                planned = plan_round(config, round_no, base)
                steps_each = climb_steps(config)
                steps = {name: ClimbStep(climb, round_no, base + per_round + i * steps_each)
                         for i, (name, climb) in enumerate(climbs.items())}
                pending = {name: step for name, step in steps.items()
                           if step.next_trial() is not None}
                if any(t.trial_id not in skip_ids for t in planned) or pending:
                    quiet_gate(config, progress)
                for name in stack_order(config, round_no):
                    todo = [t for t in planned if t.stack == name and t.trial_id not in skip_ids]
                    if name in given_up:  # a stack given up runs no trial, nor its climb
                        if todo:
                            record_not_started(config, todo, run_id, writer, counting,
                                               given_up[name])
                    elif todo or name in pending:
                        in_a_row[name], error = run_stack_trials(
                            config, config.stack(name), todo, run_id, writer, counting,
                            log_dir, stack_cpus, cpu_iterations, engine,
                            0 if retry_failed_starts else in_a_row.get(name, 0),
                            steps.get(name), sites=sites, upstream_cpus=upstream_cpus)
                        if in_a_row[name] >= START_ATTEMPTS and error and not retry_failed_starts:
                            given_up[name] = not_started_reason(name, round_no, error)
                            progress.note(f"{name} will not be started again in this run "
                                          f"(pass {RETRY_FLAG} to keep trying)")
                rounds_done = round_no
                manifest["rounds_completed"] = rounds_done
                manifest[GIVEN_UP_KEY] = given_up
                write_json_atomic(manifest_path, manifest)
                widest, count = ((None, 0) if round_no < config.rounds or config.target_ci <= 0
                                 else _widest_half_width(run_dir))
                reason = stop_decision(config, round_no, widest, count)
                if reason is not None:
                    stop_reason = reason
                    break
                if round_no < config.rounds:
                    continue
                progress.note(f"round {round_no}: widest headline interval "
                              f"{_pct(widest)} > target ±{config.target_ci:.1%}; adding a round")
                progress.extend(per_round)
    except StopRun as exc:
        stop_reason = f"stopped on failure (on_failure = stop): {exc}"
    except (MachineBusyError, LoadGeneratorError) as exc:
        stop_reason = f"stopped during round {round_no}: {exc}"
        raise
    except KeyboardInterrupt:
        stop_reason = f"interrupted (SIGINT) during round {round_no}"
        raise
    except Terminated as exc:
        stop_reason = f"terminated ({exc.name}) during round {round_no}"
        raise
    except BaseException as exc:
        stop_reason = f"crashed during round {round_no}: {type(exc).__name__}: {exc}"
        raise
    finally:
        unpin(pinned)
        manifest["stop_reason"] = stop_reason
        manifest["rounds_completed"] = rounds_done
        manifest["loadavg_end"] = loadavg()
        manifest["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        write_json_atomic(manifest_path, manifest)
    return RunOutcome(run_dir, stop_reason, rounds_done, counts)


def recorded_config(run_dir: Path) -> Config:
    """The config an interrupted run folder recorded; nothing is written.

    Raises:
        RunDirError: not a run folder, or the run already finished.
    """
    manifest = load_run(run_dir).manifest
    if str(manifest.get("stop_reason", "")).startswith(("fixed rounds", "target reached",
                                                         "max rounds")):
        raise RunDirError(f"{run_dir}: the run already finished ({manifest['stop_reason']})")
    return config_from_resolved(manifest["config"])


@dataclass(frozen=True)
class ResumePoint:
    """Where an interrupted run picks up: the config, the trials done and the first round."""

    config: Config
    done_ids: frozenset[str]
    start_round: int
    rounds_done: int
    dropped: str | None


def resume_point(run_dir: Path) -> ResumePoint:
    """Read an interrupted run folder and work out what remains.

    A truncated last line is dropped (and described in ``dropped``); no earlier
    line is touched. Trials already recorded, ok or not, are not run again.
    """
    trials_path = run_dir / TRIALS_NAME
    if not safefs.check_regular(run_dir / MANIFEST_NAME) or not safefs.check_regular(trials_path):
        raise RunDirError(f"{run_dir}: not a run folder ({MANIFEST_NAME} or {TRIALS_NAME} "
                          "missing)")
    config = recorded_config(run_dir)
    safefs.ensure_dir(run_dir / LOGS_DIR)  # a linked logs/ is refused before anything starts
    repair = repair_tail(trials_path)
    dropped = (f"dropped an incomplete last line ({repair.dropped_bytes} bytes: "
               f"{repair.dropped_text!r})" if repair.dropped_bytes else None)
    run = load_run(run_dir)
    done = frozenset(str(t["trial_id"]) for t in run.trials)
    slots = order_slots(config)
    complete = 0
    planned_each = trials_per_round(config)
    recorded = run.manifest.get("rounds_completed")
    if not planned_each:  # a capacity sweep alone: the manifest counts the rounds done
        complete = recorded if isinstance(recorded, int) and recorded >= 0 else 0
    while planned_each:
        ids = {t.trial_id for t in plan_round(config, complete + 1, complete * slots)}
        if not ids <= done:
            break
        complete += 1
    return ResumePoint(config, done, complete + 1, complete, dropped)


def resume_run(run_dir: Path, progress: Progress, point: ResumePoint | None = None, *,
               retry_failed_starts: bool = False) -> RunOutcome:
    """Continue an interrupted run in its own folder, in the same seeded order (from
    ``point`` when the caller has read it already)."""
    point = point or resume_point(run_dir)
    if point.dropped:
        progress.note(point.dropped)
    return execute(point.config, run_dir, progress, start_round=point.start_round,
                   skip=point.done_ids, rounds_done=point.rounds_done,
                   retry_failed_starts=retry_failed_starts)


def start_run(config: Config, results_root: Path, progress: Progress,
              argv: list[str] | None = None, *, retry_failed_starts: bool = False,
              run_id: str | None = None) -> RunOutcome:
    """Create a run folder (named ``run_id``, else by the time and the config's name),
    write its manifest, and execute the run."""
    exact = run_id is not None
    # A name that cannot be used is refused before anything slow is measured.
    run_id = named_run_id(run_id, results_root) if run_id is not None else make_run_id(config)
    command = typed_command(argv if argv is not None else sys.argv[1:])
    # A level the machine's limits cannot hold, or a target refusal, raises here, before
    # any folder exists; the limit is raised first, so the manifest records it raised.
    headroom.raise_open_files()
    limits = headroom.check(config, headroom.Kernel.read())
    manifest = build_manifest(config, run_id, command, results_root=results_root)
    manifest["warnings"].extend(limits)
    for warning in manifest.get("target_details", {}).get("warnings", []):
        progress.note(f"warning: {warning}")
    run_dir = new_run_dir(results_root, run_id, exact=exact)
    manifest["run_id"] = run_dir.name
    manifest["run_dir"] = project_relative(str(run_dir), None)
    write_json_atomic(run_dir / MANIFEST_NAME, manifest)
    safefs.open_append(run_dir / TRIALS_NAME).close()
    for warning in manifest["warnings"]:
        progress.note(f"warning: {warning}")
    if manifest.get("pythons_note"):  # the interpreters measured: one line on free threading
        progress.note(manifest["pythons_note"])
    return execute(config, run_dir, progress, retry_failed_starts=retry_failed_starts)
