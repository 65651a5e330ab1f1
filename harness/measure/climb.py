"""The capacity sweep's climb: which rung of a stack's ladder a round runs next, decided
from what the run has measured so far.

A stack's ladder is anchored at the model's estimate of what it carries
(:func:`anchor_rps`, ``analyse.model.capacity_rps``); rung ``j`` offers
``Ladder.rate(anchor, j)`` req/s in every round, so rungs line up across rounds. In each
round (:func:`next_rung`):

1. start at the lowest rung an earlier round ran (the first round: rung 0);
2. while the lowest rung run is saturated, step down (a stack far below its model);
3. otherwise step up until a rung is saturated, and at least to the highest rung an
   earlier round ran, so every rung gets a trial in every round from then on;
4. never more than ``max_steps`` rungs a round (a sweep that ends there never saturated:
   its knee is "not reached").

A rung is judged by one trial: ``analyse.knee.within`` on its served share and p99; a
failed trial (the stack died, or requests failed) counts as saturated, an invalid one
(the instrument was disturbed) as not judged, and the climb goes on above it.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.analyse.capacity import trial_point
from harness.analyse.cells import is_number
from harness.analyse.knee import within
from harness.analyse.model import capacity_rps
from harness.config.ladder import CAPACITY, Ladder
from harness.config.schema import Config, StackSpec
from harness.measure.plan import PlannedTrial, capacity_trial, climbing_stacks, trial_params
from harness.rundir.reader import load_run


def anchor_rps(config: Config, spec: StackSpec, cpus: int) -> float:
    """The model's estimate of the rate ``spec`` carries on ``cpus`` CPUs (at most one per
    worker process): its slots over delay plus CPU per request, never more than its CPUs
    over CPU per request (the ladder's stated ``cpu_ms_per_request`` plus handler work)."""
    ladder = _ladder(config)
    params = trial_params(config, CAPACITY, 1, spec.name)
    cpu_s = (ladder.cpu_ms_per_request + float(params.get("cpu_ms") or 0)) / 1000
    usable = max(1, min(cpus, spec.workers))
    return capacity_rps(float(params["delay_ms"]) / 1000, spec.concurrency_slots, usable, cpu_s)


def _ladder(config: Config) -> Ladder:
    scenario = config.scenario(CAPACITY)
    if scenario is None or scenario.ladder is None:
        raise ValueError("the config runs no capacity sweep")
    return scenario.ladder


def lowest_rung(ladder: Ladder, anchor: float) -> int:
    """The lowest rung whose rate is distinct from its neighbours' after rounding (the
    rungs below would repeat 1 or 2 req/s)."""
    base = anchor * ladder.start
    floor = 1.0 / (ladder.step - 1.0)  # consecutive rungs then differ by at least 1 req/s
    return math.ceil(math.log(floor / base) / math.log(ladder.step) - 1e-9)


def next_rung(states: Mapping[int, bool | None], earlier: Collection[int], max_steps: int,
              lowest: int) -> int | None:
    """The rung to run next in a round (see the module docstring), or None when the round's
    climb is over.

    ``states`` maps each rung run this round to True (saturated), False (within) or None
    (not judged); ``earlier`` holds the rungs earlier rounds ran.
    """
    if not states:
        return max(lowest, min(earlier)) if earlier else max(lowest, 0)
    if len(states) >= max_steps:
        return None
    low, high = min(states), max(states)
    if states[low] is True and low - 1 >= lowest and low - 1 not in states:
        return low - 1
    if states[high] is not True or (earlier and high < max(earlier)):
        return high + 1
    return None


def judge(record: Mapping[str, Any], ladder: Ladder) -> bool | None:
    """Whether a capacity trial found its rung saturated (None: not judged)."""
    if record.get("status") == "failed":
        return True
    if record.get("status") != "ok":
        return None
    point = trial_point(record)
    if point is None:
        return None
    params = record.get("params") if isinstance(record.get("params"), Mapping) else {}
    delay, cpu = ((params or {}).get(key) for key in ("delay_ms", "cpu_ms"))
    bound = ladder.bound_ms(float(delay) if is_number(delay) else 0.0,
                            float(cpu) if is_number(cpu) else 0.0)
    return not within([point], bound, ladder.served_min)


class Climb:
    """One stack's capacity sweep over a run: the rungs each round ran and how they were
    judged. Feed it every record (:meth:`observe`); ask it for the next trial."""

    def __init__(self, config: Config, stack: str, anchor: float,
                 history: Iterable[Mapping[str, Any]] = ()) -> None:
        self.config = config
        self.stack = stack
        self.anchor = anchor
        self.ladder = _ladder(config)
        self.lowest = lowest_rung(self.ladder, anchor)
        self.rounds: dict[int, dict[int, bool | None]] = {}
        for record in history:
            self.observe(record)

    def observe(self, record: Mapping[str, Any]) -> None:
        """Take a written record into account (others' and retried attempts are ignored)."""
        params = record.get("params")
        if (record.get("scenario") != CAPACITY or record.get("stack") != self.stack
                or record.get("retried") or not isinstance(params, Mapping)
                or not isinstance(params.get("rung"), int)
                or not isinstance(record.get("round"), int)):
            return
        self.rounds.setdefault(record["round"], {})[params["rung"]] = judge(record, self.ladder)

    def next_trial(self, round_no: int, first_order: int) -> PlannedTrial | None:
        """The next capacity trial of round ``round_no`` (its order counted from
        ``first_order``, the stack's reserved slots), or None when the climb is over."""
        states = self.rounds.get(round_no, {})
        earlier = {j for r, rungs in self.rounds.items() if r < round_no for j in rungs}
        rung = next_rung(states, earlier, self.ladder.max_steps, self.lowest)
        if rung is None:
            return None
        return capacity_trial(self.config, round_no, first_order + len(states), self.stack,
                              self.ladder.rate(self.anchor, rung), rung, self.anchor)


@dataclass
class ClimbStep:
    """A stack's capacity sweep in one round: its climb, the round, its first order."""

    climb: Climb
    round_no: int
    first_order: int

    def next_trial(self) -> PlannedTrial | None:
        """The climb's next trial of this round, or None when it is over."""
        return self.climb.next_trial(self.round_no, self.first_order)


def climbs_for(config: Config, run_dir: Path, cpus: int, resumed: bool) -> dict[str, Climb]:
    """A climb per stack of the capacity sweep, in config order, anchored for ``cpus``
    CPUs, knowing the rungs a resumed run already ran (from its records)."""
    names = climbing_stacks(config)
    history = load_run(run_dir).trials if names and resumed else []
    return {name: Climb(config, name, anchor_rps(config, config.stack(name), cpus), history)
            for name in names}
