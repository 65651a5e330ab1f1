"""Interpreters: each stack under another interpreter against the same stack under the
run's default interpreter (``[run] pythons``), on the headline metric.

A variant ``STACK@LABEL`` is compared with its baseline's variant under the same
interpreter like any stack (``Config.baseline_for``: Quart on 3.13 against Flask on
3.13); this adds what that cannot show, how much the interpreter alone moves each stack:
``STACK@LABEL`` against ``STACK``, a ``pairs.compare_pair`` entry in the headline family.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.analyse.cells import Attrition, CellKey, MetricKey
from harness.analyse.metrics import HEADLINE_METRICS, sort_key
from harness.analyse.pairs import Levels, PairKey, compare_pair
from harness.config.pythons import split_name


def interpreter_pairs(cells: Iterable[CellKey]) -> list[PairKey]:
    """``(scenario, level, STACK@LABEL, STACK)`` for every variant measured beside its
    stack under the default interpreter, at a scenario with a headline metric."""
    seen = set(cells)
    found = []
    for scenario, level, stack in seen:
        base, label = split_name(stack)
        if label is not None and scenario in HEADLINE_METRICS and (scenario, level, base) in seen:
            found.append((scenario, level, stack, base))
    return sorted(found, key=sort_key)


def interpreter_rows(pairs: Iterable[PairKey], values: Mapping[MetricKey, list[float]],
                     lost_at: Mapping[CellKey, Attrition],
                     levels: Levels) -> list[dict[str, Any]]:
    """One row per pair: the scenario, level, stack, the interpreter's label, and the
    comparison (``pairs.compare_pair``) of the variant against the default's."""
    rows = []
    for key in pairs:
        _, label = split_name(key[2])
        rows.append({"scenario": key[0], "level": key[1], "base": key[3], "python": label,
                     **compare_pair(key, values, lost_at, levels)})
    return rows
