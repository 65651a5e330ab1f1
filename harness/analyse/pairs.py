"""Comparisons beside the baseline's: one stack against another named one, on the headline
metric of a scenario and level, in the headline family.

The summary compares every stack with its baseline. Some questions need other pairs: the
server/paradigm split (``analyse.split``: the same app on two servers, two apps on one)
and the interpreters (``analyse.interpreters``: a stack under another interpreter against
the same stack under the default one). Those pairs the summary does not already compare
are new tests of the headline family: the summary adds their number (:func:`new_tests`)
to the family's size, so the family-wise error holds over them too, and every pair is
built at that family's per-test level, exactly as a speedup is (``stats.speedup``,
Fieller's interval, estimated from the durations for throughput).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.analyse import family, stats
from harness.analyse.cells import NO_TRIALS, Attrition, CellKey, MetricKey, cell_seed, finite
from harness.analyse.metrics import HEADLINE_METRICS, is_higher_better

PairKey = tuple[str, int, str, str]
"""scenario, level, stack, and the stack it is compared with (above 1: ``stack`` is better)."""


@dataclass(frozen=True)
class Levels:
    """The family a pair belongs to: the run's confidence, the headline family's size
    (the new pairs included), the equivalence band and the bootstrap seed."""

    confidence: float
    size: int
    equivalence_pct: float
    seed: int


def new_tests(pairs: Iterable[PairKey], compared: Iterable[PairKey]) -> int:
    """How many of ``pairs`` are not among ``compared`` (the summary's speedups, each a
    stack against its baseline): the tests they add to the headline family."""
    return len(set(pairs) - set(compared))


def compare_pair(key: PairKey, values: Mapping[MetricKey, list[float]],
                 lost_at: Mapping[CellKey, Attrition], levels: Levels) -> dict[str, Any]:
    """``stack`` against ``compared_with`` on the scenario's headline metric: the ratio of
    means (above 1 ``stack`` is better), its interval at the headline family's per-test
    level, and its verdict."""
    scenario, level, stack, other = key
    metric = HEADLINE_METRICS[scenario]
    available = {k[3] for k in values if k[:2] == (scenario, level)}
    source = family.basis_in(metric, available)
    sp = stats.speedup(
        values.get((scenario, level, stack, source), []),
        values.get((scenario, level, other, source), []),
        is_higher_better(source),
        family.entry_confidence(family.HEADLINE, levels.confidence, levels.size),
        cell_seed(levels.seed, (scenario, level, stack, f"{other}|{metric}")))
    lost = family.attrition_note(
        stack, lost_at.get((scenario, level, stack), NO_TRIALS), other,
        lost_at.get((scenario, level, other), NO_TRIALS), levels.confidence)
    fields = family.verdict_fields(sp, scenario, metric, levels.confidence, levels.size,
                                   levels.equivalence_pct, lost)
    return {"stack": stack, "compared_with": other, "metric": metric,
            "ratio": finite(sp.ratio), "ci_low": finite(sp.low), "ci_high": finite(sp.high),
            "method": sp.method, "n_stack": sp.n_stack, "n_compared": sp.n_baseline,
            **{k: fields[k] for k in ("confidence", "p_adjusted", "verdict", "verdict_why",
                                      "magnitude", "attrition")}}
