"""The vocabulary of results: scenarios and their order, metrics (label, unit, direction),
the headline metric of each scenario, and how a level reads.

One definition of each, shared by the summary, comparisons, reruns, the tables, the
report and its figures, so that every place names a metric and orders scenarios alike.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.config.schema import SCENARIOS

SCENARIO_ORDER = SCENARIOS

HEADLINE_METRICS = {"fanout": "duration_s", "clients": "throughput_rps", "rate": "p99_ms",
                    "capacity": "p99_ms"}
"""A scenario's headline metric. A capacity trial's is its rung's p99, but capacity cells
are never compared with a baseline (``analyse.summary``): the knee is their result."""

RATE_BASIS = {"calls_per_s": "duration_s", "throughput_rps": "duration_s"}
"""Rates a trial computes as ``level / duration``: their speedup is estimated from the
durations (a rate of means, ``level / mean duration``), never as a mean of per-trial
rates, so the rate's row and the duration's row of the same trials always agree."""


@dataclass(frozen=True)
class Metric:
    """How a metric reads: ``label`` in a sentence, ``unit``, its direction, and the verdict
    words when the stack is better or worse than the baseline on it (a resource is used,
    not run: CPU and memory never read "faster")."""

    label: str
    unit: str
    higher_is_better: bool
    better: str = "faster"
    worse: str = "slower"

    @property
    def title(self) -> str:
        """The label as a table heading: ``Total duration``, ``p99 latency``."""
        if self.label[:1] == "p" and self.label[1:2].isdigit():
            return self.label
        return self.label[:1].upper() + self.label[1:]


METRICS: dict[str, Metric] = {
    "duration_s": Metric("total duration", "s", False),
    "calls_per_s": Metric("upstream calls/s", "calls/s", True),
    "mean_response_s": Metric("mean response time", "s", False),
    "throughput_rps": Metric("throughput", "req/s", True),
    "first_burst_duration_s": Metric("first-burst duration", "s", False),
    "first_burst_throughput_rps": Metric("first-burst throughput", "req/s", True),
    "achieved_rps": Metric("achieved rate", "req/s", True),
    "p50_ms": Metric("p50 latency", "ms", False),
    "p90_ms": Metric("p90 latency", "ms", False),
    "p99_ms": Metric("p99 latency", "ms", False),
    "p999_ms": Metric("p99.9 latency", "ms", False),
    "cpu_ms_per_request": Metric("server CPU per request", "ms", False,
                                 "uses less CPU per request", "uses more CPU per request"),
    "peak_rss_mb": Metric("server peak RSS", "MB", False, "uses less memory", "uses more memory"),
    "peak_pss_mb": Metric("server peak PSS", "MB", False, "uses less memory", "uses more memory"),
}
"""Every metric a record or a summary holds, in report order."""

RESOURCE_METRICS = ("cpu_ms_per_request", "peak_rss_mb")
"""Server resources compared across stacks like any other metric (lower is better)."""

SECONDS_METRICS = frozenset(name for name, m in METRICS.items() if m.unit == "s")

TABLE_ROWS: dict[str, tuple[str, ...]] = {
    "fanout": ("duration_s", "calls_per_s"),
    "clients": ("duration_s", "mean_response_s", "throughput_rps", "first_burst_throughput_rps"),
    "rate": ("achieved_rps", "p50_ms", "p90_ms", "p99_ms", "p999_ms"),
}
"""The rows of each scenario's table in the format of the original scripts."""


def is_higher_better(metric: str) -> bool:
    """True for rates (higher is better), False for durations, latencies and resources.

    Raises:
        ValueError: the metric's orientation is unknown.
    """
    known = METRICS.get(metric)
    if known is None:
        raise ValueError(f"unknown metric {metric!r}: neither lower- nor higher-is-better")
    return known.higher_is_better


def verdict_words(metric: str) -> tuple[str, str]:
    """``(better, worse)``: the verdicts of an interval above and below 1 on ``metric``."""
    known = METRICS.get(metric)
    return (known.better, known.worse) if known else ("faster", "slower")


def magnitude_nouns(metric: str) -> tuple[str, str]:
    """``(gain, loss)``: ``speedup``/``slowdown``, or ``saving``/``increase`` for a resource."""
    return ("saving", "increase") if verdict_words(metric)[0].startswith("uses") else (
        "speedup", "slowdown")


def metric_label(metric: str) -> str:
    """The metric's label (its own name when it has none)."""
    known = METRICS.get(metric)
    return known.label if known else metric


def metric_title(metric: str) -> str:
    """A metric as a table row or column, the one name every output uses:
    ``Total duration (s)``, ``Upstream calls/s``; an unknown metric keeps its key."""
    known = METRICS.get(metric)
    if known is None:
        return metric
    return known.title if known.label.endswith(known.unit) else f"{known.title} ({known.unit})"


def metric_rank(metric: str) -> tuple[int, str]:
    """Metrics in report order, unknown ones last by name."""
    names = list(METRICS)
    return (names.index(metric) if metric in names else len(names), metric)


def scenario_rank(scenario: str) -> tuple[int, str]:
    """fanout, clients, rate first, then any other scenario by name."""
    rank = SCENARIO_ORDER.index(scenario) if scenario in SCENARIO_ORDER else len(SCENARIO_ORDER)
    return (rank, scenario)


def sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """Order (scenario, level, ...) keys: scenarios in their usual order, then the rest."""
    return (scenario_rank(key[0]), *key[1:])


_LEVEL_WORDS = {
    "fanout": ("N={level}", "N = {level} upstream call{s} per request"),
    "clients": ("C={level}", "C = {level} concurrent client{s}"),
    "rate": ("{level} req/s", "{level} req/s offered"),
    "capacity": ("{level} req/s", "{level} req/s offered (a capacity rung)"),
}


def level_label(scenario: str, level: int) -> str:
    """``N=50`` for fanout, ``C=100`` for clients, ``200 req/s`` for rate."""
    short, _ = _LEVEL_WORDS.get(scenario, ("level {level}", ""))
    return short.format(level=level)


def level_title(scenario: str, level: int) -> str:
    """How a level reads in a heading: ``N = 10 upstream calls per request``."""
    _, long = _LEVEL_WORDS.get(scenario, ("", "level {level}"))
    return long.format(level=level, s="s" if level != 1 else "")
