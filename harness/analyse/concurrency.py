"""Throughput against concurrency: the Universal Scalability Law fitted to each stack's
``clients`` levels (``analyse.usl``), beside the stack's own model line.

The model line (``analyse.model``): a stack with worker slots serves C clients in
ceil(C / slots) waves of one delay (gthread 4x2: at most 8 / delay); every stack finishes
at most its CPUs / CPU per request, where CPU per request is the one measured at its
highest level (``resources.cpu_ms_per_request``, where the CPU binds hardest) and its CPUs
the ones its processes were allowed (``checks.server_cpus``, at most one per worker
process). Without a CPU measurement (servers the harness did not start) only the slots
bound the line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from harness.analyse.capacity import rate_words, server_cpus, stack_words
from harness.analyse.cells import CellKey, MetricKey, cell_seed, is_number
from harness.analyse.model import capacity_rps, expected_clients_throughput
from harness.analyse.usl import MIN_LEVELS, Interval, fit_with_intervals

SCENARIO = "clients"
METRIC = "throughput_rps"


def _interval(interval: Interval | None) -> list[float | None] | None:
    return None if interval is None else [interval.low, interval.high]


def _cpu_line(stack: str, spec: Mapping[str, Any], values: Mapping[MetricKey, list[float]],
              levels: list[int], cpus: int | None) -> tuple[float | None, float | None]:
    """(CPU ms per request at the highest level, the CPU bound in req/s), None unknown."""
    cpu = values.get((SCENARIO, levels[-1], stack, "cpu_ms_per_request"))
    workers = spec.get("workers")
    if not cpu or cpus is None:
        return None, None
    per_request = sum(cpu) / len(cpu)
    usable = min(cpus, workers) if isinstance(workers, int) and workers > 0 else cpus
    return per_request, capacity_rps(0.0, None, usable, per_request / 1000)


def usl_rows(values: Mapping[MetricKey, list[float]],
             ok: Mapping[CellKey, list[Mapping[str, Any]]], config: Mapping[str, Any],
             confidence: float, seed: int, warnings: list[str]) -> list[dict[str, Any]]:
    """Per stack with at least :data:`usl.MIN_LEVELS` clients levels: the fit with its
    intervals, its model line and a sentence. Empty without such stacks."""
    specs = config.get("stacks") if isinstance(config.get("stacks"), Mapping) else {}
    stacks = sorted({k[2] for k in values if k[0] == SCENARIO and k[3] == METRIC})
    rows = []
    for stack in stacks:
        by_level = {k[1]: xs for k, xs in values.items()
                    if k[0] == SCENARIO and k[2] == stack and k[3] == METRIC and xs}
        levels = sorted(by_level)
        if len(levels) < MIN_LEVELS:
            continue
        try:
            result = fit_with_intervals({float(lv): by_level[lv] for lv in levels}, confidence,
                                        cell_seed(seed, (SCENARIO, 0, stack, "usl")))
        except ValueError as exc:
            warnings.append(f"clients, {stack}: no USL fit ({exc})")
            continue
        spec = (specs or {}).get(stack)
        spec = spec if isinstance(spec, Mapping) else {}
        trials = [t for lv in levels for t in ok.get((SCENARIO, lv, stack), [])]
        delay = [float(t["params"]["delay_ms"]) for t in trials
                 if isinstance(t.get("params"), Mapping) and is_number(t["params"].get("delay_ms"))]
        cpus = server_cpus(trials)
        per_request, cpu_bound = _cpu_line(stack, spec or {}, values, levels, cpus)
        slots = (spec or {}).get("concurrency_slots")
        slots = slots if isinstance(slots, int) and not isinstance(slots, bool) else None
        model = []
        if delay and delay[0] > 0:
            for level in levels:
                expected = expected_clients_throughput(level, delay[0] / 1000, slots)
                model.append({"level": level, "expected": min(expected, cpu_bound)
                              if cpu_bound else expected})
        fit = result.fit
        row = {
            "stack": stack, "label": stack_words(stack, spec), "levels": levels,
            "points": result.points, "confidence": result.confidence,
            "lam": fit.lam, "sigma": fit.sigma, "kappa": fit.kappa,
            "peak_n": fit.peak_n, "peak_x": fit.peak_x, "rms_log_error": fit.rms_log_error,
            "sigma_ci": _interval(result.sigma), "kappa_ci": _interval(result.kappa),
            "peak_n_ci": _interval(result.peak_n), "peak_x_ci": _interval(result.peak_x),
            "slots": slots, "cpus": cpus, "cpu_ms_per_request": per_request,
            "cpu_bound_rps": cpu_bound, "delay_ms": delay[0] if delay else None,
            "model": model,
        }
        row["sentence"] = usl_sentence(row)
        rows.append(row)
    return rows


def param_words(value: float | None) -> str:
    """A USL parameter: three significant digits, tiny ones in powers of ten."""
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    return f"{value:.3g}" if value >= 0.001 else f"{value:.2e}"


def _ci_words(ci: list[float | None] | None, words: Any = param_words) -> str:
    if ci is None:
        return ""
    low, high = ci
    return f" [{words(low) if low is not None else 'n/a'}, " \
           f"{words(high) if high is not None else 'unbounded'}]"


def usl_sentence(row: Mapping[str, Any]) -> str:
    """``quart-hypercorn: contention sigma 0.0123 [0.01, 0.015], coherency kappa 2.1e-06
    [...]; throughput peaks at 1,020 req/s [..] near C = 690 [..]; model: ...``."""
    parts = [f"{row['label']}: contention σ = {param_words(row['sigma'])}"
             f"{_ci_words(row['sigma_ci'])}, coherency κ = {param_words(row['kappa'])}"
             f"{_ci_words(row['kappa_ci'])}"]
    if row["peak_n"] is not None:
        parts.append(f"throughput peaks at {rate_words(row['peak_x'])} req/s"
                     f"{_ci_words(row['peak_x_ci'], rate_words)} near C = "
                     f"{rate_words(row['peak_n'])}{_ci_words(row['peak_n_ci'], rate_words)}")
    elif row["peak_x"] is not None:
        parts.append(f"throughput levels off towards {rate_words(row['peak_x'])} req/s "
                     f"(no coherency cost found)")
    bounds = []  # (req/s, words): the model's bounds, the binding one first
    if row["slots"] is not None and row["delay_ms"]:
        slot_rps = 1000 * row["slots"] / row["delay_ms"]
        bounds.append((slot_rps, f"{row['slots']} slots / {row['delay_ms']:g} ms = "
                                 f"{rate_words(slot_rps)} req/s"))
    if row["cpu_bound_rps"] is not None:
        bounds.append((row["cpu_bound_rps"],
                       f"{row['cpus']} CPU{'s' if row['cpus'] != 1 else ''} / "
                       f"{row['cpu_ms_per_request']:.2g} ms of CPU per request = "
                       f"{rate_words(row['cpu_bound_rps'])} req/s"))
    if bounds:
        bounds.sort(key=lambda b: b[0])
        parts.append(f"its model's bound: {bounds[0][1]}")
    return "; ".join(parts)
