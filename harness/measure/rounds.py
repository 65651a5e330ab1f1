"""Which trials each round runs, and why a run stops.

**Fixed allocation** (``[run] allocation = "fixed"``): every round runs every cell once
(``plan.plan_round``). With ``target_ci`` the run looks after every round from
``rounds`` (``min_rounds``) on and stops once every headline cell meets the target
(``analyse.allocation.met``: its family-wise interval within ``target_ci`` on at least
``MIN_TRIALS_TO_MEET`` trials an arm), at ``max_rounds`` at the latest.

**Adaptive allocation**: rounds 1 to ``min_rounds`` are full rounds; after each later look
the next round runs only what ``analyse.allocation.round_allocation`` gives the cells not
yet met (trials where the width falls fastest per second), never planned longer than a full
round, in ``plan.plan_cells``'s seeded, shuffled order, every stack started afresh. Each
such plan is written to the manifest (``allocation.rounds``) before its round starts, so a
resumed run repeats it trial for trial whatever its clock says. The run stops when every
cell is met, at ``max_rounds``, or when the budget is spent.

**The budget** (``[run] budget``, ``measure.budget``): a round whose expected cost does not
fit what is left is not started (an adaptive round is first cut down to what fits), and
the runner starts no trial expected to end beyond it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.analyse.allocation import full_round_s, round_allocation
from harness.analyse.cells import CellKey
from harness.analyse.precision import HeadlineState, headline_state, precision_section
from harness.analyse.summary import summarise
from harness.config.duration import duration_words
from harness.config.schema import Config
from harness.measure.budget import Budget
from harness.measure.plan import PlannedTrial, order_slots, plan_cells, plan_round, trials_per_round
from harness.rundir.reader import load_run

PLANS = "rounds"  # manifest["allocation"][PLANS][str(round)] = [[scenario, level, stack, n]]
FINISHED = ("fixed rounds", "target reached", "max rounds", "budget spent",
            "no trial left to plan")
"""How the stop reason of a run that ended by its own rule begins (it cannot be resumed)."""


def adaptive(config: Config, round_no: int) -> bool:
    """True when round ``round_no`` is planned by the allocation, not a full round."""
    return config.allocation == "adaptive" and round_no > config.rounds


def orders_taken(config: Config, round_no: int, planned: Collection[PlannedTrial]) -> int:
    """Orders round ``round_no`` takes: its planned trials, and in a full round the orders
    reserved for the capacity sweep's climbs (``plan.order_slots``); an adaptive round
    runs headline cells only, so no climb."""
    reserved = 0 if adaptive(config, round_no) else order_slots(config) - trials_per_round(config)
    return len(planned) + reserved


def recorded_plan(config: Config, allocation: Mapping[str, Any], round_no: int,
                  first_order: int) -> list[PlannedTrial] | None:
    """Round ``round_no``'s trials: a full round, or the adaptive plan the manifest's
    ``allocation`` recorded for it; None for an adaptive round not planned yet."""
    if not adaptive(config, round_no):
        return plan_round(config, round_no, first_order)
    entries = (allocation.get(PLANS) or {}).get(str(round_no))
    if entries is None:
        return None
    counts = {(str(s), int(lv), str(st)): int(n) for s, lv, st, n in entries}
    return plan_cells(config, round_no, first_order, counts)


def plan_entries(counts: Mapping[CellKey, int]) -> list[list[Any]]:
    """``counts`` as the manifest records them, sorted."""
    return [[s, lv, st, n] for (s, lv, st), n in sorted(counts.items())]


def look(run_dir: Path) -> HeadlineState:
    """The headline family as the run folder holds it now (the summary's intervals)."""
    run = load_run(run_dir)
    return headline_state(summarise(run), run.trials)


def precision(run_dir: Path, config: Config, stop_reason: str,
              given_up: Iterable[str]) -> dict[str, Any]:
    """The precision section of a finished run (``analyse.precision``), for the manifest."""
    run = load_run(run_dir)
    target = config.target_ci if config.target_ci > 0 else None
    return precision_section(summarise(run), run.trials, target, stop_reason, config.allocation,
                             frozenset(given_up))


def adaptive_counts(config: Config, state: HeadlineState, budget: Budget,
                    given_up: Collection[str] = ()) -> dict[CellKey, int]:
    """The next adaptive round's trials per arm: the allocation within a full round's
    trial-seconds, cut to what the budget has left after the round's and its stacks'
    start costs; no cell of a stack the run gave up starting is planned."""
    cells = [cell for cell in state.cells
             if cell.stack[2] not in given_up and cell.baseline[2] not in given_up]
    limit = full_round_s(state.arms)
    counts = round_allocation(state.arms, cells, config.target_ci,
                              confidence=state.level, limit_s=limit)
    if budget.limited and counts:
        stacks = len({stack for _, _, stack in counts})
        room = budget.left() - budget.round_cost() - stacks * budget.start_cost()
        if sum(n * state.arms[key].cost_s for key, n in counts.items()) > room:
            counts = round_allocation(state.arms, cells, config.target_ci,
                                      confidence=state.level, limit_s=min(limit, room))
    return counts


def nothing_to_plan(config: Config, round_no: int, state: HeadlineState,
                    given_up: Collection[str]) -> str:
    """Why an adaptive run without a budget stops when no trial is left to plan: the cells
    not met are those of stacks it gave up starting (or there are no cells)."""
    why = (f"no trial left to plan after {round_no - 1} rounds: "
           + (f"{', '.join(sorted(given_up))} not started again" if given_up
              else "no headline comparison"))
    return why + (f"; {progress_words(config, state)}" if state.cells else "")


def _pct(width: float | None) -> str:
    return f"±{width:.1%}" if width is not None else "undefined"


def progress_words(config: Config, state: HeadlineState) -> str:
    """``14 of 22 headline intervals within ±5.0% (widest ±18.2%)``."""
    return (f"{state.met_count(config.target_ci)} of {len(state.cells)} headline intervals "
            f"within ±{config.target_ci:.1%} (widest {_pct(state.widest())})")


def stop_decision(config: Config, round_no: int, state: HeadlineState | None) -> str | None:
    """Why the run stops after round ``round_no``, or None to go on.

    ``state`` is the look after the round (None when none was taken: before
    ``config.rounds``, or without a ``target_ci``).
    """
    if round_no < config.rounds:
        return None
    if config.target_ci <= 0 or state is None:
        return f"fixed rounds: {round_no} completed"
    count = len(state.cells)
    if count and state.met_count(config.target_ci) == count:
        return (f"target reached: all {count} headline intervals within "
                f"±{config.target_ci:.1%} after {round_no} rounds "
                f"(widest {_pct(state.widest())})")
    if round_no >= config.max_rounds:
        return (f"max rounds reached: {round_no} rounds, widest headline interval "
                f"{_pct(state.widest())} > target ±{config.target_ci:.1%}; "
                f"{state.met_count(config.target_ci)} of {count} met it")
    return None


def budget_stop(config: Config, budget: Budget, trials: list[PlannedTrial], round_no: int,
                state: HeadlineState | None) -> str | None:
    """Why round ``round_no`` does not start: its ``trials`` are expected to cost more
    than the budget has left, or there are none (an adaptive round cut to nothing); None
    when it starts."""
    if not budget.limited:
        return None
    expected = budget.expected(t.cell for t in trials)
    if trials and budget.fits(expected):
        return None
    needs = (f"round {round_no} needs about {duration_words(expected)}" if trials
             else "not one more trial fits")
    why = f"budget spent: {budget.words()} after {round_no - 1} rounds; {needs}"
    if state is not None and config.target_ci > 0:
        why += f"; {progress_words(config, state)}"
    return why


def counts_words(counts: Mapping[CellKey, int]) -> str:
    """``9 trials of 5 cells on 2 stacks``."""
    stacks = Counter(stack for _, _, stack in counts)
    return (f"{sum(counts.values())} trials of {len(counts)} cells on {len(stacks)} "
            f"stack{'s' if len(stacks) != 1 else ''}")
