"""The scatter of the clients cells: every burst's throughput, and what decides it.

A clients trial in the bursts mode records each burst (``bursts`` in the record: its
duration, throughput and, where the stack's processes could be seen, the connections
each worker held at the burst's peak); a sustained trial records its steady window. Per
cell (clients, C, stack) :func:`scatter_rows` lists every burst as a point and states the
spread beside the mean:

- ``steady``: the bursts the headline counts (after the first, when a trial had several;
  a sustained trial is one point): their number, the mean as the headline computes it
  (C / mean burst time), the lowest and highest burst's throughput and the coefficient
  of variation of burst time;
- ``first``: the first bursts, apart;
- ``precision_pct``: how well the cell's mean is known, the half-width of the 95% t
  interval of its trials' mean duration in percent of that mean (trials are the samples);
- ``share``: the busiest worker's share of the C connections against burst time: its
  range, Pearson's r over the steady bursts, and for a stack with a fixed number of
  threads per worker, burst time against the share model, ceil(busiest / threads) x delay
  (the median of measured / model).

Pure functions of the ok trials and the manifest's stack settings; no I/O.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Mapping, Sequence
from typing import Any

from scipy import stats as sps

from harness.analyse.arrival import common_words, trial_arrival
from harness.analyse.cells import CellKey, is_number
from harness.analyse.metrics import sort_key

CONFIDENCE = 0.95
MIN_POINTS_FOR_R = 3
FOLLOWS_R = 0.5  # from this correlation up, burst time is said to follow the share


def _number(value: object) -> float | None:
    return float(value) if is_number(value) else None


def _table(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _points(trial: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The points one ok trial gives: each burst, or the trial itself (a sustained trial,
    or a record without bursts)."""
    metrics = _table(trial.get("metrics"))
    number = trial.get("round")
    base = {"trial_id": str(trial.get("trial_id")),
            "round": number if isinstance(number, int) and not isinstance(number, bool) else None}
    bursts = trial.get("bursts")
    if isinstance(bursts, list) and bursts and all(isinstance(b, Mapping) for b in bursts):
        points = []
        for index, burst in enumerate(bursts):
            duration, rate = _number(burst.get("duration_s")), _number(burst.get("throughput_rps"))
            if duration is None or rate is None or duration <= 0:
                continue
            points.append({**base, "burst": index + 1, "first": index == 0 and len(bursts) > 1,
                           "duration_s": duration, "throughput_rps": rate,
                           "busiest_worker": _number(burst.get("busiest_worker")),
                           "connections": _number(burst.get("connections"))})
        return points
    window = _table(trial.get("window"))
    duration, rate = _number(metrics.get("duration_s")), _number(metrics.get("throughput_rps"))
    if duration is None or rate is None or duration <= 0:
        return []
    return [{**base, "burst": None, "first": False, "duration_s": duration,
             "throughput_rps": rate, "busiest_worker": _number(window.get("busiest_worker")),
             "connections": _number(window.get("connections"))}]


def half_width_pct(values: Sequence[float], confidence: float = CONFIDENCE) -> float | None:
    """Half-width of the t interval of the mean of ``values``, in percent of the mean;
    None with fewer than 2 values or a mean of 0."""
    if len(values) < 2:
        return None
    mean = statistics.fmean(values)
    if mean == 0:
        return None
    t = float(sps.t.ppf(0.5 + confidence / 2, len(values) - 1))
    return 100 * t * statistics.stdev(values) / math.sqrt(len(values)) / abs(mean)


def _spread(points: list[dict[str, Any]], clients: int) -> dict[str, Any] | None:
    if not points:
        return None
    durations = [p["duration_s"] for p in points]
    rates = [p["throughput_rps"] for p in points]
    mean = statistics.fmean(durations)
    return {"n": len(points), "mean_rps": clients / mean, "min_rps": min(rates),
            "max_rps": max(rates), "sd_rps": statistics.stdev(rates) if len(rates) > 1 else 0.0,
            "cv_duration": statistics.stdev(durations) / mean if len(durations) > 1 else 0.0}


def per_worker_slots(spec: object) -> int | None:
    """Requests one worker of a sync stack serves at once (its threads), from the stack's
    described settings (``StackSpec.describe()``, as a manifest holds them); None for an
    async stack or settings that do not say."""
    if not isinstance(spec, Mapping) or spec.get("paradigm") != "sync":
        return None
    slots, workers = spec.get("concurrency_slots"), spec.get("workers")
    if not is_number(slots) or not is_number(workers) or workers < 1 or slots < workers:
        return None
    return int(slots) // int(workers)


def share_relation(points: list[dict[str, Any]], clients: int, slots: int | None,
                   delay_s: float | None) -> dict[str, Any] | None:
    """Burst time against the busiest worker's share over ``points`` (steady bursts with
    a recorded share); None without any. ``r`` is None below ``MIN_POINTS_FOR_R`` points
    or when either side does not vary; ``model_ratio`` (median of measured / model) is
    None without ``slots`` or ``delay_s``."""
    seen = [p for p in points if p["busiest_worker"] is not None]
    if not seen:
        return None
    busiest = [p["busiest_worker"] for p in seen]
    durations = [p["duration_s"] for p in seen]
    r = None
    if len(seen) >= MIN_POINTS_FOR_R:
        try:
            r = statistics.correlation(busiest, durations)
        except statistics.StatisticsError:  # one side constant
            r = None
    ratio = None
    if slots and delay_s:
        ratios = [d / (math.ceil(b / slots) * delay_s) for b, d in zip(busiest, durations,
                                                                       strict=True) if b > 0]
        ratio = statistics.median(ratios) if ratios else None
    return {"n": len(seen), "of": clients, "min": min(busiest), "max": max(busiest),
            "r": r, "slots_per_worker": slots, "delay_s": delay_s, "model_ratio": ratio}


def _delay_s(trials: list[Mapping[str, Any]]) -> float | None:
    delays = {(t.get("params") or {}).get("delay_ms") for t in trials
              if isinstance(t.get("params"), Mapping)}
    delay = delays.pop() if len(delays) == 1 else None
    return delay / 1000 if is_number(delay) and delay > 0 else None


def scatter_rows(ok: Mapping[CellKey, list[Mapping[str, Any]]],
                 config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per clients cell with ok trials (see the module), sorted like the cells."""
    specs = _table(config.get("stacks"))
    rows = []
    for key in sorted(ok, key=sort_key):
        scenario, level, stack = key
        if scenario != "clients":
            continue
        trials = ok[key]
        points = [p for t in trials for p in _points(t)]
        if not points:
            continue
        steady = [p for p in points if not p["first"]]
        first = [p for p in points if p["first"]]
        plans = {trial_arrival(t.get("params")) for t in trials}
        modes = {p.arrival.mode for p in plans if p is not None}
        durations = [float(t["metrics"]["duration_s"]) for t in trials
                     if is_number((t.get("metrics") or {}).get("duration_s"))]
        rows.append({
            "scenario": scenario, "level": level, "stack": stack,
            "mode": modes.pop() if len(modes) == 1 else None,
            "arrival": common_words(trials),
            "trials": len(trials),
            "points": points,
            "steady": _spread(steady, level),
            "first": _spread(first, level),
            "precision_pct": half_width_pct(durations),
            "share": share_relation(steady, level, per_worker_slots(specs.get(stack)),
                                    _delay_s(trials)),
        })
    return rows


def share_sentence(row: Mapping[str, Any]) -> str | None:
    """What the busiest worker's share says about a cell's burst times, in a sentence
    (None when no share was recorded)."""
    share = row.get("share")
    if not share:
        return None
    held = (f"{row['stack']} at C = {row['level']}: the busiest worker held "
            f"{share['min']:.0f} to {share['max']:.0f} of {share['of']} connections over "
            f"{share['n']} bursts")
    if share["r"] is None:
        return held + " (too few, or too alike, to relate to burst time)."
    follows = "follows" if share["r"] >= FOLLOWS_R else "does not follow"
    said = f"{held}; burst time {follows} that share (r = {share['r']:.2f})"
    if share["model_ratio"] is not None:
        said += (f", at {share['model_ratio']:.2f}x the model ceil(share / "
                 f"{share['slots_per_worker']}) x delay (median)")
    return said + "."
