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
import getpass
import json
import re
import shlex
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from harness import __version__, envinfo
from harness.calibrate import load_calibration
from harness.config import Config, StackSpec
from harness.errors import RunDirError, StackError
from harness.plan import PlannedTrial, plan_round, trials_per_round
from harness.records import (
    SCHEMA_VERSION,
    TrialWriter,
    write_json_atomic,
)
from harness.stacks import open_stack
from harness.trial import failed_record, run_trial, warm


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


class StopRun(Exception):
    """Raised inside the runner when ``on_failure = "stop"`` meets a failed trial."""


# --- one trial --------------------------------------------------------------------------


# One or two scheduler slices: in a 30 ms trial that is a large share, yet a single
# preemption, not a starved load generator.


# --- rounds -----------------------------------------------------------------------------

def run_stack_trials(config: Config, spec: StackSpec, trials: list[PlannedTrial],
                     run_id: str, writer: TrialWriter, progress: Progress,
                     log_dir: Path | None) -> int:
    """Run one stack's trials of a round, restarting it after any failure. Returns failures."""
    remaining = list(trials)
    failures = 0
    while remaining:
        try:
            with open_stack(config, spec, log_dir) as handle:
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
            # The stack did not start, or died outside a trial: the next trial fails with it.
            trial = remaining.pop(0)
            record = failed_record(run_id, trial, str(exc))
            writer.write(record)
            progress.advance(record)
            failures += 1
            if config.on_failure == "stop":
                raise StopRun(f"trial {trial.trial_id} failed: {exc}") from None
            progress.note(f"{trial.trial_id} failed: {exc}")
    return failures


def make_run_id(config: Config, now: dt.datetime | None = None) -> str:
    """``YYYYmmdd-HHMMSS-<config name>``: sortable and readable."""
    now = now or dt.datetime.now(dt.UTC)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(config.source).stem or "config").strip("-")
    return f"{now:%Y%m%d-%H%M%S}-{stem or 'config'}"


def new_run_dir(root: Path, run_id: str) -> Path:
    """Create a fresh run folder under ``root``; never reuses an existing one."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        for suffix in ["", *(f"-{i}" for i in range(2, 100))]:
            path = root / f"{run_id}{suffix}"
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return path
    except OSError as exc:
        raise RunDirError(f"{root}: cannot create a run folder ({exc.strerror or exc})") from None
    raise RunDirError(f"{root}: too many runs named {run_id}")


def build_manifest(config: Config, run_id: str, command: str,
                   results_root: Path | None = None) -> dict[str, Any]:
    """Everything needed to understand and reproduce the run, written before it starts.

    The target is checked first (TargetError when it cannot be used) and described:
    ``target``, ``controlled`` (whether the harness started the processes) and, for
    compose and external targets, ``target_details`` with image ids or URLs.
    """
    from harness.targets import target_details

    target = target_details(config)
    environment = envinfo.collect_environment()
    lock = envinfo.lock_hash()
    machine_id = envinfo.machine_fingerprint(environment)
    # The instrument's own limits on this machine, if `calibrate` measured them here.
    calibration = load_calibration(results_root, machine_id) if results_root else None
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "user": getpass.getuser(),
        "seed": config.seed,
        **target,
        "config": config.resolved(),
        "config_hash": config.digest(),
        "harness_version": __version__,
        "lock_hash": lock,
        "compat_id": envinfo.compat_id(__version__, lock),
        "git": envinfo.collect_git(),
        "environment": environment,
        "machine_id": machine_id,
        "calibration": calibration,
        "trials_per_round": trials_per_round(config),
        "stop_reason": "running",
        "rounds_completed": 0,
    }


def _widest_half_width(run_dir: Path) -> tuple[float | None, int]:
    """The widest relative CI half-width among headline speedups, and how many there are."""
    from harness.rundir import load_run
    from harness.stats import ci_half_width_ratio
    from harness.summary import summarise

    summary = summarise(load_run(run_dir))
    widths = []
    for s in summary["speedups"]:
        if not s.get("headline") or s["stack"] == s["baseline"]:
            continue
        if s["ci_low"] is None or s["ci_high"] is None:
            return None, 0
        widths.append(ci_half_width_ratio(s["ratio"], s["ci_low"], s["ci_high"]))
    return (max(widths) if widths else None), len(widths)


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
    manifest_path = run_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text(encoding="utf-8"))
    run_id = manifest["run_id"]
    skip_ids = set(skip)
    log_dir = run_dir / "logs"
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
        with TrialWriter(run_dir / "trials.jsonl") as writer:
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
    except BaseException as exc:
        if type(exc).__name__ == "Terminated":
            stop_reason = f"terminated (SIGTERM) during round {round_no}"
        else:
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
    from harness.configfile import config_from_resolved
    from harness.records import repair_tail
    from harness.rundir import load_run

    trials_path = run_dir / "trials.jsonl"
    if not (run_dir / "manifest.json").is_file() or not trials_path.is_file():
        raise RunDirError(f"{run_dir}: not a run folder (manifest.json or trials.jsonl missing)")
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
    command = shlex.join(["python", "-m", "harness", *(argv if argv is not None else sys.argv[1:])])
    # A target refusal raises here, before any folder exists.
    manifest = build_manifest(config, run_id, command, results_root=results_root)
    run_dir = new_run_dir(results_root, run_id)
    manifest["run_id"] = run_dir.name
    write_json_atomic(run_dir / "manifest.json", manifest)
    (run_dir / "trials.jsonl").touch()
    return execute(config, run_dir, progress)
