"""How many more trials each arm gets: Neyman allocation toward a target width. Pure.

An *arm* is the trials of one (scenario, level, stack): how many it has (``n``), the
coefficient of variation of its headline values (``cv``: sd over mean) and what one trial
costs (``cost_s``, in seconds). A *cell* is a headline comparison: a stack arm against
its baseline arm, with the current relative half-width of its (family-wise) interval.

By the delta method a ratio of two independent means has the relative variance
``cv_s**2 / n_s + cv_b**2 / n_b``, and its interval's relative half-width is a critical value
times that variance's square root. The critical value is read off the cell's own interval
(``width / sqrt(variance)``), so the plan inherits the family-wise level, Student's quantile
and Fieller's asymmetry at the present n; they shrink as n grows, so the plan errs towards
a trial too many, never too few. A cell wider than the target therefore needs the variance
``V = variance * (target / width)**2``.

The cheapest totals that reach ``V`` (minimise ``sum(c_i N_i)`` subject to
``sum(cv_i**2 / N_i) <= V`` and ``N_i >= n_i``) are Neyman's (Kalibera and Jones's rule for
repetitions): ``N_i = k * cv_i / sqrt(c_i)``, trials in proportion to the standard deviation
over the square root of a trial's cost, with ``k`` set so the variance is met, except that
an arm that already has more than its share keeps what it has and the other arm makes up
the rest.

The baseline arm of a level serves every stack compared with it, so it gets the most that
any of its cells asks for; each stack arm then needs only what its cell still lacks beside
that baseline. A cell that is met (:func:`met`: within the target on at least
:data:`MIN_TRIALS_TO_MEET` trials an arm) asks for nothing: its stack arm gets no trial.
A cell within the target on fewer trials asks for that floor; a cell with no interval yet
(too few trials, or Fieller's set unbounded) asks for a full round's ``cap`` on both arms.

A round then gives each arm what it still lacks, at most ``cap`` trials (so estimates made
from a few trials are checked again after the next round, and an arm's trials still come
from several fresh starts), and at most ``limit_s`` seconds of trials in all: when the round
would cost more, every arm's share is scaled down alike, keeping Neyman's proportions.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from harness.analyse import stats

K = TypeVar("K", bound=Hashable)

_EPS = 1e-9  # rounding slack: a total of 7.0000000001 trials is 7

MIN_TRIALS_TO_MEET = 5
"""No cell counts as within the target on fewer ok trials an arm. A cell that stops as soon
as its interval is narrow enough stops more often when its arms' spread came out small by
chance, and then reports an interval narrower than it should be; on 3 trials an arm
(Student's t on 2 degrees of freedom) that chance is large. ``scripts/family_sim.py --floor
N`` measures it on the default config's family: the family's simultaneous coverage (of a
nominal 95%) is 89.8-91.2% with no floor beyond 3 full rounds, 91.1-94.5% from 5 trials an
arm, 91.8-96.2% from 6 and 92.3-96.5% from 8, while reaching the widest width of 10 fixed
rounds takes 1.68x, 1.53x, 1.42x and 1.20x less load than those rounds: 5 holds 90% at the
least cost."""

ROUND_CAP = 3
"""The most trials an arm gets in one round: totals planned from a few trials are checked
again after the next round, and an arm's trials keep coming from several fresh starts."""


@dataclass(frozen=True)
class Arm:
    """What one arm has so far: ``n`` trials, their ``cv`` (sd / mean, 0 without spread)
    and a trial's mean cost in seconds (positive)."""

    n: int
    cv: float
    cost_s: float

    def __post_init__(self) -> None:
        if self.n < 0 or not self.cv >= 0 or not self.cost_s > 0:
            raise ValueError(f"an arm needs n >= 0, cv >= 0 and cost_s > 0, got {self}")


@dataclass(frozen=True)
class Cell(Generic[K]):
    """A headline comparison: ``stack`` against ``baseline`` (keys of arms), with its
    interval's relative half-width, or None when it has no interval."""

    stack: K
    baseline: K
    width: float | None

    def within(self, target: float) -> bool:
        """True when the interval is within the target (however few its trials)."""
        return self.width is not None and self.width <= target


def met(cell: Cell[K], arms: Mapping[K, Arm], target: float,
        floor: int = MIN_TRIALS_TO_MEET) -> bool:
    """True when ``cell`` is within the target on at least ``floor`` trials an arm: it then
    asks for no more trials."""
    return cell.within(target) and min(arms[cell.stack].n, arms[cell.baseline].n) >= floor


def relative_variance(stack: Arm, baseline: Arm) -> float | None:
    """``cv_s**2 / n_s + cv_b**2 / n_b``; None when an arm has no trial."""
    if stack.n == 0 or baseline.n == 0:
        return None
    return stack.cv**2 / stack.n + baseline.cv**2 / baseline.n


def neyman_totals(stack: Arm, baseline: Arm, variance: float) -> tuple[float, float]:
    """The cheapest totals (not rounded) whose relative variance is ``variance``, each at
    least what its arm has.

    Raises:
        ValueError: ``variance`` is not positive, or both arms lack spread.
    """
    if not variance > 0 or (stack.cv == 0 and baseline.cv == 0):
        raise ValueError(f"no totals reach variance {variance!r} from {stack} and {baseline}")
    k = (stack.cv * math.sqrt(stack.cost_s) + baseline.cv * math.sqrt(baseline.cost_s)) / variance
    n_s = k * stack.cv / math.sqrt(stack.cost_s)
    n_b = k * baseline.cv / math.sqrt(baseline.cost_s)
    if n_s < stack.n:  # the stack arm already has more than its share
        return float(stack.n), _rest(baseline, variance - stack.cv**2 / stack.n)
    if n_b < baseline.n:
        return _rest(stack, variance - baseline.cv**2 / baseline.n), float(baseline.n)
    return n_s, n_b


def _rest(arm: Arm, variance: float) -> float:
    """The trials ``arm`` needs for its own share ``variance`` of the cell's variance."""
    if arm.cv == 0:
        return float(arm.n)
    return max(float(arm.n), arm.cv**2 / variance)


def _cell_totals(stack: Arm, baseline: Arm, width: float, variance: float, target: float,
                 confidence: float) -> tuple[float, float, float]:
    """Neyman totals bringing one cell to ``target``, and the variance they reach.

    The critical value the cell's interval implies now (``width / sqrt(variance)``) is
    Student's quantile at the present degrees of freedom times a factor (Fieller's
    asymmetry); the plan keeps the factor and takes the quantile at the degrees of freedom
    of the totals it plans, refined twice from the present ones (ending on the side of a
    trial too many).
    """
    critical = width / math.sqrt(variance)
    factor = critical / stats.t_quantile(confidence, _df(stack, baseline, stack.n, baseline.n))
    goal = variance * (target / width) ** 2
    n_s, n_b = neyman_totals(stack, baseline, goal)
    for _ in range(2):
        critical = factor * stats.t_quantile(confidence, _df(stack, baseline, n_s, n_b))
        goal = (target / critical) ** 2
        n_s, n_b = neyman_totals(stack, baseline, goal)
    return n_s, n_b, goal


def _df(stack: Arm, baseline: Arm, n_s: float, n_b: float) -> float:
    """Welch-Satterthwaite degrees of freedom of the cell with ``n_s`` and ``n_b`` trials."""
    return stats.welch_df(stack.cv**2 / n_s, max(2, round(n_s)),
                          baseline.cv**2 / n_b, max(2, round(n_b)))


def totals(arms: Mapping[K, Arm], cells: Sequence[Cell[K]], target: float, *,
           confidence: float, cap: int, floor: int = MIN_TRIALS_TO_MEET) -> dict[K, int]:
    """How many trials each arm needs in all so every cell meets ``target`` (what it has,
    for an arm of met cells only).

    Args:
        arms: every arm of the cells.
        cells: the headline comparisons.
        target: the relative half-width to reach, e.g. 0.05.
        confidence: the level the cells' intervals are built at (family-wise).
        cap: the trials a cell without an interval asks for on each arm.
        floor: the trials an arm of a cell not yet met needs at least (:func:`met`).
    """
    if not target > 0 or cap < 1:
        raise ValueError(f"target must be positive and cap at least 1, got {target!r}, {cap!r}")
    need = {key: float(arm.n) for key, arm in arms.items()}
    modelled: list[tuple[Cell[K], float]] = []
    serving: dict[K, int] = {}
    unmet: set[K] = set()
    for cell in cells:
        if met(cell, arms, target, floor):
            continue
        unmet.update((cell.stack, cell.baseline))
        if cell.within(target):
            continue
        for key in {cell.stack, cell.baseline}:
            serving[key] = serving.get(key, 0) + 1
        stack, baseline = arms[cell.stack], arms[cell.baseline]
        variance = relative_variance(stack, baseline)
        if (cell.width is None or not cell.width > 0 or not variance
                or min(stack.n, baseline.n) < 2):
            n_s, n_b = float(stack.n + cap), float(baseline.n + cap)
        else:
            n_s, n_b, goal = _cell_totals(stack, baseline, cell.width, variance, target,
                                          confidence)
            modelled.append((cell, goal))
        need[cell.stack] = max(need[cell.stack], n_s)
        need[cell.baseline] = max(need[cell.baseline], n_b)
    # An arm serving one open cell only needs what that cell lacks beside the other arm's
    # total, which another cell may have raised (a baseline serving its widest cell).
    for cell, goal in modelled:
        for mine, other in ((cell.stack, cell.baseline), (cell.baseline, cell.stack)):
            rest = goal - arms[other].cv**2 / need[other]
            if serving[mine] == 1 and rest > 0:
                need[mine] = min(need[mine], _rest(arms[mine], rest))
    for key in unmet:
        need[key] = max(need[key], floor)
    return {key: max(arms[key].n, math.ceil(value - _EPS)) for key, value in need.items()}


def round_allocation(arms: Mapping[K, Arm], cells: Sequence[Cell[K]], target: float, *,
                     confidence: float, cap: int = ROUND_CAP, limit_s: float | None = None,
                     floor: int = MIN_TRIALS_TO_MEET) -> dict[K, int]:
    """The trials of one round: per arm what it still lacks (:func:`totals`), at most
    ``cap``, and in all at most ``limit_s`` seconds of trials (scaled alike when the round
    would cost more, the largest fractional shares rounded up while they fit). Arms that
    get no trial are left out; an empty result means every cell met the target, or not
    one trial fits ``limit_s``.
    """
    want = {key: min(cap, total - arms[key].n)
            for key, total in totals(arms, cells, target, confidence=confidence, cap=cap,
                                     floor=floor).items() if total > arms[key].n}
    cost = sum(count * arms[key].cost_s for key, count in want.items())
    if limit_s is None or cost <= limit_s:
        return want
    scale = max(limit_s, 0.0) / cost
    given = {key: math.floor(count * scale) for key, count in want.items()}
    spare = max(limit_s, 0.0) - sum(count * arms[key].cost_s for key, count in given.items())
    for key in sorted(want, key=lambda k: given[k] - want[k] * scale):  # largest fraction first
        if given[key] < want[key] and arms[key].cost_s <= spare:
            given[key] += 1
            spare -= arms[key].cost_s
    return {key: count for key, count in given.items() if count > 0}


@dataclass(frozen=True)
class FixedEquivalent:
    """The rounds a fixed plan (every arm once a round) would need: for every cell's
    width (``rounds``) and for the same widest width (``rounds_widest``)."""

    rounds: int
    rounds_widest: int


def fixed_equivalent(arms: Mapping[K, Arm], cells: Sequence[Cell[K]]) -> FixedEquivalent | None:
    """The fixed rounds giving each cell the width it has now, by the delta method: with
    ``n`` trials on both arms a cell's variance is ``(cv_s**2 + cv_b**2) / n``, so its width
    ``w`` needs ``n = (cv_s**2 + cv_b**2) / variance`` (the critical value taken as equal),
    and the widest width ``W`` needs ``n * (w / W)**2``. None when no cell has a width."""
    needs: list[tuple[float, float]] = []
    for cell in cells:
        stack, baseline = arms[cell.stack], arms[cell.baseline]
        variance = relative_variance(stack, baseline)
        if cell.width is None or not cell.width > 0 or not variance:
            continue
        needs.append(((stack.cv**2 + baseline.cv**2) / variance, cell.width))
    if not needs:
        return None
    widest = max(width for _, width in needs)
    return FixedEquivalent(
        rounds=max(math.ceil(n - _EPS) for n, _ in needs),
        rounds_widest=max(math.ceil(n * (width / widest) ** 2 - _EPS) for n, width in needs))


def full_round_s(arms: Mapping[K, Arm]) -> float:
    """The seconds of trials of a round that runs every arm once: no round of the
    adaptive plan is planned longer."""
    return sum(arm.cost_s for arm in arms.values())
