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

import aiohttp

from harness import __version__, envinfo
from harness.calibrate import load_calibration
from harness.config import Config, StackSpec
from harness.errors import RunDirError, StackError
from harness.loadgen import (
    ScenarioResult,
    client_session,
    run_clients,
    run_fanout,
    single_url,
    warm_up,
)
from harness.monitor import MonitorResult, TrialMonitor
from harness.openloop import OpenLoop
from harness.plan import PlannedTrial, plan_round, trials_per_round
from harness.records import (
    SCHEMA_VERSION,
    TrialWriter,
    encode_latencies,
    latency_summary,
    write_json_atomic,
)
from harness.schedule import RateSpec
from harness.stacks import StackHandle, open_stack
from harness.tally import RateResult


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

async def _upstream_stats(session: aiohttp.ClientSession, upstream_url: str) -> dict[str, Any]:
    try:
        async with session.get(f"{upstream_url}/stats?reset=1",
                               timeout=aiohttp.ClientTimeout(total=5)) as resp:
            data = await resp.json()
            return data if isinstance(data, dict) else {}
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return {}


async def _drive(handle: StackHandle, trial: PlannedTrial) -> tuple[
        ScenarioResult | RateResult, MonitorResult, dict[str, Any]]:
    params = trial.params
    result: ScenarioResult | RateResult
    async with aiohttp.ClientSession() as control:
        await _upstream_stats(control, handle.upstream_url)
        if trial.scenario == "rate":
            # Load-generator processes start before the monitor, so it measures the load only.
            url = single_url(handle.base_url, params["delay_ms"])
            async with OpenLoop(url, RateSpec.from_params(params)) as generator:
                with TrialMonitor(handle.server.tree) as monitor:
                    result = await generator.run()
        else:
            async with client_session(params.get("clients", 1)) as session:
                with TrialMonitor(handle.server.tree) as monitor:
                    if trial.scenario == "fanout":
                        result = await run_fanout(session, handle.base_url, params["n"],
                                                  params["delay_ms"], params["timeout_s"])
                    elif trial.scenario == "clients":
                        result = await run_clients(session, handle.base_url, params["clients"],
                                                   params["delay_ms"], params["timeout_s"])
                    else:
                        raise ValueError(f"scenario {trial.scenario!r} has no driver")
        upstream = await _upstream_stats(control, handle.upstream_url)
    assert monitor.result is not None
    return result, monitor.result, upstream


# One or two scheduler slices: in a 30 ms trial that is a large share, yet a single
# preemption, not a starved load generator.
MIN_LOADGEN_WAIT_S = 0.02


def _round(value: float | None, digits: int = 4) -> float | None:
    return round(value, digits) if value is not None else None


def _checks(config: Config, mon: MonitorResult, upstream: dict[str, Any],
            result: ScenarioResult | RateResult | None = None) -> dict[str, Any]:
    """The instrument's self-checks of one trial (``config`` is for future limits).

    For a rate trial the load generator's CPU and run-queue wait are its own
    processes' (the busiest one when there are several), over the load alone.
    """
    overshoot = upstream.get("overshoot_ms") or {}
    checks: dict[str, Any] = {
        "loadgen_cpu": round(mon.loadgen_cpu_fraction, 4),
        "loadgen_wait": _round(mon.loadgen_wait_fraction),
        "loadgen_wait_s": _round(mon.loadgen_wait_s),
        "machine_cpu": _round(mon.machine_cpu_fraction),
        "machine_cpu_window_s": round(mon.wall_s, 4),
        "send_lag_ms": None,
        "upstream_requests": upstream.get("requests"),
        "upstream_max_in_flight": upstream.get("max_in_flight"),
        "upstream_overshoot_ms": {k: overshoot.get(k) for k in ("mean", "p99", "max")},
    }
    if isinstance(result, RateResult):
        checks.update(
            loadgen_cpu=round(result.loadgen_cpu, 4),
            loadgen_wait=_round(result.loadgen_wait),
            loadgen_wait_s=_round(result.loadgen_wait_s),
            loadgen_processes=result.spec.processes,
            loadgen_cpu_by_process=result.process_cpu,
            send_lag_ms=result.send_lag_ms,
            offered_requests=result.offered,
            in_flight_peak=result.in_flight_peak,
            in_flight_capped=result.in_flight_capped,
        )
    return checks


def _invalid_reason(config: Config, checks: dict[str, Any]) -> str | None:
    """Why a trial's figures cannot be trusted, load generator first; None if they can.

    A machine CPU figure of None (a window too short to measure) never invalidates;
    nor does a run-queue wait below ``MIN_LOADGEN_WAIT_S``, whatever its share.
    """
    limits = config.limits
    if checks["loadgen_cpu"] > limits.loadgen_cpu_max:
        return (f"load generator saturated: {checks['loadgen_cpu']:.0%} of a core "
                f"> limit {limits.loadgen_cpu_max:.0%}")
    wait, wait_s = checks.get("loadgen_wait"), checks.get("loadgen_wait_s")
    if (wait is not None and wait > limits.loadgen_wait_max
            and wait_s is not None and wait_s > MIN_LOADGEN_WAIT_S):
        return (f"load generator starved: waited for a CPU {wait:.0%} of the trial "
                f"> limit {limits.loadgen_wait_max:.0%}")
    lag = (checks.get("send_lag_ms") or {}).get("p99")
    if lag is not None and lag > limits.send_lag_p99_max_ms:
        return (f"load generator late: send lag p99 {lag:.1f} ms "
                f"> limit {limits.send_lag_p99_max_ms:g} ms")
    machine = checks.get("machine_cpu")
    if machine is not None and machine > limits.machine_cpu_max:
        return (f"machine CPU contention: {machine:.0%} busy "
                f"> limit {limits.machine_cpu_max:.0%}")
    p99 = checks["upstream_overshoot_ms"].get("p99")
    if p99 is not None and p99 > limits.upstream_overshoot_p99_max_ms:
        return (f"upstream late: served-delay overshoot p99 {p99:.1f} ms "
                f"> limit {limits.upstream_overshoot_p99_max_ms:g} ms")
    return None


def _latency_fields(result: ScenarioResult | RateResult) -> dict[str, Any]:
    """``latency_ms`` and ``hdr`` (a rate trial's are corrected; it adds the uncorrected)."""
    if isinstance(result, RateResult):
        return {"latency_ms": result.latency_ms, "hdr": result.hdr,
                "uncorrected_latency_ms": result.uncorrected_latency_ms}
    latencies = result.ok_latencies_s()
    hdr, hist = encode_latencies(latencies)
    return {"latency_ms": latency_summary(latencies, hist), "hdr": hdr}


def base_record(run_id: str, trial: PlannedTrial) -> dict[str, Any]:
    """The identity part of a trial record."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "trial_id": trial.trial_id,
        "round": trial.round,
        "order": trial.order,
        "scenario": trial.scenario,
        "stack": trial.stack,
        "level": trial.level,
        "params": dict(trial.params),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
    }


def failed_record(run_id: str, trial: PlannedTrial, error: str) -> dict[str, Any]:
    """A record for a trial that produced no measurement (its stack did not start or died)."""
    record = base_record(run_id, trial)
    record.update(status="failed", error=error, requests=None, latency_ms=None, metrics=None,
                  hdr=None, checks=None, resources=None)
    return record


def run_trial(config: Config, run_id: str, handle: StackHandle,
              trial: PlannedTrial) -> dict[str, Any]:
    """Run one trial against a running stack and return its record."""
    record = base_record(run_id, trial)
    result, mon, upstream = asyncio.run(_drive(handle, trial))
    if isinstance(result, RateResult):
        record["params"].update(result.spec.record_params())
    checks = _checks(config, mon, upstream, result)
    counts = result.counts()
    error = None
    status = "ok"
    try:
        handle.ensure_alive()
    except StackError as exc:
        status, error = "failed", str(exc)
    if status == "ok" and (failure := result.first_error()):
        status, error = "failed", failure
    if status == "ok" and (reason := _invalid_reason(config, checks)):
        status, error = "invalid", reason
    resources = mon.resources(counts["ok"])
    if not mon.server_processes:  # no process seen (compose, external): nothing was measured
        resources = dict.fromkeys(resources)
    record.update(
        status=status, error=error, requests=counts, **_latency_fields(result),
        metrics={k: round(v, 6) for k, v in result.metrics.items()},
        checks=checks, resources=resources,
        wall_s=round(mon.wall_s, 6),
    )
    return record


async def _warm(handle: StackHandle, config: Config) -> None:
    async with client_session(max(1, config.warmup_requests)) as session:
        await warm_up(session, handle.base_url, config.warmup_requests, config.delay_ms,
                      config.request_timeout_s)


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
                    asyncio.run(_warm(handle, config))
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
    from harness.config import config_from_resolved
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
