"""Crossover maps: where, along a workload axis (handler CPU work first), async stops paying.

For each async stack against the baseline, per scenario, a grid over (level, workload
value) of the headline speedup with its interval, each cell classed by where the
interval lies: above 1 (``faster``), inside the equivalence band (``equivalent``), below
1 (``slower``), or across a band edge (``inconclusive``). The boundary at a level is the
smallest workload value from which the stack is no longer faster. Pure functions over
a summary and the manifest's sweep record; no I/O.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.analyse.cells import is_number
from harness.analyse.metrics import HEADLINE_METRICS, level_label
from harness.analyse.sentences import format_number, format_ratio

EQUIVALENCE_BAND = 0.05  # +-5 %: the band of the equivalence verdicts
CLASSES = ("faster", "equivalent", "inconclusive", "slower")
PREFERRED_AXIS = "cpu_ms"


@dataclass(frozen=True)
class MapCell:
    """One cell: the headline ratio, its interval and its class."""

    level: int
    value: float
    ratio: float | None
    low: float | None
    high: float | None
    verdict: str


@dataclass(frozen=True)
class CrossoverMap:
    """One stack against the baseline in one scenario, over levels x one workload axis."""

    scenario: str
    stack: str
    baseline: str
    param: str
    fixed: tuple[tuple[str, Any], ...]  # the sweep's other values, held at these
    levels: tuple[int, ...]
    values: tuple[float, ...]
    cells: tuple[MapCell, ...]

    def cell(self, level: int, value: float) -> MapCell | None:
        """The cell at (level, value), or None where nothing was measured."""
        return next((c for c in self.cells if c.level == level and c.value == value), None)

    def boundary(self, level: int) -> float | None:
        """The smallest value from which the stack is no longer faster at ``level``
        (None when it stays faster, or was never faster, over the values measured)."""
        row = [self.cell(level, v) for v in self.values]
        seen_faster = False
        for cell in row:
            if cell is None:
                continue
            if cell.verdict == "faster":
                seen_faster = True
            elif seen_faster:
                return cell.value
        return None


def classify(low: float | None, high: float | None, band: float = EQUIVALENCE_BAND) -> str:
    """The class of an interval: inside the band first, then wholly above or below 1."""
    if low is None or high is None:
        return "inconclusive"
    if 1 - band <= low and high <= 1 + band:
        return "equivalent"
    if low > 1:
        return "faster"
    if high < 1:
        return "slower"
    return "inconclusive"


def _axis(sweep: Mapping[str, Any]) -> str | None:
    """The workload axis a map runs along: ``cpu_ms`` when swept, else the first numeric
    one (an axis of words, such as the arrival's ``connection``, is held fixed instead)."""
    axes = [sweep] + ([sweep["second"]] if isinstance(sweep.get("second"), Mapping) else [])
    workload = [str(a.get("param")) for a in axes if a.get("stack") is None
                and all(is_number(v) for v in a.get("values") or [None])]
    if not workload:
        return None
    return PREFERRED_AXIS if PREFERRED_AXIS in workload else workload[0]


def crossover_maps(summary: Mapping[str, Any], sweep: Any) -> list[CrossoverMap]:
    """Every crossover map a run with a workload sweep has headline speedups for."""
    if not isinstance(sweep, Mapping):
        return []
    param = _axis(sweep)
    variants = sweep.get("variants") or {}
    variant_of = sweep.get("variant_of") or {}
    if param is None or not isinstance(variants, Mapping) or not isinstance(variant_of, Mapping):
        return []
    groups: dict[tuple[Any, ...], list[MapCell]] = defaultdict(list)
    for sp in summary.get("speedups") or []:
        if HEADLINE_METRICS.get(sp["scenario"]) != sp["metric"]:
            continue
        values = variants.get(sp["stack"])
        if not isinstance(values, Mapping) or param not in values:
            continue
        fixed = tuple(sorted((k, v) for k, v in values.items() if k != param))
        key = (sp["scenario"], variant_of.get(sp["stack"], sp["stack"]),
               variant_of.get(sp["baseline"], sp["baseline"]), fixed)
        groups[key].append(MapCell(sp["level"], values[param], sp["ratio"], sp["ci_low"],
                                   sp["ci_high"], classify(sp["ci_low"], sp["ci_high"])))
    return [CrossoverMap(scenario, stack, baseline, param, fixed,
                         tuple(sorted({c.level for c in cells})),
                         tuple(sorted({c.value for c in cells})), tuple(cells))
            for (scenario, stack, baseline, fixed), cells in sorted(groups.items())]


def _amount(param: str, value: float) -> str:
    if param == "cpu_ms":
        return f"{format_number(value, 0)} ms of CPU per request"
    return f"{param} = {format_number(value, 2 if value % 1 else 0)}"


def crossover_sentence(m: CrossoverMap) -> str:
    """Where async stops paying on the map's highest level, in one sentence."""
    level = m.levels[-1]
    where = f"{m.scenario} {level_label(m.scenario, level)}"
    held = "".join(f", {k} = {v}" for k, v in m.fixed)
    row = [c for c in (m.cell(level, v) for v in m.values) if c is not None]
    first, last = row[0], row[-1]
    start = format_ratio(first.ratio, first.low, first.high)
    if first.verdict != "faster":
        return (f"{m.stack} against {m.baseline} at {where}{held}: no lead even with "
                f"{_amount(m.param, first.value)} ({start}, {first.verdict}).")
    edge = m.boundary(level)
    if edge is None:
        return (f"Up to {_amount(m.param, last.value)}, {m.stack} keeps its lead over "
                f"{m.baseline} at {where}{held}: {start} at {format_number(first.value, 0)} "
                f"falls to {format_ratio(last.ratio, last.low, last.high)}.")
    cell = m.cell(level, edge)
    assert cell is not None
    return (f"With {_amount(m.param, edge)}, {m.stack}'s lead over {m.baseline} at {where}"
            f"{held} falls from {format_number(first.ratio or 0, 1)}x to "
            f"{format_ratio(cell.ratio, cell.low, cell.high)} ({cell.verdict}): "
            f"there async stops paying.")


def crossover_table(m: CrossoverMap) -> dict[str, Any]:
    """The map as a table: one row per workload value, one column per level, each cell
    ``ratio [low, high] class`` (empty where nothing was measured)."""
    held = ", ".join(f"{k} = {v}" for k, v in m.fixed)
    return {
        "title": f"{m.stack} vs {m.baseline}, {m.scenario}" + (f" ({held})" if held else ""),
        "param": m.param,
        "levels": [level_label(m.scenario, lv) for lv in m.levels],
        "rows": [{"value": format_number(v, 2 if v % 1 else 0),
                  "cells": ["" if (c := m.cell(lv, v)) is None
                            else f"{format_ratio(c.ratio, c.low, c.high)} {c.verdict}"
                            for lv in m.levels]}
                 for v in m.values],
        "sentence": crossover_sentence(m),
    }
