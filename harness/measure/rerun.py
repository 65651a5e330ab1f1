"""Rerun one recorded trial: rebuild it from the run folder alone, run it again K times.

Flow: run folder (manifest config + the trial's record) -> the same stack and
parameters -> a fresh stack from the config's target, warmed up as the runner
warms it -> K trials -> their records in ``RUN_DIR/reruns/<trial_id>-<timestamp>.jsonl``
(never the run's own ``trials.jsonl``) -> the original against the reruns, metric
by metric.

Whether the original agrees is reported, never raised: the comparison is data
(:func:`compare_to_reruns`, pure), and only the CLI prints it.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import math
import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import __version__, safefs
from harness.analyse import stats
from harness.analyse.metrics import HEADLINE_METRICS, metric_title
from harness.config.arrival import TrialArrival
from harness.config.load import config_from_resolved
from harness.config.schema import SCENARIOS, Config
from harness.errors import ConfigError, RunDirError, StackError
from harness.loadgen.engines import open_engine, worker_placement
from harness.measure import envinfo, headroom
from harness.measure.manifest import interpreter_version
from harness.measure.plan import PlannedTrial
from harness.measure.trial import failed_record, run_trial
from harness.measure.trial import warm as warm_like_the_runner
from harness.rundir.format import LOGS_DIR, MANIFEST_NAME, PIDS_NAME, RERUNS_DIR, TRIALS_NAME
from harness.rundir.reader import load_run
from harness.rundir.writer import TrialWriter
from harness.targets import interpreters, leftovers, open_stack, roles_on_hosts

DEFAULT_REPEAT = 5


@dataclass(frozen=True)
class RerunTarget:
    """A recorded trial and everything needed to run it again, read from its run folder."""

    run_dir: Path
    manifest: dict[str, Any]
    config: Config
    original: dict[str, Any]
    trial: PlannedTrial

    @property
    def trial_id(self) -> str:
        """The original trial's id."""
        return str(self.original["trial_id"])


@dataclass(frozen=True)
class MetricAgreement:
    """One metric: the original value beside the reruns' distribution.

    ``ratio`` is ``original / mean``; ``within_range`` says whether the original lies
    in ``[min, max]`` of the reruns and ``within_2sd`` in ``mean ± 2 sd``. Each is
    ``None`` when it cannot be computed (no original value, no ok rerun, or fewer
    than two reruns for the sd).
    """

    metric: str
    headline: bool
    original: float | None
    n: int
    mean: float | None
    sd: float | None
    min: float | None
    max: float | None
    ratio: float | None
    within_range: bool | None
    within_2sd: bool | None


@dataclass(frozen=True)
class RerunComparison:
    """The original trial against its reruns (ok reruns only are samples)."""

    trial_id: str
    original_status: str
    reruns: int
    reruns_ok: int
    rerun_errors: list[str]
    metrics: list[MetricAgreement]

    @property
    def headline(self) -> MetricAgreement | None:
        """The row of the scenario's headline metric, if the trial has it."""
        return next((m for m in self.metrics if m.headline), None)


@dataclass(frozen=True)
class RerunOutcome:
    """What a rerun did: where its records went and how they compare."""

    target: RerunTarget
    records_path: Path
    records: list[dict[str, Any]]
    comparison: RerunComparison


# --- from the records alone ---------------------------------------------------------------

def planned_from_record(record: Mapping[str, Any]) -> PlannedTrial:
    """The PlannedTrial a record was run from: identity and the parameters it stored.

    Raises:
        RunDirError: the record lacks a usable round, order or params.
    """
    round_no, order, params = record.get("round"), record.get("order"), record.get("params")
    if not isinstance(round_no, int) or not isinstance(order, int) or not isinstance(params, dict):
        raise RunDirError(f"trial {record.get('trial_id')!r}: record lacks round, order or "
                          "params; cannot rebuild it")
    if record.get("scenario") == "clients":
        try:  # the driver reads it: refuse a hostile one here, in one line
            TrialArrival.from_params(params)
        except ConfigError as exc:
            raise RunDirError(f"trial {record.get('trial_id')!r}: {exc}; cannot rerun it") \
                from None
    repeat = record.get("repeat", 1)  # an adaptive round's second trial of a cell: 2
    return PlannedTrial(round_no, order, str(record["stack"]), str(record["scenario"]),
                        int(record["level"]), dict(params),
                        repeat if isinstance(repeat, int) and repeat >= 1 else 1)


def load_target(run_dir: Path, trial_id: str) -> RerunTarget:
    """Read ``run_dir`` and find ``trial_id``; everything comes from the folder's files.

    Raises:
        RunDirError: not a run folder, no such trial, or a trial that cannot be rerun.
        ConfigError: the manifest's config cannot be rebuilt.
    """
    run = load_run(run_dir)
    original = next((t for t in run.trials if t["trial_id"] == trial_id), None)
    if original is None:
        known = sorted(str(t["trial_id"]) for t in run.trials)
        hint = f" (e.g. {known[0]})" if known else " (it has no trials)"
        raise RunDirError(f"{run_dir}: no trial {trial_id!r} in {TRIALS_NAME}{hint}")
    if original["scenario"] not in SCENARIOS:
        raise RunDirError(f"trial {trial_id}: unknown scenario {original['scenario']!r}; "
                          "cannot rerun it")
    try:
        config = config_from_resolved(run.manifest["config"])
        config.stack(str(original["stack"]))
    except ConfigError as exc:
        raise ConfigError(f"{run_dir / MANIFEST_NAME}: {exc}") from None
    return RerunTarget(run_dir, run.manifest, config, original, planned_from_record(original))


def current_identity() -> dict[str, str]:
    """This machine's and this harness's ids, as a manifest records them."""
    lock = envinfo.lock_hash()
    return {"harness_version": __version__, "lock_hash": str(lock),
            "compat_id": envinfo.compat_id(__version__, lock),
            "machine_id": envinfo.machine_fingerprint(envinfo.collect_environment())}


def environment_warnings(manifest: Mapping[str, Any], now: Mapping[str, str]) -> list[str]:
    """One line for each way ``now`` (see :func:`current_identity`) differs from the run."""
    warnings = []
    if manifest.get("compat_id") != now["compat_id"]:
        warnings.append(
            f"compat id differs: the run was made with {manifest.get('compat_id')} (harness "
            f"{manifest.get('harness_version')}, lock {str(manifest.get('lock_hash'))[:12]}), "
            f"this is {now['compat_id']} (harness {now['harness_version']}, lock "
            f"{now['lock_hash'][:12]}): other code or packages")
    if manifest.get("machine_id") != now["machine_id"]:
        env = manifest.get("environment") or {}
        warnings.append(
            f"machine differs: the run was made on {manifest.get('machine_id')} "
            f"({env.get('hostname')}, {env.get('cpu_model')}, {env.get('cpu_count')} CPUs), "
            f"this is {now['machine_id']}")
    return warnings


# --- running ------------------------------------------------------------------------------

def records_path(run_dir: Path, trial_id: str, now: dt.datetime | None = None) -> Path:
    """A new ``reruns/<trial_id>-<UTC timestamp>.jsonl`` path that does not exist yet."""
    now = now or dt.datetime.now(dt.UTC)
    folder = safefs.ensure_dir(run_dir / RERUNS_DIR)  # never through a link
    safe_id = re.sub(r"[^A-Za-z0-9._-]+", "-", trial_id).strip(".-") or "trial"
    stem = f"{safe_id}-{now:%Y%m%dT%H%M%SZ}"
    for suffix in ["", *(f"-{i}" for i in range(2, 100))]:
        path = folder / f"{stem}{suffix}.jsonl"
        if not safefs.check_regular(path):
            return path
    raise RunDirError(f"{folder}: too many reruns named {stem}")


def _mark(record: dict[str, Any], target: RerunTarget, index: int, repeat: int,
          identity: Mapping[str, str]) -> dict[str, Any]:
    record["trial_id"] = f"{target.trial_id}-rerun{index:02d}"
    record["rerun"] = {"of": target.trial_id, "index": index, "repeat": repeat,
                       "harness_version": identity["harness_version"],
                       "compat_id": identity["compat_id"], "machine_id": identity["machine_id"]}
    return record


def run_reruns(target: RerunTarget, repeat: int, *, identity: Mapping[str, str] | None = None,
               on_record: Callable[[dict[str, Any]], None] | None = None) -> RerunOutcome:
    """Start the trial's stack fresh, warm it up, run the trial ``repeat`` times.

    Each record is written (and flushed) to a new file under ``reruns/`` as it
    ends. A failed rerun restarts the stack for the next one, as the runner does.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    identity = identity or current_identity()
    config, spec = target.config, target.config.stack(target.trial.stack)
    run_id = str(target.manifest["run_id"])
    path = records_path(target.run_dir, target.trial_id)
    log_dir = path.parent / LOGS_DIR
    records: list[dict[str, Any]] = []

    # The interpreter the stack runs under now (its environment must exist), as a manifest
    # would record it: every rerun record carries its version.
    now = {"target": config.target, "environment": envinfo.collect_python(),
           "pythons": {label: found.describe() for label, found in
                       interpreters.resolve_all(config.pythons).items()}}
    python = interpreter_version(now, spec)

    def keep(record: dict[str, Any]) -> None:
        record["python"] = python
        writer.write(_mark(record, target, len(records) + 1, repeat, identity))
        records.append(record)
        if on_record is not None:
            on_record(record)

    headroom.raise_open_files()  # as the run did, before its stack starts
    # The recorded placement and hosts apply to the rerun's stack too.
    stack_cpus, harness_cpus = config.placement.resolve(os.sched_getaffinity(0))
    upstream_cpus = config.placement.resolve_upstream(os.sched_getaffinity(0))
    with TrialWriter(path) as writer, leftovers.recording(target.run_dir / PIDS_NAME), \
            roles_on_hosts(config) as sites, \
            open_engine(config.loadgen, harness_cpus, log_dir,
                        worker_placement(sites)) as engine:
        while len(records) < repeat:
            try:
                # The original run's CPU-work calibration, so cpu_ms means the same work.
                cpu_iterations = (target.manifest.get("cpu_work") or {}).get("iterations_per_ms")
                with open_stack(config, spec, log_dir, stack_cpus,
                                cpu_iterations_per_ms=cpu_iterations, sites=sites,
                                upstream_cpus=upstream_cpus) as handle:
                    if config.warmup_requests:
                        asyncio.run(warm_like_the_runner(handle, config, engine))
                    while len(records) < repeat:
                        record = run_trial(config, run_id, handle, target.trial, engine)
                        keep(record)
                        if record["status"] == "failed":
                            break  # start the stack afresh for the next rerun
            except StackError as exc:
                keep(failed_record(run_id, target.trial, str(exc)))
    comparison = compare_to_reruns(target.original, records)
    return RerunOutcome(target, path, records, comparison)


# --- comparing (pure) ---------------------------------------------------------------------

def _number(value: object) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def agreement(metric: str, original: float | None, values: Sequence[float],
              headline: bool = False) -> MetricAgreement:
    """Where ``original`` lies against ``values`` (the reruns' values of ``metric``)."""
    if not values:
        return MetricAgreement(metric, headline, original, 0, None, None, None, None, None,
                               None, None)
    d = stats.describe(values)
    ratio = original / d.mean if original is not None and d.mean != 0 else None
    in_range = d.min <= original <= d.max if original is not None else None
    in_2sd = (abs(original - d.mean) <= 2 * d.sd
              if original is not None and d.n >= stats.MIN_TRIALS_FOR_CI else None)
    return MetricAgreement(metric, headline, original, d.n, d.mean,
                           d.sd if d.n >= 2 else None, d.min, d.max, ratio, in_range, in_2sd)


def compare_to_reruns(original: Mapping[str, Any],
                      reruns: Sequence[Mapping[str, Any]]) -> RerunComparison:
    """The original record's metrics against the ok reruns' (headline metric first)."""
    ok = [r for r in reruns if r.get("status") == "ok" and isinstance(r.get("metrics"), dict)]
    recorded = original.get("metrics")
    original_metrics: Mapping[str, Any] = recorded if isinstance(recorded, dict) else {}
    names = set(original_metrics)
    for r in ok:
        names.update(r["metrics"])
    headline = HEADLINE_METRICS.get(str(original.get("scenario")))
    rows = []
    for metric in sorted(names, key=lambda m: (m != headline, m)):
        values = [v for r in ok if (v := _number(r["metrics"].get(metric))) is not None]
        rows.append(agreement(metric, _number(original_metrics.get(metric)), values,
                              metric == headline))
    errors = sorted({f"{r.get('status')}: {r.get('error')}" for r in reruns
                     if r.get("status") != "ok"})
    return RerunComparison(str(original.get("trial_id")), str(original.get("status")),
                           len(reruns), len(ok), errors, rows)


# --- rendering (pure text; the CLI prints it) ---------------------------------------------

def _fmt(value: float | None) -> str:
    return "-" if value is None else f"{value:.5g}"


def _yes(value: bool | None) -> str:
    return "-" if value is None else ("yes" if value else "NO")


def render_comparison(comparison: RerunComparison) -> str:
    """The original against the reruns as a plain-text table, headline metric marked ``*``."""
    header = (f"{'metric':<24} {'original':>10} {'reruns mean':>12} {'min':>10} {'max':>10} "
              f"{'orig/mean':>10} {'in min..max':>12} {'in mean±2sd':>12}")
    lines = [header, "-" * len(header)]
    for m in comparison.metrics:
        name = f"{metric_title(m.metric)} *" if m.headline else metric_title(m.metric)
        ratio = f"{m.ratio:.3f}" if m.ratio is not None else "-"
        lines.append(f"{name:<24} {_fmt(m.original):>10} {_fmt(m.mean):>12} {_fmt(m.min):>10} "
                     f"{_fmt(m.max):>10} {ratio:>10} {_yes(m.within_range):>12} "
                     f"{_yes(m.within_2sd):>12}")
    lines.append("* headline metric; statistics over the ok reruns "
                 f"({comparison.reruns_ok} of {comparison.reruns})")
    return "\n".join(lines)


def agreement_sentence(comparison: RerunComparison) -> str:
    """One line: does the original's headline value lie within the reruns' spread?"""
    m = comparison.headline
    if m is None or m.original is None:
        return (f"the original trial ({comparison.original_status}) has no headline value "
                "to reproduce")
    if m.mean is None:
        return "no headline value to compare it with: no rerun was ok"
    caveat = ("" if comparison.original_status == "ok"
              else f" (the original was recorded {comparison.original_status})")
    spread = (f"{'within' if m.within_range else 'outside'} the reruns' range "
              f"{_fmt(m.min)}..{_fmt(m.max)}")
    if m.within_2sd is not None and m.sd is not None:
        spread += (f" and {'within' if m.within_2sd else 'outside'} mean ± 2 sd "
                   f"({_fmt(m.mean)} ± {_fmt(2 * m.sd)})")
    ratio = f"{m.ratio:.3f}" if m.ratio is not None else "-"
    return (f"{metric_title(m.metric)}: original {_fmt(m.original)}{caveat} is {spread}; "
            f"original/mean = {ratio}")
