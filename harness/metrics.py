"""The vocabulary of results: scenarios, their headline metrics, labels and levels.

Shared by the summary, the tables, comparisons and reruns, so that every place
names a metric and orders scenarios the same way.
"""

from __future__ import annotations

from typing import Any

SCENARIO_ORDER = ("fanout", "clients", "rate")

HEADLINE_METRICS = {"fanout": "duration_s", "clients": "throughput_rps", "rate": "p99_ms"}

METRIC_LABELS = {
    "duration_s": "total duration",
    "mean_response_s": "mean response time",
    "throughput_rps": "throughput",
    "calls_per_s": "upstream calls/s",
    "achieved_rps": "achieved rate",
    "p50_ms": "p50 latency",
    "p90_ms": "p90 latency",
    "p99_ms": "p99 latency",
    "p999_ms": "p99.9 latency",
    "cpu_ms_per_request": "server CPU per request",
    "peak_rss_mb": "server peak RSS",
}

TABLE_ROWS: dict[str, tuple[tuple[str, str], ...]] = {
    "fanout": (("duration_s", "Total Duration (s)"), ("calls_per_s", "Requests/sec")),
    "clients": (
        ("duration_s", "Total Duration (s)"),
        ("mean_response_s", "Avg Response Time (s)"),
        ("throughput_rps", "Throughput (req/s)"),
    ),
    "rate": (
        ("achieved_rps", "Achieved (req/s)"),
        ("p50_ms", "p50 (ms)"),
        ("p99_ms", "p99 (ms)"),
        ("p999_ms", "p99.9 (ms)"),
    ),
}

SECONDS_METRICS = frozenset({"duration_s", "mean_response_s"})


def scenario_rank(scenario: str) -> tuple[int, str]:
    """fanout, clients, rate first, then any other scenario by name."""
    rank = SCENARIO_ORDER.index(scenario) if scenario in SCENARIO_ORDER else len(SCENARIO_ORDER)
    return (rank, scenario)


def sort_key(key: tuple[Any, ...]) -> tuple[Any, ...]:
    """Order (scenario, level, ...) keys: scenarios in their usual order, then the rest."""
    return (scenario_rank(key[0]), *key[1:])


def level_label(scenario: str, level: int) -> str:
    """``N=50`` for fanout, ``C=100`` for clients, ``200 req/s`` for rate."""
    if scenario == "fanout":
        return f"N={level}"
    if scenario == "clients":
        return f"C={level}"
    if scenario == "rate":
        return f"{level} req/s"
    return f"level {level}"

