"""The adaptive allocation on a whole headline family, simulated: coverage and time.

The default config's 22 headline cells (11 levels, two stacks against one baseline), each
arm lognormal with the cv and the trial cost the committed example run measured. After
``min_rounds`` full rounds every round looks at each cell's family-wise (Bonferroni)
interval and gives trials only to the cells not yet met, as
``harness.analyse.allocation.round_allocation`` plans them (the runner's own function, with
a full round's trial-seconds as the limit), until every cell is met or ``max_rounds``.

Per row it prints each interval's coverage (the lowest cell's and the mean), the family's
simultaneous coverage, how often every cell met the target, the rounds, and the seconds of
load spent against a fixed plan (every arm each round) on the same data sets: for a fixed
target, the fewest fixed rounds reaching the same widest width (found by bisection); in
the last row the target is, data set by data set, the widest width of 10 fixed rounds, and
the fixed plan is those 10 rounds (the issue's "same widest width" comparison). Wall time
adds, per stack started in a round, the start, warm-up and quiet-machine wait the example
run spent beside its trials (``START_S``). ``--floor`` sets the trials an arm needs before
its cell counts as met (``MIN_TRIALS_TO_MEET``), to compare floors. Usage::

    .venv/bin/python scripts/family_sim.py --reps 1000
    .venv/bin/python scripts/family_sim.py --reps 600 --floor 3
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.analyse import stats, verdicts
from harness.analyse.allocation import (
    MIN_TRIALS_TO_MEET,
    ROUND_CAP,
    Arm,
    Cell,
    full_round_s,
    met,
    round_allocation,
)

CONFIDENCE = 0.95
# The default config's family as the committed example run (results/example: 10 rounds on
# a quiet 2-core machine) measured it. Per level: the baseline's (cv, cost in s) of its
# headline values, then each stack's (cv, cost, true ratio of means baseline / stack).
EXAMPLE_FAMILY = (
    ("fanout", 1, (0.009, 0.11), ((0.007, 0.11, 1.00), (0.037, 0.11, 1.00))),
    ("fanout", 5, (0.004, 0.52), ((0.007, 0.11, 4.93), (0.004, 0.10, 4.97))),
    ("fanout", 10, (0.005, 1.03), ((0.023, 0.11, 9.76), (0.040, 0.11, 9.71))),
    ("fanout", 25, (0.002, 2.57), ((0.032, 0.11, 23.7), (0.074, 0.11, 23.3))),
    ("fanout", 50, (0.003, 5.14), ((0.062, 0.11, 45.5), (0.087, 0.12, 44.0))),
    ("clients", 1, (0.005, 0.32), ((0.005, 0.32, 1.00), (0.003, 0.32, 1.01))),
    ("clients", 10, (0.129, 1.00), ((0.010, 0.33, 3.14), (0.018, 0.33, 3.16))),
    ("clients", 20, (0.161, 1.84), ((0.039, 0.36, 5.47), (0.087, 0.35, 5.59))),
    ("clients", 50, (0.141, 3.87), ((0.037, 0.41, 9.19), (0.012, 0.38, 10.0))),
    ("clients", 100, (0.078, 6.99), ((0.121, 0.53, 12.3), (0.096, 0.48, 14.5))),
    ("clients", 200, (0.127, 13.26), ((0.070, 0.71, 20.4), (0.083, 0.66, 21.7))),
)
STACKS = 3
START_S = 5.7  # the example run's 601 s less its 429 s of load, over 10 rounds x 3 stacks
TARGETS: tuple[float | None, ...] = (0.05, 0.10, 0.20, None)  # None: fixed 10's widest
ROUNDS = (3, 20)
FIXED_ROUNDS = 10

ArmKey = tuple[int, int]  # (level index, 0 for the baseline or 1.. for a stack)
Data = dict[ArmKey, np.ndarray]


def _family(family: Sequence[Any]) -> tuple[dict[ArmKey, tuple[float, float, float]],
                                           list[tuple[ArmKey, ArmKey, float]]]:
    """Arms as (cv, cost, mean) and cells as (stack, baseline, true ratio of means)."""
    arms: dict[ArmKey, tuple[float, float, float]] = {}
    cells: list[tuple[ArmKey, ArmKey, float]] = []
    for i, (_, _, (cv, cost), stacks) in enumerate(family):
        arms[(i, 0)] = (cv, cost, 1.0)
        for j, (s_cv, s_cost, ratio) in enumerate(stacks, 1):
            arms[(i, j)] = (s_cv, s_cost, 1.0 / ratio)  # durations: the ratio is b / s
            cells.append(((i, j), (i, 0), ratio))
    return arms, cells


Interval = tuple[float, float, float | None]


def _interval(data: Data, n: dict[ArmKey, int], stack: ArmKey, baseline: ArmKey,
              confidence: float, seen: dict[tuple[Any, ...], Interval] | None = None
              ) -> Interval:
    """A cell's reported interval (low, high) and relative half-width (None: unbounded);
    ``seen`` keeps those already built for the same trials (most cells of a look)."""
    key = (stack, baseline, n[stack], n[baseline])
    if seen is not None and key in seen:
        return seen[key]
    num, den = data[baseline][:n[baseline]], data[stack][:n[stack]]
    ci = stats.primary_interval(num, den, confidence)
    found: Interval = (-math.inf, math.inf, None)
    if ci.bounded:
        ratio = float(np.mean(num) / np.mean(den))
        found = (ci.low, ci.high, verdicts.ci_half_width_ratio(ratio, ci.low, ci.high))
    if seen is not None:
        seen[key] = found
    return found


def _widest(data: Data, n: dict[ArmKey, int], cells: list[tuple[ArmKey, ArmKey, float]],
            confidence: float) -> float:
    widths = [_interval(data, n, s, b, confidence)[2] for s, b, _ in cells]
    return max(w if w is not None else math.inf for w in widths)


def _fixed_rounds_to(data: Data, cells: list[tuple[ArmKey, ArmKey, float]], widest: float,
                     confidence: float, low: int, high: int) -> int | None:
    """The fewest rounds (every arm once a round) whose widest interval is within
    ``widest`` on these data, by bisection between ``low`` and ``high``; None if even
    ``high`` rounds do not reach it."""
    if _widest(data, dict.fromkeys(data, high), cells, confidence) > widest:
        return None
    while low < high:
        mid = (low + high) // 2
        if _widest(data, dict.fromkeys(data, mid), cells, confidence) <= widest:
            high = mid
        else:
            low = mid + 1
    return low


def family_rule(reps: int, seed: int, target: float | None, *, floor: int = MIN_TRIALS_TO_MEET,
                rounds: tuple[int, int] = ROUNDS,
                family: Sequence[Any] = EXAMPLE_FAMILY) -> dict[str, float]:
    """The adaptive allocation on a headline family: coverage, load and wall seconds.

    ``target`` None takes each data set's widest width of :data:`FIXED_ROUNDS` fixed
    rounds as its target and compares with those rounds. Returns the lowest and the mean
    coverage of a cell's interval, the simultaneous coverage, the share of data sets where
    every cell met the target, the mean rounds, load and wall seconds of the adaptive run
    and of the fixed plan (``fixed_*``; data sets where no fixed plan within the drawn
    trials reaches the width are left out and counted in ``fixed_short``), and the fixed
    plan's simultaneous coverage.
    """
    first, last = rounds
    arms_spec, cells_spec = _family(family)
    level = stats.familywise_confidence(CONFIDENCE, len(cells_spec))
    most = max(first + (last - first) * ROUND_CAP, FIXED_ROUNDS)
    costs = {key: cost for key, (_, cost, _) in arms_spec.items()}
    full = full_round_s({key: Arm(first, 0.0, cost) for key, cost in costs.items()})
    rng = np.random.default_rng([seed, 11, int((target or 0) * 1000)])
    covered = np.zeros(len(cells_spec))
    together = all_met = fixed_together = fixed_short = 0
    out: dict[str, list[float]] = {k: [] for k in ("rounds", "load", "wall", "fixed_load",
                                                   "fixed_wall")}
    for _ in range(reps):
        data = {key: rng.lognormal(math.log(mean) - math.log1p(cv**2) / 2,
                                   math.sqrt(math.log1p(cv**2)), most)
                for key, (cv, _, mean) in arms_spec.items()}
        goal = target if target is not None else _widest(
            data, dict.fromkeys(data, FIXED_ROUNDS), cells_spec, level)
        n = dict.fromkeys(arms_spec, first)
        done, starts = first, first * STACKS
        seen: dict[tuple[Any, ...], Interval] = {}
        cvs: dict[tuple[ArmKey, int], float] = {}
        while True:
            found = [_interval(data, n, s, b, level, seen) for s, b, _ in cells_spec]
            cells = [Cell(s, b, width) for (s, b, _), (_, _, width) in zip(cells_spec, found,
                                                                             strict=True)]
            for key in arms_spec:
                if (key, n[key]) not in cvs:
                    values = data[key][:n[key]]
                    cvs[(key, n[key])] = float(np.std(values, ddof=1) / np.mean(values))
            arms = {key: Arm(n[key], cvs[(key, n[key])], costs[key]) for key in arms_spec}
            if done >= last or all(met(cell, arms, goal, floor) for cell in cells):
                break
            extra = round_allocation(arms, cells, goal, confidence=level, limit_s=full,
                                     floor=floor)
            if not extra:
                break
            for key, count in extra.items():
                n[key] += count
            done += 1
            starts += len({stack for _, stack in extra})
        hits = [low <= truth <= high for (_, _, truth), (low, high, _) in zip(cells_spec, found,
                                                                               strict=True)]
        covered += hits
        together += all(hits)
        all_met += all(met(cell, arms, goal, floor) for cell in cells)
        load = sum(n[key] * costs[key] for key in arms_spec)
        out["rounds"].append(done)
        out["load"].append(load)
        out["wall"].append(load + starts * START_S)
        widest = max((c.width if c.width is not None else math.inf) for c in cells)
        k = (FIXED_ROUNDS if target is None
             else _fixed_rounds_to(data, cells_spec, widest, level, first, most))
        if k is None:
            fixed_short += 1
            continue
        out["fixed_load"].append(k * full)
        out["fixed_wall"].append(k * (full + STACKS * START_S))
        fixed = [_interval(data, dict.fromkeys(arms_spec, k), s, b, level)
                 for s, b, _ in cells_spec]
        fixed_together += all(low <= truth <= high
                              for (_, _, truth), (low, high, _) in zip(cells_spec, fixed,
                                                                       strict=True))
    means = {k: float(np.mean(v)) if v else math.nan for k, v in out.items()}
    return {"cell_min": float(covered.min() / reps), "cell_mean": float(covered.mean() / reps),
            "together": together / reps, "all_met": all_met / reps, **means,
            "fixed_short": fixed_short,
            "fixed_together": (fixed_together / len(out["fixed_load"]) if out["fixed_load"]
                               else math.nan)}


def print_family(reps: int, seed: int, floor: int = MIN_TRIALS_TO_MEET) -> None:
    """The adaptive allocation's table on the example run's family."""
    first, last = ROUNDS
    cells = sum(len(stacks) for *_, stacks in EXAMPLE_FAMILY)
    level = stats.familywise_confidence(CONFIDENCE, cells)
    print(f"\nadaptive allocation on the default config's family ({cells} cells, each interval "
          f"at {level:.2%}, family-wise {CONFIDENCE:.0%}), arms lognormal with the example "
          f"run's cv and costs; {first}-{last} rounds, at most {ROUND_CAP} trials an arm a "
          f"round, met on >= {floor} trials an arm; reps {reps}, seed {seed}")
    header = (f"{'target':>12} | {'cell cov. min':>13} | {'cell cov. mean':>14} | "
              f"{'simultaneous':>12} | {'all met':>7} | {'rounds':>6} | {'load s':>6} | "
              f"{'fixed load s':>12} | {'load saving':>11} | {'wall saving':>11} | "
              f"{'fixed simult.':>13}")
    print(header)
    print("-" * len(header))
    for target in TARGETS:
        r = family_rule(reps, seed, target, floor=floor)
        short = f" ({r['fixed_short']} short)" if r["fixed_short"] else ""
        label = f"{target:.0%}" if target is not None else f"fixed {FIXED_ROUNDS}'s"
        print(f"{label:>12} | {r['cell_min']:>13.1%} | {r['cell_mean']:>14.1%} | "
              f"{r['together']:>12.1%} | {r['all_met']:>7.0%} | {r['rounds']:>6.1f} | "
              f"{r['load']:>6.0f} | {r['fixed_load']:>12.0f} | "
              f"{r['fixed_load'] / r['load']:>10.2f}x | {r['fixed_wall'] / r['wall']:>10.2f}x | "
              f"{r['fixed_together']:>13.1%}{short}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000, help="data sets per row")
    parser.add_argument("--seed", type=int, default=20240601, help="master seed")
    parser.add_argument("--floor", type=int, default=MIN_TRIALS_TO_MEET,
                        help=f"trials an arm needs before its cell is met (default "
                             f"{MIN_TRIALS_TO_MEET})")
    args = parser.parse_args(argv)
    if args.reps < 1 or args.floor < 2:
        parser.error("--reps must be at least 1 and --floor at least 2")
    started = time.perf_counter()
    print_family(args.reps, args.seed, args.floor)
    print(f"elapsed {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
