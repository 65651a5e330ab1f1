"""Where an interrupted run picks up: its recorded config, the trials it holds, and the
round and order to go on from (full rounds, the adaptive plans its manifest recorded, and
the orders each round reserved for the capacity sweep's climbs)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from harness import safefs
from harness.config.load import config_from_resolved
from harness.config.schema import Config
from harness.errors import RunDirError
from harness.measure import rounds
from harness.measure.plan import order_slots, trials_per_round
from harness.rundir.format import LOGS_DIR, MANIFEST_NAME, TRIALS_NAME
from harness.rundir.reader import load_run
from harness.rundir.writer import repair_tail


def recorded_config(run_dir: Path) -> Config:
    """The config an interrupted run folder recorded; nothing is written.

    Raises:
        RunDirError: not a run folder, or the run already finished.
    """
    manifest = load_run(run_dir).manifest
    if str(manifest.get("stop_reason", "")).startswith(rounds.FINISHED):
        raise RunDirError(f"{run_dir}: the run already finished ({manifest['stop_reason']})")
    return config_from_resolved(manifest["config"])


@dataclass(frozen=True)
class ResumePoint:
    """Where an interrupted run picks up: the config, the trials done, the first round and
    its first trial's order."""

    config: Config
    done_ids: frozenset[str]
    start_round: int
    rounds_done: int
    dropped: str | None
    first_order: int = 0


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
    allocation = run.manifest.get("allocation")
    allocation = allocation if isinstance(allocation, dict) else {}
    complete = order = 0
    recorded = run.manifest.get("rounds_completed")
    if not trials_per_round(config):  # a capacity sweep alone: the manifest counts the rounds
        complete = recorded if isinstance(recorded, int) and recorded >= 0 else 0
        order = complete * order_slots(config)
    while trials_per_round(config):
        planned = rounds.recorded_plan(config, allocation, complete + 1, order)
        if planned is None or not {t.trial_id for t in planned} <= done:
            break
        complete += 1
        order += rounds.orders_taken(config, complete, planned)
    return ResumePoint(config, done, complete + 1, complete, dropped, order)
