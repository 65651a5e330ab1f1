"""The ``crosscheck`` command: one cell measured by the harness and by wrk, side by side."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from typing import Any

from harness.cli.common import err, out
from harness.config.load import load_config, with_overrides, with_selection
from harness.errors import ConfigError
from harness.measure.crosscheck import Crosscheck, crosscheck, find_wrk


def _ms(latency: dict[str, float | None], key: str) -> str:
    value = latency.get(key)
    return "n/a" if value is None else f"{value:.1f} ms"


def _workers(measured: dict[str, Any]) -> str:
    held = measured.get("workers")
    return "not seen" if not held else str(held)


def crosscheck_lines(result: Crosscheck) -> list[str]:
    """The two measurements, their ratio and the decision, as lines for a terminal; for a
    sync stack, each run's busy threads and the runs compared at the same count."""
    mine, theirs, agreement = result.harness, result.wrk, result.agreement
    ratio = "n/a" if agreement.ratio is None else f"{agreement.ratio:.3f}"
    verdict = ("within" if agreement.within else "outside") + \
        f" the ±{agreement.tolerance_pct:g}% tolerance"
    pairs = list(zip(mine.get("runs") or [mine], theirs.get("runs") or [theirs], strict=False))
    many = len(pairs) > 1
    median = f"median of {len(pairs)} runs: " if many else ""
    lines = [
        f"crosscheck {result.stack}, C = {result.clients} keep-alive connections, "
        f"{result.duration_s} s, {result.delay_ms} ms upstream delay; placement "
        f"{result.placement}",
        f"harness (sustained, steady window {result.warmup_s:g}-{result.duration_s} s): "
        f"{median}{mine['rps']:.1f} req/s, {mine['requests']} requests in the window"
        f"{'s' if many else ''}, p50 {_ms(mine['latency_ms'], 'p50')}, p99 "
        f"{_ms(mine['latency_ms'], 'p99')}",
        f"wrk ({theirs['threads']} thread(s), whole run): {median}{theirs['rps']:.1f} req/s, "
        f"{theirs['requests']} requests, {theirs['errors']} errors, p50 "
        f"{_ms(theirs['latency_ms'], 'p50')}, p99 {_ms(theirs['latency_ms'], 'p99')}",
    ]
    if many:  # each pair in the order it ran, with each run's spread over the workers
        lines += [f"pair {i} ({'harness first' if i % 2 else 'wrk first'}): harness "
                  f"{h['rps']:.1f} req/s {_workers(h)}{_busy(h)}, wrk {w['rps']:.1f} req/s "
                  f"{_workers(w)}{_busy(w)}" for i, (h, w) in enumerate(pairs, 1)]
    else:
        lines.append(f"connections per worker at the peak: harness {_workers(mine)}{_busy(mine)}"
                     f", wrk {_workers(theirs)}{_busy(theirs)}")
    lines.append(f"harness / wrk = {ratio}{' (medians)' if many else ''}: {verdict}")
    same = result.matched
    if same is not None and result.threads_per_worker:
        ceiling = same["busy_threads"] / (result.delay_ms / 1000) if result.delay_ms else None
        lines.append(
            f"runs with the same {same['busy_threads']} threads busy ({result.threads_per_worker}"
            f" a worker): harness {same['harness_rps']:.1f} req/s ({same['harness_runs']} "
            f"run(s)), wrk {same['wrk_rps']:.1f} req/s ({same['wrk_runs']}), harness / wrk = "
            f"{same['ratio']:.3f}: {'within' if same['within'] else 'outside'} the "
            f"±{agreement.tolerance_pct:g}% tolerance"
            + ("" if ceiling is None else f" (those threads' ceiling: {ceiling:.1f} req/s)"))
    return lines


def _busy(measured: dict[str, Any]) -> str:
    busy = measured.get("busy_threads")
    return "" if busy is None else f" ({busy} threads busy)"


def cmd_crosscheck(args: argparse.Namespace) -> int:
    """Measure one cell with the harness and with wrk; 0 when they agree within the
    tolerance, 1 when they do not (or either instrument saw failed requests)."""
    if args.warmup_s >= args.duration_s:
        raise ConfigError(f"command line: --warmup-s {args.warmup_s:g}: must be below "
                          f"--duration-s ({args.duration_s}), or the steady window is empty")
    wrk = find_wrk(args.wrk)  # before any stack starts
    config = with_selection(load_config(args.config), stacks=[args.stack])
    config = with_overrides(config, delay_ms=args.delay_ms)
    if args.no_quiet_wait:
        config = with_overrides(config, quiet_wait_s=0)
    result = crosscheck(config, config.stack(args.stack), args.clients, args.duration_s,
                        args.warmup_s, args.tolerance_pct, wrk, args.wrk_threads, note=err,
                        repeat=args.repeat)
    if args.json:
        out(json.dumps({**asdict(result), "ratio": result.agreement.ratio,
                        "within": result.agreement.within}, indent=2, sort_keys=True))
    else:
        for line in crosscheck_lines(result):
            out(line)
    failed = [f"{who}: {problem}" for who, problem in
              (("harness", result.harness["errors"]),
               ("wrk", f"{result.wrk['errors']} errors" if result.wrk["errors"] else None))
              if problem]
    if failed:
        err(f"asyncbench: crosscheck: requests failed, so the figures do not compare "
            f"({'; '.join(failed)})")
        return 1
    return 0 if result.agreement.within else 1
