"""Cells: the ok trials of one (scenario, level, stack), and the values of each metric in
them. The summary and the comparison of two runs both read a run through here.

A value enters a cell only when it is a positive finite number; anything else is left
out with a warning naming the trial. Server resources (``metrics.RESOURCE_METRICS``) are
values like any metric, when the record measured them (null for servers the harness did
not start).
"""

from __future__ import annotations

import math
import zlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeGuard

from harness.analyse.metrics import HEADLINE_METRICS, RESOURCE_METRICS, level_label, sort_key

CellKey = tuple[str, int, str]            # scenario, level, stack
MetricKey = tuple[str, int, str, str]     # scenario, level, stack, metric


def is_number(value: object) -> TypeGuard[int | float]:
    """A finite int or float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def finite(value: float | None) -> float | None:
    """``value`` as a float when finite, else None (JSON has no infinity or NaN)."""
    return float(value) if value is not None and math.isfinite(value) else None


def cell_key(trial: Mapping[str, Any]) -> CellKey:
    """The cell a trial record belongs to."""
    return (trial["scenario"], trial["level"], trial["stack"])


def where(key: tuple[Any, ...]) -> str:
    """``clients C=50, quart-hypercorn``: a cell in a message."""
    scenario, level, stack = key[:3]
    return f"{scenario} {level_label(scenario, level)}, {stack}"


def cell_seed(seed: int, key: MetricKey) -> int:
    """Bootstrap seed of one cell and metric: stable across processes (crc32, not ``hash()``)."""
    return (seed + zlib.crc32("|".join(map(str, key)).encode("utf-8"))) % 2**64


def _int_or(value: object, default: int = -1) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def group_ok(trials: Iterable[Mapping[str, Any]]) -> dict[CellKey, list[Mapping[str, Any]]]:
    """Ok trials per cell, in run order (round, order, trial_id)."""
    groups: dict[CellKey, list[Mapping[str, Any]]] = defaultdict(list)
    for trial in trials:
        if trial["status"] == "ok":
            groups[cell_key(trial)].append(trial)
    for group in groups.values():
        group.sort(key=lambda t: (_int_or(t.get("round")), _int_or(t.get("order")), t["trial_id"]))
    return dict(groups)


def metric_values(ok: Mapping[CellKey, list[Mapping[str, Any]]],
                  warnings: list[str]) -> dict[MetricKey, list[float]]:
    """Per (scenario, level, stack, metric): one positive finite value per ok trial.

    Values that are not positive finite numbers are left out, each with a line in
    ``warnings``; a null value (not measured) is left out silently.
    """
    values: dict[MetricKey, list[float]] = defaultdict(list)
    for key in sorted(ok, key=sort_key):
        for trial in ok[key]:
            resources = trial.get("resources")
            measured = dict(trial["metrics"])
            if isinstance(resources, Mapping):  # null for targets the harness did not start
                measured.update({m: resources[m] for m in RESOURCE_METRICS
                                 if resources.get(m) is not None})
            for metric, value in sorted(measured.items()):
                if value is None:
                    continue
                if not is_number(value) or value <= 0:
                    warnings.append(f"trial {trial['trial_id']}: metric {metric} = {value!r} "
                                    "is not a positive number; left out")
                    continue
                values[(*key, metric)].append(float(value))
    return dict(values)


@dataclass(frozen=True)
class Attrition:
    """Trials of one cell: how many were run and how many were not ok."""

    lost: int
    total: int


NO_TRIALS = Attrition(0, 0)


def attrition(trials: Iterable[Mapping[str, Any]]) -> dict[CellKey, Attrition]:
    """Per cell: trials run, and how many of them were not ok (failed or invalid)."""
    total: Counter[CellKey] = Counter()
    lost: Counter[CellKey] = Counter()
    for trial in trials:
        total[cell_key(trial)] += 1
        lost[cell_key(trial)] += trial["status"] != "ok"
    return {key: Attrition(lost[key], total[key]) for key in total}


def arms_without_ok(trials: Iterable[Mapping[str, Any]]) -> dict[CellKey, str | None]:
    """Every headline arm (a scenario with a headline metric, a level, a stack) whose
    trials hold no ok one, with the error of its last trial (None when it had none)."""
    last_error: dict[CellKey, str | None] = {}
    with_ok: set[CellKey] = set()
    for trial in trials:
        key = cell_key(trial)
        if trial["scenario"] not in HEADLINE_METRICS:
            continue
        if trial["status"] == "ok":
            with_ok.add(key)
        error = trial.get("error")
        last_error[key] = error if isinstance(error, str) else None
    return {key: last_error[key] for key in sorted(last_error, key=sort_key)
            if key not in with_ok}


def empty_arms_line(empty: Mapping[CellKey, str | None]) -> str:
    """One line naming the arms without an ok trial, per stack, with the last error."""
    stacks: dict[str, list[CellKey]] = defaultdict(list)
    for key in empty:
        stacks[key[2]].append(key)
    parts = []
    for stack, keys in stacks.items():
        arms = ", ".join(f"{s} {level_label(s, lv)}" for s, lv, _ in keys)
        error = next((empty[k] for k in reversed(keys) if empty[k]), None)
        parts.append(f"{stack} at {arms}" + (f" (last error: {error})" if error else ""))
    count = len(empty)
    return (f"no ok trial in {count} headline arm{'s' if count != 1 else ''}: "
            + "; ".join(parts))
