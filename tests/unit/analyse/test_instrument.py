"""Instrument-check and saturation summaries, against hand-computed values."""

from __future__ import annotations

from typing import Any

from harness.analyse.instrument import check_summary, saturation
from harness.report.render import render_markdown


def trial(stack: str, status: str, cpu: float, wait: float, machine: float | None,
          overshoot: float, lag: float | None = None) -> dict[str, Any]:
    checks = {"loadgen_cpu": cpu, "loadgen_wait": wait, "machine_cpu": machine,
              "foreign_cpu": cpu / 4, "upstream_cpu": cpu / 2,
              "upstream_overshoot_ms": {"p99": overshoot, "mean": 0.1, "max": overshoot},
              "send_lag_ms": None if lag is None else {"p50": 0.1, "p99": lag}}
    return {"scenario": "rate", "stack": stack, "status": status, "checks": checks}


def test_check_summary_takes_the_worst_and_the_median() -> None:
    trials = [trial("a", "ok", 0.10, 0.01, 0.50, 1.0, 2.0),
              trial("a", "invalid", 0.40, 0.70, 0.70, 3.0, 9.0),
              trial("a", "ok", 0.20, 0.02, None, 2.0, 1.0),
              {"scenario": "rate", "stack": "a", "status": "failed", "checks": None}]
    [row] = check_summary(trials)
    assert row == {"scenario": "rate", "stack": "a", "trials": 3, "invalid": 1,
                   "foreign_cpu_max": 0.10, "upstream_cpu_max": 0.20, "loadgen_cpu_max": 0.40, "loadgen_wait_max": 0.70,
                   "machine_cpu_median": 0.60, "send_lag_p99_max_ms": 9.0,
                   "upstream_overshoot_p99_max_ms": 3.0, "upstream_loop_lag_max_ms": None,
                   "little_off": 0, "little_checked": 0, "little_ratio_min": None,
                   "little_ratio_max": None}


def cell(stack: str, level: int, mean: float) -> dict[str, Any]:
    return {"scenario": "rate", "stack": stack, "metric": "achieved_rps", "level": level,
            "mean": mean}


def test_saturation_point_is_the_first_level_below_95_percent() -> None:
    cells = [cell("a", 100, 99.0), cell("a", 200, 190.0), cell("a", 400, 300.0),
             cell("b", 100, 99.5), cell("b", 200, 199.0),
             {"scenario": "clients", "stack": "c", "metric": "throughput_rps", "level": 5,
              "mean": 1.0}]
    assert saturation(cells) == [
        {"stack": "a", "sustained_rps": 200, "saturation_rps": 400, "levels": [100, 200, 400]},
        {"stack": "b", "sustained_rps": 200, "saturation_rps": None, "levels": [100, 200]},
    ]


def test_report_states_the_checks_and_the_saturation() -> None:
    summary = {"run_id": "r", "baseline": "a", "confidence": 0.95,
               "checks": check_summary([trial("a", "ok", 0.123, 0.01, 0.5, 1.5, 2.25)]),
               "saturation": saturation([cell("a", 100, 99.0), cell("a", 400, 300.0)])}
    manifest = {"run_id": "r", "config": {"stacks": {}}}
    md = render_markdown(summary, manifest, {})
    assert "| rate | a | 1 | 0 | 0.03 | 0.06 | 12% | 1% | 50% | 2.25 ms | 1.50 ms | n/a |" in md
    assert "- a: sustained up to 100 req/s; saturated at 400 req/s" in md
