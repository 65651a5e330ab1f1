"""From a loaded run folder to the summary dict, the only input of the report.

The summary is plain JSON data (no NaN, no infinity: a missing or undefined
number is ``None``), and deterministic: the same run folder always gives the
same ``json.dumps(summary, sort_keys=True)``. Lists are sorted by scenario
(fanout, clients, rate, then others by name), level, stack and metric; the
bootstrap of each cell is seeded from the manifest's seed plus the CRC-32 of the
cell key; nothing depends on the clock or on ``hash()``.

Shape (``schema_version`` 1)::

    schema_version, run_id, baseline, confidence
    counts     {ok, failed, invalid, skipped_lines}
    excluded   [{status, reason, count}]            failed/invalid trials by reason
    warnings   [str]                                in the order they were found
    cells      [{scenario, level, stack, metric, n, mean, median, sd, min, max}]
    latency    [{scenario, level, stack, n, p50_mean, p90_mean, p99_mean, p999_mean,
                 pooled: {p50, p90, p99, p999, max} | None}]
    spectrum   [{scenario, level, stack, percentiles, nines, corrected_ms,
                 uncorrected_ms | None}]            rate cells only
    family     {headline_tests, split_tests, interpreter_tests, exploratory_tests,
                adjustment, familywise_confidence, equivalence_pct}
    speedups   [{scenario, level, stack, baseline, metric, ratio, ci_low, ci_high,
                 method, n_stack, n_baseline, p_value, verdict, magnitude,
                 higher_is_better, headline, bootstrap: {ci_low, ci_high, method} | None,
                 family, confidence, adjustment, p_adjusted, verdict_why, trials_needed,
                 attrition, estimated_from}]
    split      [{scenario, level, suffix, sync_home, sync_shared, async_home, async_shared,
                 metric, server_factor, parts: [{part, stack, compared_with, metric, ratio,
                 ci_low, ci_high, method, n_stack, n_compared, confidence, p_adjusted,
                 verdict, verdict_why, magnitude, attrition}]}]
                                                    server or paradigm (``analyse.split``)
    interpreters [{scenario, level, base, python, stack, compared_with, metric, ratio,
                 ci_low, ci_high, ...}]           each stack@LABEL against the default's
    model      [{scenario, level, stack, metric, expected, measured, efficiency, flagged}]
    headlines  [{scenario, level, stack, metric, ratio, ci_low, ci_high, verdict,
                 magnitude, arrival, sentence}]
    bursts     [{scenario, level, stack, mode, arrival, trials, points: [{trial_id, round,
                 burst, first, duration_s, throughput_rps, busiest_worker, connections}],
                 steady, first: {n, mean_rps, min_rps, max_rps, sd_rps, cv_duration} | None,
                 precision_pct, share: {n, of, min, max, r, slots_per_worker, delay_s,
                 model_ratio} | None}]              clients cells (``analyse.bursts``)
    checks     [{scenario, stack, trials, invalid, ..., little_off, little_ratio_min}]
    saturation [{stack, sustained_rps, saturation_rps, levels}]       rate scenario
    capacity   [{stack, label, unloaded_ms, p99_multiple, bound_ms, served_min, cpus,
                 rungs: [{rate, n, served_rps, served_share, timed_out_share, p99_ms,
                 within}], knee: {status, estimate, low, high, last_within,
                 first_saturated, limit, confidence}, sentence}]    capacity sweep
    usl        [{stack, label, levels, points, lam, sigma, kappa, peak_n, peak_x,
                 sigma_ci, kappa_ci, peak_n_ci, peak_x_ci, slots, cpus,
                 cpu_ms_per_request, cpu_bound_rps, delay_ms, model, sentence}]  clients
    precision  {allocation, target_ci, met, widest, trial_s,
                cells: [{scenario, level, stack, baseline, n_stack, n_baseline, trials_stack,
                         trials_baseline, last_round, width, met, why}],
                fixed: {rounds, trial_s, rounds_widest, trial_s_widest} | None}

A clients speedup and headline carry ``arrival``: how the clients arrived, in words
(``analyse.arrival``), both arms' when they differ; None where it is not recorded alike.
A rate cell whose stack served less than 95% of the offered rate gives its latency
comparisons the verdict ``saturated`` (``analyse.capacity``); capacity trials are never
compared with the baseline (their rates differ per stack): their result is the knee.

``family`` (``analyse.family``) is ``headline`` or ``exploratory``; a headline entry's
interval is family-wise (built at ``confidence``, Bonferroni over the headline tests)
and ``p_adjusted`` is its Bonferroni-adjusted p-value; ``verdict`` is one word of
``verdicts.VOCABULARY`` and ``verdict_why`` says why when the interval does not.
``precision`` (``analyse.precision``) holds each headline cell's width against the run's
``target_ci`` (null without one), its trials and why it stopped, and the trial-seconds
spent against a fixed plan giving the same widths.

Only ``ok`` trials are samples. Per-trial latency percentiles are averaged
across trials; the ``pooled`` percentiles come from the trials' merged HDR
histograms and are for display only (requests inside a trial are not
independent samples).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from typing import Any

from harness.analyse import family, interpreters, pairs, split, stats, verdicts
from harness.analyse.arrival import common_words, pair_words
from harness.analyse.bursts import scatter_rows
from harness.analyse.capacity import capacity_rows, saturated_cells, saturation_verdicts
from harness.analyse.cells import (
    NO_TRIALS,
    Attrition,
    CellKey,
    MetricKey,
    attrition,
    cell_key,
    cell_seed,
    finite,
    group_ok,
    is_number,
    metric_values,
    where,
)
from harness.analyse.concurrency import usl_rows
from harness.analyse.instrument import check_summary, saturation
from harness.analyse.latency import merged_histogram, spectrum
from harness.analyse.metrics import HEADLINE_METRICS, is_higher_better, level_label, sort_key
from harness.analyse.model import model_rows
from harness.analyse.precision import given_up_stacks, precision_section
from harness.analyse.sentences import headline_sentence
from harness.config.ladder import CAPACITY
from harness.errors import RunDirError
from harness.rundir.format import PERCENTILES
from harness.rundir.reader import Run

SUMMARY_SCHEMA_VERSION = 1
DEFAULT_BASELINE = "flask-gunicorn"
DEFAULT_CONFIDENCE = 0.95
DEFAULT_MIN_EFFICIENCY = 0.5



def summarise(run: Run, baseline: str | None = None) -> dict[str, Any]:
    """Summarise a loaded run: descriptive cells, speedups with CIs, model, headlines.

    Raises:
        RunDirError: the manifest's config holds an unusable baseline, confidence
            or model_min_efficiency.
    """
    config = run.manifest["config"]
    configured, confidence, min_efficiency, equivalence_pct = _settings(config)
    # Any measured stack may serve as the baseline of a re-analysis; the run's is the default.
    chosen = baseline
    baseline = baseline or configured
    warnings: list[str] = [
        f"trials.jsonl line {line} skipped: {reason}" for line, reason in run.skipped_lines
    ]
    statuses = Counter(trial["status"] for trial in run.trials)
    ok = group_ok(run.trials)
    seen = sorted({cell_key(trial) for trial in run.trials}, key=sort_key)
    if not ok:
        warnings.append("no ok trials: nothing to summarise")
    if run.trials and not any(stack == baseline for _, _, stack in seen):
        warnings.append(f"baseline stack {baseline!r} does not appear in the trials")
    for key in seen:
        if key[0] == CAPACITY:  # rungs are not compared: they need no interval
            continue
        n = len(ok.get(key, []))
        if n < stats.MIN_TRIALS_FOR_CI:
            warnings.append(
                f"{where(key)}: {n} ok trial(s), fewer than {stats.MIN_TRIALS_FOR_CI}: "
                "no confidence interval"
            )

    values = metric_values(ok, warnings)
    cells = [
        {"scenario": s, "level": lv, "stack": st, "metric": m, **asdict(stats.describe(xs))}
        for (s, lv, st, m), xs in sorted(values.items(), key=lambda kv: sort_key(kv[0]))
    ]
    baseline_of = _baselines(config, {st for _, _, st in seen}, chosen, configured)
    lost_at = attrition(run.trials)
    # A capacity sweep's rungs differ per stack: its result is each stack's knee, not a ratio.
    comparable = [key for key in seen if key[0] != CAPACITY]
    # Pairs beside the baseline's: the server/paradigm split and the interpreters.
    splits = split.split_cells(comparable)
    python_pairs = interpreters.interpreter_pairs(comparable)
    compared = [(sc, lv, st, against) for sc, lv, st in comparable
                if (against := baseline_of.get(st)) not in (None, st)]
    split_tests = pairs.new_tests(split.pair_keys(splits), compared)
    extra_tests = pairs.new_tests(split.pair_keys(splits) | set(python_pairs), compared)
    speedups = _speedups(comparable, values, baseline_of, (confidence, equivalence_pct),
                         run.manifest["seed"], lost_at, warnings, extra_tests)
    _name_arrivals(speedups, ok)
    saturation_verdicts(speedups, saturated_cells(ok))
    headline_tests = family.family_size(
        (sp["scenario"], sp["level"], sp["stack"], sp["metric"]) for sp in speedups) + extra_tests
    levels = pairs.Levels(confidence, headline_tests, equivalence_pct, run.manifest["seed"])
    summary = {
        "schema_version": SUMMARY_SCHEMA_VERSION,
        "run_id": run.manifest["run_id"],
        "baseline": baseline,
        "confidence": confidence,
        "counts": {
            "ok": statuses["ok"],
            "failed": statuses["failed"],
            "invalid": statuses["invalid"],
            "skipped_lines": run.skipped_total,
        },
        "excluded": _excluded(run.trials),
        "warnings": warnings,
        "cells": cells,
        "latency": _latency(ok, warnings),
        "spectrum": spectrum(ok, warnings),
        "family": {
            "headline_tests": headline_tests,
            "split_tests": split_tests,
            "interpreter_tests": extra_tests - split_tests,
            "exploratory_tests": sum(sp["family"] == family.EXPLORATORY for sp in speedups),
            "adjustment": family.ADJUSTMENT,
            "familywise_confidence": confidence,
            "equivalence_pct": equivalence_pct,
        },
        "speedups": speedups,
        "split": split.split_rows(splits, values, lost_at, levels),
        "interpreters": interpreters.interpreter_rows(python_pairs, values, lost_at, levels),
        "model": model_rows(values, config, min_efficiency, warnings),
        "headlines": [_headline(sp, confidence) for sp in speedups if sp["headline"]],
        "checks": check_summary(run.trials),
        "saturation": saturation(cells),
        "bursts": scatter_rows(ok, config),
        "capacity": capacity_rows(run.trials, config, confidence, run.manifest["seed"],
                                  warnings),
        "usl": usl_rows(values, ok, config, confidence, run.manifest["seed"], warnings),
    }
    target = config.get("target_ci")
    summary["precision"] = precision_section(
        summary, run.trials, float(target) if is_number(target) and target > 0 else None,
        run.manifest.get("stop_reason"), str(config.get("allocation", "fixed")),
        given_up_stacks(run.manifest.get("stacks_given_up")))
    return summary


def _name_arrivals(speedups: list[dict[str, Any]],
                   ok: Mapping[CellKey, list[Mapping[str, Any]]]) -> None:
    """Give every clients speedup the arrival of its arms, in words (None elsewhere)."""
    for sp in speedups:
        if sp["scenario"] != "clients":
            sp["arrival"] = None
            continue
        words = [common_words(ok.get((sp["scenario"], sp["level"], stack), []))
                 for stack in (sp["stack"], sp["baseline"])]
        sp["arrival"] = pair_words(words[0], sp["baseline"], words[1])


def _settings(config: Mapping[str, Any]) -> tuple[str, float, float, float]:
    equivalence = config.get("equivalence_pct", verdicts.DEFAULT_EQUIVALENCE_PCT)
    if not is_number(equivalence) or not 0 < equivalence < 100:
        raise RunDirError(
            f"manifest config: equivalence_pct must be in (0, 100), got {equivalence!r}")
    baseline = config.get("baseline", DEFAULT_BASELINE)
    confidence = config.get("confidence", DEFAULT_CONFIDENCE)
    min_eff = config.get("model_min_efficiency", DEFAULT_MIN_EFFICIENCY)
    if not isinstance(baseline, str) or not baseline:
        raise RunDirError(f"manifest config: baseline must be a stack name, got {baseline!r}")
    if not is_number(confidence) or not 0 < confidence < 1:
        raise RunDirError(f"manifest config: confidence must be in (0, 1), got {confidence!r}")
    if not is_number(min_eff) or min_eff < 0:
        raise RunDirError(f"manifest config: model_min_efficiency must be >= 0, got {min_eff!r}")
    return baseline, float(confidence), float(min_eff), float(equivalence)


def _excluded(trials: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    counts: Counter[tuple[str, str]] = Counter()
    for trial in trials:
        if trial["status"] != "ok":
            error = trial.get("error")
            reason = error if isinstance(error, str) and error else "no reason recorded"
            counts[(trial["status"], reason)] += 1
    return [
        {"status": status, "reason": reason, "count": count}
        for (status, reason), count in sorted(counts.items())
    ]


def _latency(
    ok: Mapping[CellKey, list[Mapping[str, Any]]], warnings: list[str]
) -> list[dict[str, Any]]:
    rows = []
    for key in sorted(ok, key=sort_key):
        with_latency = [t for t in ok[key] if isinstance(t.get("latency_ms"), dict)]
        if not with_latency:
            continue
        row: dict[str, Any] = {"scenario": key[0], "level": key[1], "stack": key[2]}
        row["n"] = len(with_latency)
        for name, _ in PERCENTILES:
            xs = [t["latency_ms"].get(name) for t in with_latency]
            nums = [float(x) for x in xs if is_number(x)]
            row[f"{name}_mean"] = float(sum(nums) / len(nums)) if nums else None
        row["pooled"] = _pooled(ok[key], warnings)
        rows.append(row)
    return rows


def _pooled(trials: Iterable[Mapping[str, Any]], warnings: list[str]) -> dict[str, Any] | None:
    """Percentiles (ms) of the trials' merged HDR histograms; None without any."""
    merged = merged_histogram(trials, "hdr", warnings)
    if merged.get_total_count() == 0:
        return None
    pooled = {name: merged.get_value_at_percentile(pct) / 1000.0 for name, pct in PERCENTILES}
    pooled["max"] = merged.get_max_value() / 1000.0
    return pooled


def _speedups(
    seen: list[CellKey],
    values: Mapping[MetricKey, list[float]],
    baseline_of: Mapping[str, str | None],
    levels: tuple[float, float],
    seed: int,
    lost_at: Mapping[CellKey, Attrition],
    warnings: list[str],
    extra_tests: int = 0,
) -> list[dict[str, Any]]:
    """Every stack against its baseline (one stack, or per workload variant the
    baseline's variant at the same workload), per cell and metric; ``extra_tests`` more
    headline tests (the server/paradigm split's) widen the family."""
    confidence, equivalence_pct = levels
    metrics_at: dict[tuple[str, int], set[str]] = defaultdict(set)
    for scenario, level, _, metric in values:
        metrics_at[(scenario, level)].add(metric)
    stacks_at: dict[tuple[str, int, str], list[str]] = defaultdict(list)
    for scenario, level, stack in seen:
        baseline = baseline_of.get(stack)
        if baseline is not None and stack != baseline:
            stacks_at[(scenario, level, baseline)].append(stack)
    unknown: set[str] = set()
    planned: list[tuple[MetricKey, str]] = []
    for (scenario, level, baseline), stacks in stacks_at.items():
        if not any(k[:3] == (scenario, level, baseline) for k in values):
            warnings.append(
                f"baseline {baseline!r} has no ok trials at {scenario} "
                f"{level_label(scenario, level)}: no speedups there"
            )
        for stack in stacks:
            for metric in sorted(metrics_at[(scenario, level)]):
                try:
                    is_higher_better(metric)
                except ValueError:
                    unknown.add(metric)
                    continue
                planned.append(((scenario, level, stack, metric), baseline))
    size = family.family_size(key for key, _ in planned) + extra_tests
    rows = []
    for key, baseline in planned:
        scenario, level, stack, metric = key
        # A rate of the same trials is estimated from their durations (a rate of means).
        source = family.basis_in(metric, metrics_at[(scenario, level)])
        fam = family.family_of(scenario, metric)
        sp = stats.speedup(
            values.get((scenario, level, stack, source), []),
            values.get((scenario, level, baseline, source), []),
            is_higher_better(source),
            family.entry_confidence(fam, confidence, size),
            cell_seed(seed, key),
        )
        if sp.note:
            warnings.append(f"{where(key[:3])}, {metric}: {sp.note}")
        lost = family.attrition_note(
            stack, lost_at.get(key[:3], NO_TRIALS), baseline,
            lost_at.get((scenario, level, baseline), NO_TRIALS), confidence)
        row = _speedup_row(key, baseline, is_higher_better(metric), sp)
        row.update(family.verdict_fields(sp, scenario, metric, confidence, size,
                                         equivalence_pct, lost))
        rows.append(row)
    warnings.extend(
        f"metric {metric!r} has no known orientation: no speedup computed"
        for metric in sorted(unknown)
    )
    return rows


def _baselines(config: Mapping[str, Any], stacks: Iterable[str], chosen: str | None,
               configured: str) -> dict[str, str | None]:
    """Each stack's baseline: the one chosen for a re-analysis, else the sweep's pairing
    (a workload sweep compares variants at equal workload), else the config's pairs of
    like variants (``NAME[settings]`` against the baseline's ``[settings]``), else the
    configured one."""
    if chosen is not None:
        return dict.fromkeys(stacks, chosen)
    sweep = config.get("sweep")
    paired = sweep.get("baselines") if isinstance(sweep, Mapping) else config.get("baselines")
    if not isinstance(paired, Mapping):
        return dict.fromkeys(stacks, configured)
    return {stack: paired.get(stack, configured) for stack in stacks}


def _speedup_row(
    key: MetricKey, baseline: str, higher: bool, sp: stats.Speedup
) -> dict[str, Any]:
    scenario, level, stack, metric = key
    boot = None
    if sp.bootstrap is not None:
        boot = {
            "ci_low": finite(sp.bootstrap.low),
            "ci_high": finite(sp.bootstrap.high),
            "method": sp.bootstrap.method,
        }
    return {
        "scenario": scenario,
        "level": level,
        "stack": stack,
        "baseline": baseline,
        "metric": metric,
        "ratio": finite(sp.ratio),
        "ci_low": finite(sp.low),
        "ci_high": finite(sp.high),
        "method": sp.method,
        "n_stack": sp.n_stack,
        "n_baseline": sp.n_baseline,
        "p_value": finite(sp.p_value),
        "higher_is_better": higher,
        "headline": HEADLINE_METRICS.get(scenario) == metric,
        "bootstrap": boot,
    }


def _headline(sp: Mapping[str, Any], confidence: float) -> dict[str, Any]:
    fields = ("scenario", "level", "stack", "metric", "ratio", "ci_low", "ci_high")
    row = {name: sp[name] for name in fields}
    row.update(verdict=sp["verdict"], verdict_why=sp["verdict_why"], magnitude=sp["magnitude"],
               attrition=sp["attrition"], confidence=sp["confidence"], arrival=sp["arrival"])
    row["sentence"] = headline_sentence(sp, confidence)
    return row
