"""The runner: rounds of trials against freshly started stacks, one record per trial.

Flow: config -> plan (seeded order) -> stacks (lifecycle) -> loadgen -> records.
A trial is written the moment it ends; nothing is written for a trial that was
interrupted. A failed trial is recorded with its reason and the stack is started
afresh for the trials that remain. Rounds continue until the configured stopping
rule is met; which trials a round holds and why the run stops is ``measure.rounds``'s
business, the wall-clock budget ``measure.budget``'s.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import safefs
from harness.analyse.precision import HeadlineState
from harness.config.schema import Config, StackSpec
from harness.errors import (
    LoadGeneratorError,
    MachineBusyError,
    StackError,
    StackStartError,
    Terminated,
)
from harness.loadgen.engines import Engine, open_engine, worker_placement
from harness.measure import headroom, rounds
from harness.measure.budget import Budget
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
    plan_cells,
    stack_order,
    trials_per_round,
)
from harness.measure.progress import ObservingProgress, Progress
from harness.measure.progress import SilentProgress as SilentProgress
from harness.measure.quiet import wait_for_quiet
from harness.measure.records import RecordSink, WithPython
from harness.measure.resume import ResumePoint, resume_point
from harness.measure.trial import disturbed_by_foreign_load, failed_record, run_trial, warm
from harness.paths import project_relative
from harness.rundir.format import LOGS_DIR, MANIFEST_NAME, PIDS_NAME, TRIALS_NAME
from harness.rundir.reader import load_run
from harness.rundir.writer import TrialWriter, write_json_atomic
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


class BudgetSpent(Exception):
    """Raised inside the runner when the next trial is not expected to fit the budget."""

    def __init__(self, trial: PlannedTrial) -> None:
        super().__init__(trial.trial_id)
        self.trial = trial


Admit = Callable[[PlannedTrial, bool], bool]
RunStack = Callable[..., tuple[int, str | None]]


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
                     engine: Engine | None = None, start_failures: int = 0,
                     climb: ClimbStep | None = None, *, sites: Sites | None = None,
                     upstream_cpus: frozenset[int] | None = None,
                     admit: Admit | None = None) -> tuple[int, str | None]:
    """Run one stack's trials of a round, restarting it after any failure.

    A trial made invalid by other processes' CPU use is kept (its id gets ``-attempt1``)
    and run once more after the machine is quiet again. ``cpus`` pins a local stack and
    ``upstream_cpus`` its upstream; ``sites`` says where each runs (``roles_on_hosts``);
    ``cpu_iterations_per_ms`` is the run's CPU-work calibration (from its manifest);
    ``engine`` drives the load (builtin by default). ``start_failures`` is how many
    starts of the stack had failed in a row before. After the planned trials, ``climb``
    adds the capacity sweep's trials one at a time, each decided from the records before it.
    ``admit(trial, starting)`` is asked before the stack starts and before each trial;
    False raises :class:`BudgetSpent` (the stack is stopped first).

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
        if admit is not None and not admit(remaining[0], True):
            raise BudgetSpent(remaining[0])
        try:
            with open_stack(config, spec, log_dir, cpus, cpu_iterations_per_ms, sites=sites,
                            upstream_cpus=upstream_cpus) as handle:
                start_failures = 0
                if config.warmup_requests:
                    problem = asyncio.run(warm(handle, config, engine))
                    if problem:
                        progress.note(f"warm-up of {spec.name}: {problem}")
                first = True
                while more():
                    if admit is not None and not first and not admit(remaining[0], False):
                        raise BudgetSpent(remaining[0])
                    first = False
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


def execute(config: Config, run_dir: Path, progress: Progress, *,
            start_round: int = 1, skip: Iterable[str] = (), rounds_done: int = 0,
            retry_failed_starts: bool = False, first_order: int = 0,
            clock: Callable[[], float] = time.monotonic,
            run_stack: RunStack = run_stack_trials) -> RunOutcome:
    """Run rounds into ``run_dir`` (whose manifest exists) until the stopping rule holds
    (``measure.rounds``); ``clock`` and ``run_stack`` are handed in for tests.

    A stack that failed to start :data:`START_ATTEMPTS` times in a row (in one round or
    across two) is not started again in later rounds (its trials are recorded failed,
    saying why; the manifest's ``stacks_given_up`` names it) unless ``retry_failed_starts``;
    the adaptive allocation plans no more trials for it.
    """
    manifest_path = run_dir / MANIFEST_NAME
    manifest = json.loads(safefs.read_bytes(manifest_path))
    given_up: dict[str, str] = {} if retry_failed_starts else {
        str(k): str(v) for k, v in (manifest.get(GIVEN_UP_KEY) or {}).items()}
    in_a_row: dict[str, int] = {}  # failed starts in a row, per stack
    run_id = manifest["run_id"]
    cpu_iterations = (manifest.get("cpu_work") or {}).get("iterations_per_ms")
    allocation = manifest.setdefault("allocation", {"mode": config.allocation})
    budget = Budget(config.budget_s, clock, float(allocation.get("spent_s") or 0.0))
    budget.seen(load_run(run_dir).trials)
    skip_ids = set(skip)
    log_dir = run_dir / LOGS_DIR
    counts = {"ok": 0, "failed": 0, "invalid": 0}
    known: list[PlannedTrial] = []
    order = first_order
    for r in range(start_round, max(config.rounds, start_round) + 1):
        planned_r = rounds.recorded_plan(config, allocation, r, order)
        if planned_r is None:
            break
        known.extend(t for t in planned_r if t.trial_id not in skip_ids)
        order += rounds.orders_taken(config, r, planned_r)
    progress.start(len(known))
    stop_reason = "interrupted"
    round_no = start_round - 1
    order = first_order
    state: HeadlineState | None = None

    counting = ObservingProgress(progress, counts, budget.observe)
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
                planned = rounds.recorded_plan(config, allocation, round_no, order)
                if planned is None:  # an adaptive round, planned from the last look
                    state = state or rounds.look(run_dir)  # (a resumed run looks first)
                    chosen = rounds.adaptive_counts(config, state, budget, set(given_up))
                    planned = plan_cells(config, round_no, order, chosen)
                    reason = rounds.stop_decision(config, round_no - 1, state)
                    if reason is not None or not planned:  # nothing open, or nothing fits
                        stop_reason = (reason or rounds.budget_stop(config, budget, [],
                                                                    round_no, state)
                                       or rounds.nothing_to_plan(config, round_no, state,
                                                                 given_up))
                        break
                    allocation.setdefault(rounds.PLANS, {})[str(round_no)] = \
                        rounds.plan_entries(chosen)
                    write_json_atomic(manifest_path, manifest)
                    progress.note(f"round {round_no}: {rounds.counts_words(chosen)}")
                    progress.extend(len(planned))
                # The capacity sweep climbs in full rounds, in the orders after the plan's.
                steps = {} if rounds.adaptive(config, round_no) else {
                    name: ClimbStep(climb, round_no, order + len(planned) + i * climb_steps(config))
                    for i, (name, climb) in enumerate(climbs.items())}
                pending = {name for name, step in steps.items() if step.next_trial() is not None}
                todo = [t for t in planned if t.trial_id not in skip_ids]
                to_start = [t for t in todo if t.stack not in given_up]  # the rest cost nothing
                reason = rounds.budget_stop(config, budget, to_start, round_no, state) \
                    if to_start else None
                if reason is not None:
                    stop_reason = reason
                    break
                order += rounds.orders_taken(config, round_no, planned)
                if todo or pending:
                    quiet_gate(config, progress)
                for name in stack_order(config, round_no):
                    mine = [t for t in todo if t.stack == name]
                    if mine and name in given_up:  # a stack given up runs no trial, nor climbs
                        record_not_started(config, mine, run_id, writer, counting,
                                           given_up[name])
                    elif name not in given_up and (mine or name in pending):
                        started = clock()
                        in_a_row[name], error = run_stack(
                            config, config.stack(name), mine, run_id, writer, counting,
                            log_dir, stack_cpus, cpu_iterations, engine,
                            0 if retry_failed_starts else in_a_row.get(name, 0),
                            steps.get(name), sites=sites, upstream_cpus=upstream_cpus,
                            admit=budget.admits)
                        budget.stack_ran(clock() - started)
                        if in_a_row[name] >= START_ATTEMPTS and error and not retry_failed_starts:
                            given_up[name] = not_started_reason(name, round_no, error)
                            progress.note(f"{name} will not be started again in this run "
                                          f"(pass {RETRY_FLAG} to keep trying)")
                budget.round_ran()
                rounds_done = round_no
                manifest["rounds_completed"] = rounds_done
                manifest[GIVEN_UP_KEY] = given_up
                allocation["spent_s"] = round(budget.spent(), 3)
                write_json_atomic(manifest_path, manifest)
                state = (rounds.look(run_dir) if round_no >= config.rounds
                         and config.target_ci > 0 else None)
                reason = rounds.stop_decision(config, round_no, state)
                if reason is not None:
                    stop_reason = reason
                    break
                if state is not None:
                    progress.note(f"round {round_no}: {rounds.progress_words(config, state)}"
                                  + ("" if config.allocation == "adaptive" else "; adding a round"))
                if not rounds.adaptive(config, round_no + 1) and round_no + 1 > config.rounds:
                    progress.extend(trials_per_round(config))
    except StopRun as exc:
        stop_reason = f"stopped on failure (on_failure = stop): {exc}"
    except BudgetSpent as exc:
        stop_reason = (f"budget spent during round {round_no}: {budget.words()}; "
                       f"{exc.trial.trial_id} and the rest of the round not run")
        if state is not None and config.target_ci > 0:
            stop_reason += f"; {rounds.progress_words(config, state)}"
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
        allocation["spent_s"] = round(budget.spent(), 3)
        if stop_reason.startswith(rounds.FINISHED):
            allocation.update(rounds.precision(run_dir, config, stop_reason, given_up))
        manifest["loadavg_end"] = loadavg()
        manifest["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        write_json_atomic(manifest_path, manifest)
    return RunOutcome(run_dir, stop_reason, rounds_done, counts)


def resume_run(run_dir: Path, progress: Progress, point: ResumePoint | None = None, *,
               retry_failed_starts: bool = False) -> RunOutcome:
    """Continue an interrupted run in its own folder, in the same seeded order (from
    ``point`` when the caller has read it already)."""
    point = point or resume_point(run_dir)
    if point.dropped:
        progress.note(point.dropped)
    return execute(point.config, run_dir, progress, start_round=point.start_round,
                   skip=point.done_ids, rounds_done=point.rounds_done,
                   retry_failed_starts=retry_failed_starts, first_order=point.first_order)


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
