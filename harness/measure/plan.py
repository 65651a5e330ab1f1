"""The trial plan: which trials a round runs, in which seeded random order.

A round visits every stack once, in an order shuffled from (seed, round); within a
stack it runs every (scenario, level) once, in an order shuffled the same way.
The plan is a pure function of the config and the seed, so a resumed or rerun
trial finds its place again from its record alone. A scenario a stack declares no
request path for is left out of its plan (``skipped`` says which and why).

The capacity sweep is the exception: which rungs of its ladder a round runs depends on
what the round measured (``measure.climb``), so its trials are not in the shuffled plan;
they follow each stack's planned trials of the round, in ascending order, and take the
orders reserved for them after the round's planned ones (:func:`order_slots`).

An open-loop trial runs ``duration_s``, longer when that holds too few answers for its
p99 (``rundir.format.answers_needed``), up to the scenario's ``max_duration_s``
(:func:`open_loop_duration`).

A round of the adaptive allocation runs only some cells, some of them more than once
(:func:`plan_cells`, fed the counts ``measure.rounds`` decided): the same shuffles, a
cell's repeats spread through its stack's trials, the second one's id ending ``-t2``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.config.arrival import ARRIVAL_PARAMS
from harness.config.ladder import CAPACITY
from harness.config.schema import Config, ScenarioSpec
from harness.rundir.format import answers_needed


@dataclass(frozen=True)
class PlannedTrial:
    """One trial to run: identity, place in the run and parameters."""

    round: int
    order: int
    stack: str
    scenario: str
    level: int
    params: dict[str, Any]
    repeat: int = 1  # which trial of its cell in this round (adaptive rounds repeat cells)

    @property
    def trial_id(self) -> str:
        """Unique within a run; readable; stable across resumes."""
        suffix = f"-t{self.repeat}" if self.repeat > 1 else ""
        return f"r{self.round:03d}-{self.stack}-{self.scenario}-{self.level}{suffix}"

    @property
    def cell(self) -> tuple[str, int, str]:
        """(scenario, level, stack): the arm this trial samples."""
        return (self.scenario, self.level, self.stack)


def trial_params(config: Config, scenario: str, level: int,
                 stack: str | None = None) -> dict[str, Any]:
    """The parameters a trial record stores, enough to rebuild its requests.

    A workload sweep's values for ``stack`` (cpu_ms, delay_ms, the upstream's profile
    fields) override the config's and are recorded with the trial; a clients trial records
    how its clients arrive in ``arrival`` (with the sweep's arrival values for ``stack``).
    """
    params: dict[str, Any] = {"delay_ms": config.delay_ms, "cpu_ms": config.cpu_ms,
                              "timeout_s": config.request_timeout_s}
    if stack is not None:
        params.update({k: v for k, v in config.workload(stack).items()
                       if k not in ARRIVAL_PARAMS})
    if scenario == "fanout":
        params["n"] = level
    elif scenario == "clients":
        params["clients"] = level
        arrival = config.arrival_for(stack) if stack is not None else config.arrival
        params["arrival"] = arrival.params(config.bursts_per_trial)
    else:
        spec = config.scenario(scenario)
        params["rate_rps"] = level
        params["duration_s"] = open_loop_duration(level, spec) if spec else 5.0
    return params


SIZED_PERCENTILE = 99.0  # an open-loop trial runs long enough for this percentile


def open_loop_duration(rate_rps: float, spec: ScenarioSpec) -> float:
    """How long an open-loop trial at ``rate_rps`` runs: ``duration_s``, or as long as
    :data:`SIZED_PERCENTILE` needs for its answers, at most ``max_duration_s``."""
    needed = answers_needed(SIZED_PERCENTILE) / rate_rps
    return round(min(spec.longest_s, max(spec.duration_s, needed)), 3)


def _rng(seed: int, round_no: int, salt: str) -> random.Random:
    return random.Random(f"asyncbench:{seed}:{round_no}:{salt}")


def stack_order(config: Config, round_no: int) -> list[str]:
    """The stacks of one round, shuffled from the seed and the round number."""
    names = [s.name for s in config.stacks]
    _rng(config.seed, round_no, "stacks").shuffle(names)
    return names


def plan_round(config: Config, round_no: int, first_order: int = 0) -> list[PlannedTrial]:
    """Every trial of round ``round_no`` (1-based) in the order it runs."""
    return plan_cells(config, round_no, first_order, None)


def plan_cells(config: Config, round_no: int, first_order: int,
               counts: Mapping[tuple[str, int, str], int] | None) -> list[PlannedTrial]:
    """The trials of round ``round_no`` in the order they run: ``counts`` trials of each
    (scenario, level, stack) it names, or every cell once when ``counts`` is None (with
    every count 1 the order is :func:`plan_round`'s)."""
    trials: list[PlannedTrial] = []
    order = first_order
    for stack in stack_order(config, round_no):
        spec = config.stack(stack)
        cells = [(s.name, level) for s in config.scenarios for level in s.levels
                 if spec.skip_reason(s.name) is None  # capacity has no levels: it climbs
                 for _ in range(1 if counts is None else counts.get((s.name, level, stack), 0))]
        _rng(config.seed, round_no, stack).shuffle(cells)
        seen: dict[tuple[str, int], int] = {}
        for scenario, level in cells:
            seen[(scenario, level)] = seen.get((scenario, level), 0) + 1
            trials.append(PlannedTrial(round_no, order, stack, scenario, level,
                                       trial_params(config, scenario, level, stack),
                                       seen[(scenario, level)]))
            order += 1
    return trials


def trials_per_round(config: Config) -> int:
    """How many planned trials one round holds (the capacity sweep's come on top)."""
    return sum(len(s.levels) for spec in config.stacks for s in config.scenarios
               if spec.skip_reason(s.name) is None)


def climbing_stacks(config: Config) -> list[str]:
    """The stacks a capacity sweep climbs, in config order (none without the scenario)."""
    capacity = config.scenario(CAPACITY)
    if capacity is None:
        return []
    return [spec.name for spec in config.stacks if spec.skip_reason(CAPACITY) is None]


def climb_steps(config: Config) -> int:
    """The most capacity trials one stack runs in a round (its ladder's ``max_steps``)."""
    capacity = config.scenario(CAPACITY)
    return capacity.ladder.max_steps if capacity is not None and capacity.ladder else 0


def order_slots(config: Config) -> int:
    """Orders one round takes: its planned trials, then :func:`climb_steps` reserved for
    each climbing stack's capacity trials (so orders never collide across rounds)."""
    return trials_per_round(config) + climb_steps(config) * len(climbing_stacks(config))


def capacity_trial(config: Config, round_no: int, order: int, stack: str, rate: int,
                   rung: int, anchor_rps: float) -> PlannedTrial:
    """One trial of the capacity sweep: rung ``rung`` of ``stack``'s ladder, offering
    ``rate`` req/s; its params record the rung and the ladder's anchor."""
    params = trial_params(config, CAPACITY, rate, stack)
    params.update(rung=rung, anchor_rps=round(anchor_rps, 3))
    return PlannedTrial(round_no, order, stack, CAPACITY, rate, params)


def skipped(config: Config) -> list[dict[str, str]]:
    """The (stack, scenario) pairs no trial is planned for, each with its reason: a stack
    that declares no request path for the scenario."""
    return [{"stack": spec.name, "scenario": s.name, "reason": reason}
            for spec in config.stacks for s in config.scenarios
            if (reason := spec.skip_reason(s.name)) is not None]
