"""The family of comparisons, and the verdict fields every comparison carries.

Each speedup is a test of "ratio = 1". The **headline family** holds one test per
(scenario, level, stack): the scenario's headline metric (duration for fanout,
throughput for clients, p99 for rate). Its family-wise error is held at
``1 - confidence`` by Bonferroni: each headline interval is built at
``1 - (1 - confidence) / m`` and each p-value multiplied by ``m``
(``stats.familywise_confidence``, ``stats.bonferroni``), so the interval, the adjusted
p-value and the verdict cannot disagree. Rows estimated from the headline's own data
(``metrics.RATE_BASIS``: calls/s and throughput from the durations) share its test and
interval. Every other metric is **exploratory**: unadjusted, at the run's confidence, a
lead to follow rather than a finding.

Survivorship: only ok trials are samples, so when the two arms lost different shares
of their trials (failed or invalid) the verdict carries a note saying so, and when the
difference is significant (Fisher's exact test at ``1 - confidence``) the verdict is
withheld as ``undetermined``.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from scipy import stats as sps

from harness.analyse import stats, verdicts
from harness.analyse.cells import Attrition, finite
from harness.analyse.metrics import HEADLINE_METRICS, RATE_BASIS, magnitude_nouns

HEADLINE = "headline"
EXPLORATORY = "exploratory"
ADJUSTMENT = "bonferroni"


def basis(metric: str) -> str:
    """The metric whose per-trial values estimate ``metric``'s speedup."""
    return RATE_BASIS.get(metric, metric)


def basis_in(metric: str, available: Iterable[str]) -> str:
    """:func:`basis` when the cell measured it, else ``metric`` itself."""
    source = basis(metric)
    return source if source in set(available) else metric


def family_of(scenario: str, metric: str) -> str:
    """``headline`` for the scenario's headline test (and rows sharing its data), else
    ``exploratory``."""
    head = HEADLINE_METRICS.get(scenario)
    return HEADLINE if head is not None and basis(metric) == basis(head) else EXPLORATORY


def family_size(keys: Iterable[tuple[Any, ...]]) -> int:
    """How many headline tests ``(scenario, level, stack, metric)`` keys make."""
    return len({k[:3] for k in keys if HEADLINE_METRICS.get(k[0]) == k[3]})


def entry_confidence(family: str, confidence: float, size: int) -> float:
    """The level an entry's interval is built at: family-wise for the headline family."""
    if family != HEADLINE:
        return confidence
    return stats.familywise_confidence(confidence, max(size, 1))


def attrition_note(stack: str, s: Attrition, baseline: str, b: Attrition,
                   confidence: float) -> tuple[str | None, bool]:
    """A note when the arms lost different shares of their trials, and whether the
    difference is large enough (Fisher's exact test) to withhold the verdict."""
    if s.total == 0 or b.total == 0 or s.lost * b.total == b.lost * s.total:
        return None, False
    note = (f"{stack} failed or was invalid in {s.lost} of {s.total} trials, "
            f"{baseline} in {b.lost} of {b.total}")
    table = [[s.lost, s.total - s.lost], [b.lost, b.total - b.lost]]
    return note, bool(sps.fisher_exact(table).pvalue < 1.0 - confidence)


def verdict_fields(sp: stats.Speedup, scenario: str, metric: str, confidence: float,
                   size: int, equivalence_pct: float,
                   attrition: tuple[str | None, bool] = (None, False)) -> dict[str, Any]:
    """The family, level, adjusted p-value, verdict (with why) and magnitude of a speedup
    computed at :func:`entry_confidence`."""
    family = family_of(scenario, metric)
    n = max(sp.n_stack, sp.n_baseline)
    found = verdicts.judge(sp.status, sp.ratio, sp.low, sp.high, n, metric, equivalence_pct,
                           n_min=min(sp.n_stack, sp.n_baseline))
    note, withhold = attrition
    if withhold and found.word != verdicts.INSUFFICIENT:
        found = verdicts.Verdict(verdicts.UNDETERMINED, f"survivorship: {note}")
    magnitude = None
    if sp.low is not None and sp.high is not None and found.word not in (
            verdicts.EQUIVALENT, verdicts.UNDETERMINED):
        magnitude = verdicts.magnitude(sp.low, sp.high, *magnitude_nouns(metric))
    adjusted = sp.p_value
    if sp.p_value is not None and family == HEADLINE:
        adjusted = stats.bonferroni(sp.p_value, max(size, 1))
    return {
        "family": family,
        "confidence": entry_confidence(family, confidence, size),
        "adjustment": ADJUSTMENT if family == HEADLINE else None,
        "p_adjusted": finite(adjusted),
        "verdict": found.word,
        "verdict_why": found.why,
        "trials_needed": found.trials_needed,
        "magnitude": magnitude,
        "attrition": note,
        "estimated_from": basis(metric) if basis(metric) != metric else None,
    }
