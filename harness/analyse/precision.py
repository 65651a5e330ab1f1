"""Precision per cell: each headline interval's width against the run's target, the
trials and trial-seconds each arm took, why each cell stopped, and what a fixed plan
(every cell every round) would have spent for the same widths.

Read from the summary's headline speedups and cells and from what each trial cost
(:func:`trial_cost`); the adaptive allocation (``measure.rounds``) plans
its rounds from the same :class:`HeadlineState`, so a report re-analysing a run years
later sees what the run saw.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from harness.analyse import family, verdicts
from harness.analyse.allocation import Arm, Cell, fixed_equivalent, met
from harness.analyse.cells import CellKey, cell_key, is_number
from harness.analyse.metrics import HEADLINE_METRICS

DEFAULT_COST_S = 1.0  # a trial's cost before any trial of the run measured one


@dataclass(frozen=True)
class HeadlineState:
    """The headline family as the allocation sees it: every arm (trials, cv, cost), every
    cell (stack arm against baseline arm, width), and the level the intervals are built at."""

    arms: dict[CellKey, Arm]
    cells: list[Cell[CellKey]]
    level: float

    def widest(self) -> float | None:
        """The widest cell's relative half-width; None when a cell has no interval."""
        widths = [cell.width for cell in self.cells]
        if not widths or any(w is None for w in widths):
            return None
        return max(w for w in widths if w is not None)

    def met_count(self, target: float) -> int:
        """How many cells meet ``target`` (``allocation.met``)."""
        return sum(met(cell, self.arms, target) for cell in self.cells)


def trial_cost(trial: Mapping[str, Any]) -> float | None:
    """What one trial cost the run, in seconds: its ``elapsed_s`` (the load and the
    instrument around it), else (older records) its load's ``wall_s``; None when it
    recorded neither (a trial whose stack never started)."""
    for key in ("elapsed_s", "wall_s"):
        value = trial.get(key)
        if is_number(value) and value > 0:
            return float(value)
    return None


def arm_costs(trials: Iterable[Mapping[str, Any]]) -> dict[CellKey, float]:
    """Each arm's mean :func:`trial_cost` over its trials that recorded one."""
    seen: dict[CellKey, list[float]] = defaultdict(list)
    for trial in trials:
        if (cost := trial_cost(trial)) is not None:
            seen[cell_key(trial)].append(cost)
    return {key: statistics.fmean(values) for key, values in seen.items()}


def trial_seconds(trials: Iterable[Mapping[str, Any]]) -> dict[CellKey, float]:
    """Seconds each arm's trials cost (:func:`trial_cost`), whatever their status."""
    spent: dict[CellKey, float] = defaultdict(float)
    for trial in trials:
        if (cost := trial_cost(trial)) is not None:
            spent[cell_key(trial)] += cost
    return dict(spent)


def _pairs(summary: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    """The headline family's comparisons beside the baseline's (``analyse.pairs``): every
    part of the server/paradigm split and every interpreter pair, each with its
    ``compared_with``."""
    found: list[Mapping[str, Any]] = []
    for row in summary.get("split") or []:
        found.extend({"scenario": row["scenario"], "level": row["level"], **part}
                     for part in row["parts"])
    found.extend(summary.get("interpreters") or [])
    return found


def headline_state(summary: Mapping[str, Any], trials: Iterable[Mapping[str, Any]],
                   costs: Mapping[CellKey, float] | None = None) -> HeadlineState:
    """Arms and cells of the headline family: every headline speedup (a stack against its
    baseline), then every other comparison the family holds (a part of the server/paradigm
    split, a stack under another interpreter against itself) not already among them.

    An arm's cv is that of the values its headline interval is built from (durations for
    a throughput); its cost is ``costs`` (default: :func:`arm_costs` of ``trials``), else
    the median cost of the arms that have one.
    """
    costs = dict(costs) if costs is not None else arm_costs(trials)
    fallback = statistics.median(costs.values()) if costs else DEFAULT_COST_S
    described = {(c["scenario"], c["level"], c["stack"], c["metric"]): c
                 for c in summary["cells"]}
    measured: dict[tuple[str, int], set[str]] = defaultdict(set)
    for scenario, level, _, metric in described:
        measured[(scenario, level)].add(metric)
    arms: dict[CellKey, Arm] = {}
    cells: list[Cell[CellKey]] = []
    level = float(summary["confidence"])
    compared = [(sp, sp["baseline"]) for sp in summary["speedups"]
                if sp["headline"] and sp["stack"] != sp["baseline"]]
    compared += [(pair, pair["compared_with"]) for pair in _pairs(summary)]
    seen: set[tuple[CellKey, CellKey]] = set()
    for sp, other in compared:
        scenario, at = sp["scenario"], sp["level"]
        keys = ((scenario, at, sp["stack"]), (scenario, at, other))
        if keys in seen:
            continue
        seen.add(keys)
        source = family.basis_in(HEADLINE_METRICS[scenario], measured[(scenario, at)])
        for key in keys:
            row = described.get((*key, source))
            cv = (row["sd"] / row["mean"]) if row and row["mean"] > 0 else 0.0
            arms[key] = Arm(row["n"] if row else 0, cv, costs.get(key, fallback))
        width = None
        if sp["ci_low"] is not None and sp["ci_high"] is not None and sp["ratio"]:
            width = verdicts.ci_half_width_ratio(sp["ratio"], sp["ci_low"], sp["ci_high"])
        cells.append(Cell(keys[0], keys[1], width))
        level = float(sp["confidence"])
    return HeadlineState(arms, cells, level)


def stop_kind(stop_reason: object) -> str | None:
    """The words before the colon of a run's stop reason (``max rounds reached``); None
    while the run is running or when the manifest holds none."""
    if not isinstance(stop_reason, str) or not stop_reason or stop_reason == "running":
        return None
    return stop_reason.split(":", 1)[0].split(" (", 1)[0].strip()


def given_up_stacks(value: object) -> frozenset[str]:
    """The stacks a manifest's ``stacks_given_up`` names (the runner stopped starting them);
    nothing when it holds no such table."""
    return frozenset(str(name) for name in value) if isinstance(value, dict) else frozenset()


def _why(cell: Cell[CellKey], state: HeadlineState, target: float | None,
         stop_reason: object, given_up: Collection[str]) -> str | None:
    if target is None:
        return None
    if met(cell, state.arms, target):
        return "target met"
    for name in (cell.stack[2], cell.baseline[2]):
        if name in given_up:
            return f"{name} not started again"
    if cell.within(target):
        return "within the target on too few trials"
    return stop_kind(stop_reason) or "run not finished"


def precision_section(summary: Mapping[str, Any], trials: Sequence[Mapping[str, Any]],
                      target: float | None, stop_reason: object = None,
                      allocation: str = "fixed",
                      given_up: Collection[str] = ()) -> dict[str, Any]:
    """Per headline cell: ok trials per arm, trials run, width, whether it met ``target``
    (None: the run set none) and why it stopped (a cell of a stack in ``given_up``, which
    the run stopped starting, says so); the trial-seconds spent, and the rounds
    and trial-seconds of the fixed plan giving every cell the same width
    (``allocation.fixed_equivalent``)."""
    state = headline_state(summary, trials)
    run_count: dict[CellKey, int] = defaultdict(int)
    last_round: dict[CellKey, int] = {}
    for trial in trials:
        key = cell_key(trial)
        run_count[key] += 1
        if isinstance(trial.get("round"), int):
            last_round[key] = max(last_round.get(key, 0), trial["round"])
    rows = []
    for cell in state.cells:
        scenario, level, stack = cell.stack
        rows.append({
            "scenario": scenario, "level": level, "stack": stack, "baseline": cell.baseline[2],
            "n_stack": state.arms[cell.stack].n, "n_baseline": state.arms[cell.baseline].n,
            "trials_stack": run_count[cell.stack], "trials_baseline": run_count[cell.baseline],
            "last_round": last_round.get(cell.stack),
            "width": cell.width,
            "met": None if target is None else met(cell, state.arms, target),
            "why": _why(cell, state, target, stop_reason, given_up),
        })
    spent = sum(trial_seconds(trials).values())
    fixed = fixed_equivalent(state.arms, state.cells)
    round_s = sum(arm.cost_s for arm in state.arms.values())
    return {
        "allocation": allocation,
        "target_ci": target,
        "cells": rows,
        "met": None if target is None else state.met_count(target),
        "widest": state.widest(),
        "trial_s": spent,
        "fixed": None if fixed is None else {
            "rounds": fixed.rounds, "trial_s": fixed.rounds * round_s,
            "rounds_widest": fixed.rounds_widest, "trial_s_widest": fixed.rounds_widest * round_s,
        },
    }
