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
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness.analyse.summary import summarise, widest_headline_half_width
from harness.config.load import config_from_resolved
from harness.config.schema import Config, StackSpec
from harness.errors import RunDirError, StackError, StackStartError, Terminated
from harness.measure.manifest import build_manifest, make_run_id, new_run_dir, typed_command
from harness.measure.plan import PlannedTrial, plan_round, trials_per_round
from harness.measure.trial import failed_record, run_trial, warm
from harness.paths import project_relative
from harness.rundir.format import LOGS_DIR, MANIFEST_NAME, TRIALS_NAME
from harness.rundir.reader import load_run
from harness.rundir.writer import TrialWriter, repair_tail, write_json_atomic
from harness.targets import open_stack


class Progress(Protocol):
    """What the runner tells its caller while it works (the CLI draws a progress bar)."""

    def start(self, total: int) -> None: ...
    def extend(self, total: int) -> None: ...
    def advance(self, record: dict[str, Any]) -> None: ...
    def note(self, message: str) -> None: ...


class SilentProgress:
    """A Progress that shows nothing (tests, library use)."""

    def start(self, total: int) -> None:
        """Ignore."""

    def extend(self, total: int) -> None:
        """Ignore."""

    def advance(self, record: dict[str, Any]) -> None:
        """Ignore."""

    def note(self, message: str) -> None:
        """Ignore."""


class _CountingProgress:
    """Passes everything on, counting records by status on the way."""

    def __init__(self, inner: Progress, counts: dict[str, int]) -> None:
        self.inner = inner
        self.counts = counts

    def start(self, total: int) -> None:
        self.inner.start(total)

    def extend(self, total: int) -> None:
        self.inner.extend(total)

    def advance(self, record: dict[str, Any]) -> None:
        self.counts[record["status"]] += 1
        self.inner.advance(record)

    def note(self, message: str) -> None:
        self.inner.note(message)


@dataclass
class RunOutcome:
    """Where a run went and why it stopped."""

    run_dir: Path
    stop_reason: str
    rounds_completed: int
    counts: dict[str, int]


START_ATTEMPTS = 2  # failed starts in a row before a stack's round is given up


class StopRun(Exception):
    """Raised inside the runner when ``on_failure = "stop"`` meets a failed trial."""


def run_stack_trials(config: Config, spec: StackSpec, trials: list[PlannedTrial],
                     run_id: str, writer: TrialWriter, progress: Progress,
                     log_dir: Path | None) -> int:
    """Run one stack's trials of a round, restarting it after any failure. Returns failures."""
    remaining = list(trials)
    failures = 0
    start_failures = 0
    while remaining:
        try:
            with open_stack(config, spec, log_dir) as handle:
                start_failures = 0
                if config.warmup_requests:
                    asyncio.run(warm(handle, config))
                while remaining:
                    record = run_trial(config, run_id, handle, remaining[0])
                    writer.write(record)
                    remaining.pop(0)
                    progress.advance(record)
                    if record["status"] == "failed":
                        failures += 1
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
                writer.write(record)
                progress.advance(record)
                failures += 1
                if config.on_failure == "stop":
                    raise StopRun(f"trial {trial.trial_id} failed: {exc}") from None
            progress.note(f"{remaining[0].trial_id} failed: {exc}" if doomed == 1 else
                          f"{spec.name} did not start {START_ATTEMPTS} times; its {doomed} "
                          f"remaining trials of this round are recorded failed: {exc}")
            del remaining[:doomed]
    return failures


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
            start_round: int = 1, skip: Iterable[str] = (), rounds_done: int = 0) -> RunOutcome:
    """Run rounds into ``run_dir`` (whose manifest exists) until the stopping rule holds."""
    manifest_path = run_dir / MANIFEST_NAME
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    run_id = manifest["run_id"]
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
    order = (start_round - 1) * per_round

    counting = _CountingProgress(progress, counts)
    try:
        with TrialWriter(run_dir / TRIALS_NAME) as writer:
            while True:
                round_no += 1
                planned = plan_round(config, round_no, order)
                order += len(planned)
                for name in dict.fromkeys(t.stack for t in planned):
                    todo = [t for t in planned if t.stack == name and t.trial_id not in skip_ids]
                    if todo:
                        run_stack_trials(config, config.stack(name), todo, run_id, writer,
                                         counting, log_dir)
                rounds_done = round_no
                manifest["rounds_completed"] = rounds_done
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
        manifest["stop_reason"] = stop_reason
        manifest["rounds_completed"] = rounds_done
        manifest["finished_at"] = dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
        write_json_atomic(manifest_path, manifest)
    return RunOutcome(run_dir, stop_reason, rounds_done, counts)


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
    if not (run_dir / MANIFEST_NAME).is_file() or not trials_path.is_file():
        raise RunDirError(f"{run_dir}: not a run folder ({MANIFEST_NAME} or {TRIALS_NAME} "
                          "missing)")
    repair = repair_tail(trials_path)
    dropped = (f"dropped an incomplete last line ({repair.dropped_bytes} bytes: "
               f"{repair.dropped_text!r})" if repair.dropped_bytes else None)
    run = load_run(run_dir)
    if run.manifest.get("stop_reason", "").startswith(("fixed rounds", "target reached",
                                                       "max rounds")):
        raise RunDirError(f"{run_dir}: the run already finished ({run.manifest['stop_reason']})")
    config = config_from_resolved(run.manifest["config"])
    done = frozenset(str(t["trial_id"]) for t in run.trials)
    per_round = trials_per_round(config)
    complete = 0
    while True:
        ids = {t.trial_id for t in plan_round(config, complete + 1, complete * per_round)}
        if not ids <= done:
            break
        complete += 1
    return ResumePoint(config, done, complete + 1, complete, dropped)


def resume_run(run_dir: Path, progress: Progress) -> RunOutcome:
    """Continue an interrupted run in its own folder, in the same seeded order."""
    point = resume_point(run_dir)
    if point.dropped:
        progress.note(point.dropped)
    return execute(point.config, run_dir, progress, start_round=point.start_round,
                   skip=point.done_ids, rounds_done=point.rounds_done)


def start_run(config: Config, results_root: Path, progress: Progress,
              argv: list[str] | None = None) -> RunOutcome:
    """Create a run folder, write its manifest, and execute the run."""
    run_id = make_run_id(config)
    command = typed_command(argv if argv is not None else sys.argv[1:])
    # A target refusal raises here, before any folder exists.
    manifest = build_manifest(config, run_id, command, results_root=results_root)
    run_dir = new_run_dir(results_root, run_id)
    manifest["run_id"] = run_dir.name
    manifest["run_dir"] = project_relative(str(run_dir), None)
    write_json_atomic(run_dir / MANIFEST_NAME, manifest)
    (run_dir / TRIALS_NAME).touch()
    return execute(config, run_dir, progress)
