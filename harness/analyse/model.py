"""What a simple model predicts, for comparison with each measurement.

Fan-out: a sequential handler waits N x delay, a concurrent one about one delay, or
ceil(N / pool) delays when its upstream pool holds fewer than N connections.
Concurrent clients: a stack serving ``slots`` requests at once finishes a burst of C
in ceil(C / slots) waves of one delay; an event loop (no slot limit) in one.
A database upstream bounds every stack by its pool: at most ``pool_size / query_time``
requests per second (:func:`pool_bound_rps`), however many clients wait.
Open-loop capacity: slots / (delay + CPU per request), and never more than CPUs / CPU per
request (:func:`capacity_rps`): the capacity sweep's starting point and the USL chart's line.
A stack far below its model is flagged in the summary (:func:`model_rows`).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from harness.analyse import stats
from harness.analyse.cells import MetricKey, is_number, where
from harness.analyse.metrics import is_higher_better, sort_key

FANOUT_MODES = ("sequential", "concurrent")


def expected_fanout_duration_s(n: int, delay_s: float, fanout_mode: str,
                               pool: int | None = None) -> float:
    """Model duration of one fan-out request making ``n`` upstream calls of ``delay_s``.

    Sequential handlers wait ``n * delay_s``; concurrent ones wait one ``delay_s``, or
    ``ceil(n / pool)`` of them when the process's upstream pool holds ``pool`` connections.
    """
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if delay_s <= 0:
        raise ValueError(f"delay_s must be positive, got {delay_s}")
    if fanout_mode == "sequential":
        return n * delay_s
    if fanout_mode == "concurrent":
        return delay_s if pool is None or pool >= n else math.ceil(n / max(1, pool)) * delay_s
    raise ValueError(f"fanout_mode must be one of {FANOUT_MODES}, got {fanout_mode!r}")


def expected_clients_duration_s(c: int, delay_s: float, slots: int | None) -> float:
    """Model duration of a closed burst of ``c`` clients, each needing one ``delay_s``.

    With ``slots`` requests served at once the burst takes ``ceil(c/slots)`` waves;
    ``slots=None`` (an event loop) serves all of them in one wave.
    """
    if c < 1:
        raise ValueError(f"c must be at least 1, got {c}")
    if delay_s <= 0:
        raise ValueError(f"delay_s must be positive, got {delay_s}")
    if slots is None:
        return delay_s
    if slots < 1:
        raise ValueError(f"slots must be at least 1 or None, got {slots}")
    return math.ceil(c / slots) * delay_s


def expected_clients_throughput(c: int, delay_s: float, slots: int | None) -> float:
    """Model throughput (req/s) of the burst of :func:`expected_clients_duration_s`."""
    return c / expected_clients_duration_s(c, delay_s, slots)


def pool_bound_rps(connections: int, query_s: float) -> float:
    """The pool model's line: ``connections`` each serving one query of ``query_s`` at a
    time finish at most ``connections / query_s`` queries per second.

    Raises:
        ValueError: ``connections`` below 1 or ``query_s`` not positive.
    """
    if connections < 1:
        raise ValueError(f"connections must be at least 1, got {connections}")
    if not query_s > 0:
        raise ValueError(f"query_s must be positive, got {query_s}")
    return connections / query_s


def capacity_rps(delay_s: float, slots: int | None, cpus: float,
                 cpu_s_per_request: float) -> float:
    """The open-loop rate a stack can carry by the model: its ``cpus`` each finish one
    request per ``cpu_s_per_request`` of CPU, and a stack with ``slots`` (worker threads,
    pool connections) holds each request in a slot for its delay and its CPU work.

    ``slots=None`` (an event loop) leaves only the CPU bound: ``cpus / cpu_s_per_request``;
    with slots the smaller of that and ``slots / (delay_s + cpu_s_per_request)``.

    Raises:
        ValueError: ``cpus`` or ``cpu_s_per_request`` not positive, ``delay_s`` negative,
            or ``slots`` below 1.
    """
    if not (cpus > 0 and cpu_s_per_request > 0 and delay_s >= 0):
        raise ValueError(f"cpus ({cpus}) and cpu_s_per_request ({cpu_s_per_request}) must be "
                         f"positive and delay_s ({delay_s}) non-negative")
    cpu_bound = cpus / cpu_s_per_request
    if slots is None:
        return cpu_bound
    if slots < 1:
        raise ValueError(f"slots must be at least 1 or None, got {slots}")
    return min(cpu_bound, slots / (delay_s + cpu_s_per_request))


def efficiency(measured: float, expected: float, higher_is_better: bool) -> float:
    """How close a measurement comes to its model: ``measured/expected`` for rates,
    ``expected/measured`` for durations. About 1 at the model, lower when worse.

    Raises:
        ValueError: a value is not positive and finite.
    """
    for name, value in (("measured", measured), ("expected", expected)):
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be positive and finite, got {value!r}")
    return measured / expected if higher_is_better else expected / measured


_MODELLED = {
    "fanout": ("duration_s", "calls_per_s"),
    "clients": ("duration_s", "throughput_rps"),
}


def model_rows(
    values: Mapping[MetricKey, list[float]],
    config: Mapping[str, Any],
    min_efficiency: float,
    warnings: list[str],
) -> list[dict[str, Any]]:
    """Measured cell means beside the simple model of DESIGN.md, flagged when far below."""
    delay_ms = config.get("delay_ms")
    stacks = config.get("stacks")
    if (config.get("upstream") or {}).get("query") == "read":
        if values:
            warnings.append("the database query is a read of unknown duration, not a delay: "
                            "no model")
        return []
    if not is_number(delay_ms) or delay_ms <= 0 or not isinstance(stacks, dict):
        if values:
            warnings.append("manifest config lacks a positive delay_ms or a stacks table: no model")
        return []
    delay_s = float(delay_ms) / 1000.0
    rows = []
    missing: set[str] = set()
    for key in sorted(values, key=sort_key):
        scenario, level, stack, metric = key
        if scenario not in ("fanout", "clients") or metric not in _MODELLED[scenario]:
            continue
        stack_cfg = stacks.get(stack)
        if not isinstance(stack_cfg, dict):
            missing.add(stack)
            continue
        try:
            expected = _expected(scenario, metric, level, delay_s, stack_cfg)
            measured = stats.describe(values[key]).mean
            higher = is_higher_better(metric)
            eff = efficiency(measured, expected, higher)
        except (KeyError, TypeError, ValueError) as exc:
            warnings.append(f"{where(key[:3])}: no model for {metric} ({exc})")
            continue
        rows.append(
            {
                "scenario": scenario,
                "level": level,
                "stack": stack,
                "metric": metric,
                "expected": expected,
                "measured": measured,
                "efficiency": eff,
                "flagged": eff < min_efficiency,
            }
        )
    warnings.extend(
        f"stack {stack!r} is not in the manifest's config: no model" for stack in sorted(missing)
    )
    return rows


def _expected(
    scenario: str, metric: str, level: int, delay_s: float, stack_cfg: Mapping[str, Any]
) -> float:
    if scenario == "fanout":
        pool = stack_cfg.get("pool_size")
        duration = expected_fanout_duration_s(level, delay_s, stack_cfg["fanout_mode"],
                                              pool if isinstance(pool, int) else None)
        return duration if metric == "duration_s" else level / duration
    slots = stack_cfg["concurrency_slots"]
    if slots is not None and (not isinstance(slots, int) or isinstance(slots, bool)):
        raise TypeError(f"concurrency_slots must be an integer or null, got {slots!r}")
    if metric == "duration_s":
        return expected_clients_duration_s(level, delay_s, slots)
    return expected_clients_throughput(level, delay_s, slots)
