"""Coverage of asyncbench's ratio intervals on simulated lognormal trials.

For each trial count per arm and each log-scale spread, draws ``--reps`` pairs of
lognormal samples whose true ratio of MEANS is 4.0, builds every interval method
of ``harness.analyse.stats`` at nominal 95%, and prints how often each covers 4.0 and the
median relative half-width (``ci_half_width_ratio`` around the ratio of means).

welch-log targets the ratio of geometric means: with equal sigma in both arms it
equals the ratio of means, with unequal sigma it does not, which the rows with
two different sigmas show. "reported" is ``harness.analyse.stats.primary_interval``, the
interval the summary and the verdicts use. The BCa bootstrap runs only at
n >= 20 (as in the summary) and, to keep the run short, with 1999 resamples
instead of the summary's 9999.

With 1000 reps the Monte Carlo standard error of a 95% coverage is about 0.7
points.

The second table simulates the adaptive stopping rule of ``configs/publish.toml``
(``rounds`` to ``max_rounds`` trials per arm, a look after every round, stop once the
reported interval's relative half-width is within ``target_ci``): the coverage of the
interval reported when the run stops, beside the fixed-n coverage at the first and
the last allowed round on the same data sets. Trials are drawn with spreads around
the target, where stopping early is possible but not certain.

The third table (``scripts/family_sim.py``) simulates ``[run] allocation = "adaptive"`` on
a whole headline family: each interval's coverage, the family's simultaneous coverage, and
the seconds it spends against a fixed plan reaching the same widest width. Usage::

    .venv/bin/python scripts/coverage_sim.py --reps 1000 --seed 20240601
    .venv/bin/python scripts/coverage_sim.py --trials 5 --reps 20000   # small n, precisely
    .venv/bin/python scripts/coverage_sim.py --sequential-only --reps 2000
    .venv/bin/python scripts/coverage_sim.py --family-only --reps 1000
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.analyse import stats, verdicts
from harness.config.load import load_config
from scripts.family_sim import print_family

PUBLISH = Path(__file__).resolve().parent.parent / "configs" / "publish.toml"
# Log-scale spreads for the stopping rule: with target 0.03 and 20-40 trials a side,
# sigma near 0.05 is where the rule sometimes stops early and sometimes runs to the end.
SEQUENTIAL_SIGMAS = ((0.03, 0.03), (0.05, 0.05), (0.06, 0.06), (0.07, 0.07), (0.1, 0.1),
                     (0.03, 0.08), (0.08, 0.03))

TRUE_RATIO = 4.0
CONFIDENCE = 0.95
SIM_RESAMPLES = 1999
TRIAL_COUNTS = (5, 10, 30)
# (sigma of the numerator arm, sigma of the denominator arm) on the log scale.
SIGMAS = ((0.05, 0.05), (0.2, 0.2), (0.5, 0.5), (0.1, 0.4), (0.4, 0.1))

Method = Callable[[list[float], list[float], int], stats.RatioInterval]

METHODS: dict[str, Method] = {
    "fieller": lambda x, y, s: stats.fieller_ratio_ci(x, y, CONFIDENCE),
    "welch-log": lambda x, y, s: stats.welch_log_ratio_ci(x, y, CONFIDENCE),
    "bca-bootstrap": lambda x, y, s: stats.bootstrap_ratio_ci(
        x, y, CONFIDENCE, s, n_resamples=SIM_RESAMPLES
    ),
    "reported": lambda x, y, s: stats.primary_interval(x, y, CONFIDENCE),
}


def lognormal_with_mean(rng: np.random.Generator, mean: float, sigma: float, n: int) -> list[float]:
    """``n`` lognormal draws with the given arithmetic mean and log-scale sigma."""
    mu = math.log(mean) - sigma**2 / 2.0
    return [float(v) for v in rng.lognormal(mu, sigma, n)]


def simulate(
    n: int, sigmas: tuple[float, float], method: str, reps: int, seed: int
) -> tuple[float, float, int]:
    """Coverage, median relative half-width and unbounded count of one method."""
    # The same data sets for every method of a (n, sigmas) cell, so rows compare.
    rng = np.random.default_rng([seed, n, int(sigmas[0] * 1000), int(sigmas[1] * 1000)])
    build = METHODS[method]
    covered = unbounded = 0
    widths: list[float] = []
    for rep in range(reps):
        num = lognormal_with_mean(rng, TRUE_RATIO, sigmas[0], n)
        den = lognormal_with_mean(rng, 1.0, sigmas[1], n)
        ci = build(num, den, seed + rep)
        covered += ci.low <= TRUE_RATIO <= ci.high
        if not ci.bounded or (method == "reported" and ci.method != "fieller"):
            unbounded += 1
        ratio = stats.ratio_of_means(num, den)
        widths.append(verdicts.ci_half_width_ratio(ratio, ci.low, ci.high) if ci.bounded
                      else math.inf)
    return covered / reps, float(np.median(widths)), unbounded


def _covers(num: list[float], den: list[float], confidence: float) -> tuple[bool, float]:
    """Whether the reported interval covers the truth, and its relative half-width."""
    ci = stats.primary_interval(num, den, confidence)
    if not ci.bounded:
        return True, math.inf  # an unbounded set covers everything and never stops a run
    ratio = stats.ratio_of_means(num, den)
    return ci.low <= TRUE_RATIO <= ci.high, verdicts.ci_half_width_ratio(ratio, ci.low, ci.high)


def sequential(sigmas: tuple[float, float], reps: int, seed: int, rounds: tuple[int, int],
               target: float, confidence: float) -> dict[str, float]:
    """Coverage under the stopping rule, and at fixed n = min and max rounds.

    Each data set draws ``max`` trials per arm; the rule looks after every round from
    ``min`` on and stops at the first look whose half-width is within ``target``.
    """
    first, last = rounds
    rng = np.random.default_rng([seed, 7, int(sigmas[0] * 1000), int(sigmas[1] * 1000)])
    hits = {"fixed-min": 0, "fixed-max": 0, "sequential": 0}
    stopped_at: list[int] = []
    for _ in range(reps):
        num = lognormal_with_mean(rng, TRUE_RATIO, sigmas[0], last)
        den = lognormal_with_mean(rng, 1.0, sigmas[1], last)
        hits["fixed-min"] += _covers(num[:first], den[:first], confidence)[0]
        hits["fixed-max"] += _covers(num, den, confidence)[0]
        for n in range(first, last + 1):
            covered, width = _covers(num[:n], den[:n], confidence)
            if width <= target or n == last:
                hits["sequential"] += covered
                stopped_at.append(n)
                break
    result = {name: count / reps for name, count in hits.items()}
    result["mean_n"] = float(np.mean(stopped_at))
    result["early"] = float(np.mean([n < last for n in stopped_at]))
    return result


def print_sequential(reps: int, seed: int) -> None:
    """The stopping rule's table, at the run's confidence and at a look-adjusted level."""
    config = load_config(PUBLISH)
    rounds, target = (config.rounds, config.max_rounds), config.target_ci
    print(f"\nadaptive stopping of {PUBLISH.name}: {rounds[0]}-{rounds[1]} trials per arm, "
          f"a look per round, stop at half-width <= {target:.0%}; nominal "
          f"{CONFIDENCE:.0%}, reps {reps}")
    header = (f"{'sigma num/den':>13} | {'fixed n=' + str(rounds[0]):>11} | "
              f"{'fixed n=' + str(rounds[1]):>11} | {'sequential':>10} | {'mean n':>6} | "
              f"{'stopped early':>13}")
    print(header)
    print("-" * len(header))
    for sigmas in SEQUENTIAL_SIGMAS:
        r = sequential(sigmas, reps, seed, rounds, target, CONFIDENCE)
        print(f"{sigmas[0]:.2f}/{sigmas[1]:.2f}".rjust(13) + f" | {r['fixed-min']:>11.1%} | "
              f"{r['fixed-max']:>11.1%} | {r['sequential']:>10.1%} | {r['mean_n']:>6.1f} | "
              f"{r['early']:>13.1%}")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=1000, help="data sets per cell")
    parser.add_argument("--seed", type=int, default=20240601, help="master seed")
    parser.add_argument(
        "--trials",
        type=int,
        nargs="+",
        default=list(TRIAL_COUNTS),
        help="trials per arm to simulate (default: 5 10 30)",
    )
    parser.add_argument("--sequential-only", action="store_true",
                        help="print only the adaptive stopping table")
    parser.add_argument("--family-only", action="store_true",
                        help="print only the adaptive allocation table of a headline family")
    args = parser.parse_args(argv)
    if args.reps < 1:
        parser.error("--reps must be at least 1")
    if min(args.trials) < stats.MIN_TRIALS_FOR_CI:
        parser.error(f"--trials must be at least {stats.MIN_TRIALS_FOR_CI}")

    started = time.perf_counter()
    if args.sequential_only or args.family_only:
        (print_sequential if args.sequential_only else print_family)(args.reps, args.seed)
        print(f"elapsed {time.perf_counter() - started:.0f} s")
        return 0
    print(
        f"true ratio of means {TRUE_RATIO}, nominal {CONFIDENCE:.0%}, reps {args.reps}, "
        f"seed {args.seed}, bootstrap resamples {SIM_RESAMPLES} (n >= "
        f"{stats.MIN_TRIALS_FOR_BOOTSTRAP} only)"
    )
    header = (
        f"{'n':>3} | {'sigma num/den':>13} | {'method':<13} | {'coverage':>8} | "
        f"{'median rel half-width':>21} | {'unbounded/fallback':>18}"
    )
    print(header)
    print("-" * len(header))
    for n in args.trials:
        for sigmas in SIGMAS:
            for method in METHODS:
                if method == "bca-bootstrap" and n < stats.MIN_TRIALS_FOR_BOOTSTRAP:
                    continue
                coverage, width, odd = simulate(n, sigmas, method, args.reps, args.seed)
                label = f"{sigmas[0]:.2f}/{sigmas[1]:.2f}"
                print(
                    f"{n:>3} | {label:>13} | {method:<13} | {coverage:>8.1%} | "
                    f"{width:>21.4f} | {odd:>18}"
                )
    print_sequential(args.reps, args.seed)
    print_family(args.reps, args.seed)
    print(f"elapsed {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
