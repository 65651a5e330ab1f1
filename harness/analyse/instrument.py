"""Summaries of the instrument's self-checks and of the rate scenario's saturation.

Pure functions over trial records (dicts as read from ``trials.jsonl``); part of
the statistics summary, so the report can state what the instrument saw.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

from harness.analyse.metrics import sort_key
from harness.config.ladder import SERVED_MIN as SUSTAINED_FRACTION


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _max(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def _median(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return statistics.median(present) if present else None


def check_summary(trials: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per (scenario, stack): the worst of each check over every measured trial.

    Trials without a ``checks`` object (a stack that never started) are left out;
    ``invalid`` counts the trials the checks excluded.
    """
    groups: dict[tuple[str, str], list[Mapping[str, Any]]] = defaultdict(list)
    for trial in trials:
        if isinstance(trial.get("checks"), Mapping):
            groups[(trial["scenario"], trial["stack"])].append(trial)
    rows = []
    for (scenario, stack), group in sorted(groups.items(), key=lambda kv: sort_key(kv[0])):
        checks = [t["checks"] for t in group]
        overshoot = [_number((c.get("upstream_overshoot_ms") or {}).get("p99")) for c in checks]
        lag = [_number((c.get("send_lag_ms") or {}).get("p99"))
               if isinstance(c.get("send_lag_ms"), Mapping) else None for c in checks]
        rows.append({
            "scenario": scenario,
            "stack": stack,
            "trials": len(group),
            "invalid": sum(t["status"] == "invalid" for t in group),
            "foreign_cpu_max": _max(_number(c.get("foreign_cpu")) for c in checks),
            "upstream_cpu_max": _max(_number(c.get("upstream_cpu")) for c in checks),
            "loadgen_cpu_max": _max(_number(c.get("loadgen_cpu")) for c in checks),
            "loadgen_wait_max": _max(_number(c.get("loadgen_wait")) for c in checks),
            "machine_cpu_median": _median(_number(c.get("machine_cpu")) for c in checks),
            "send_lag_p99_max_ms": _max(lag),
            "upstream_overshoot_p99_max_ms": _max(overshoot),
            "upstream_loop_lag_max_ms": _max(_number(c.get("upstream_loop_lag_max_ms"))
                                             for c in checks),
            **_little(checks),
        })
    return rows


def _little(checks: list[Mapping[str, Any]]) -> dict[str, Any]:
    """How many trials Little's law put more than its tolerance off the intended
    concurrency (``analyse.little``), and the lowest and highest ratio seen."""
    ratios = [_number(c["little"].get("ratio")) for c in checks
              if isinstance(c.get("little"), Mapping)]
    off = sum(1 for c in checks if isinstance(c.get("little"), Mapping)
              and c["little"].get("within") is False)
    present = [r for r in ratios if r is not None]
    return {"little_off": off, "little_checked": len(present),
            "little_ratio_min": min(present) if present else None,
            "little_ratio_max": max(present) if present else None}


def saturation(cells: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """Per stack of the rate scenario: the highest offered rate it sustained (mean
    achieved rate at least :data:`SUSTAINED_FRACTION` of offered) and the lowest it
    did not; ``saturation_rps`` is None when every level measured was sustained."""
    achieved: dict[str, dict[int, float]] = defaultdict(dict)
    for cell in cells:
        if cell["scenario"] == "rate" and cell["metric"] == "achieved_rps":
            achieved[cell["stack"]][int(cell["level"])] = float(cell["mean"])
    rows = []
    for stack in sorted(achieved):
        levels = achieved[stack]
        sustained = [lv for lv, rps in levels.items() if rps >= SUSTAINED_FRACTION * lv]
        missed = [lv for lv, rps in levels.items() if rps < SUSTAINED_FRACTION * lv]
        rows.append({"stack": stack,
                     "sustained_rps": max(sustained) if sustained else None,
                     "saturation_rps": min(missed) if missed else None,
                     "levels": sorted(levels)})
    return rows
