"""The trial plan: which trials a round runs, in which seeded random order.

A round visits every stack once, in an order shuffled from (seed, round); within a
stack it runs every (scenario, level) once, in an order shuffled the same way.
The plan is a pure function of the config and the seed, so a resumed or rerun
trial finds its place again from its record alone. A scenario a stack declares no
request path for is left out of its plan (``skipped`` says which and why).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from harness.config.arrival import ARRIVAL_PARAMS
from harness.config.schema import Config


@dataclass(frozen=True)
class PlannedTrial:
    """One trial to run: identity, place in the run and parameters."""

    round: int
    order: int
    stack: str
    scenario: str
    level: int
    params: dict[str, Any]

    @property
    def trial_id(self) -> str:
        """Unique within a run; readable; stable across resumes."""
        return f"r{self.round:03d}-{self.stack}-{self.scenario}-{self.level}"


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
        params["duration_s"] = spec.duration_s if spec else 5.0
    return params


def _rng(seed: int, round_no: int, salt: str) -> random.Random:
    return random.Random(f"asyncbench:{seed}:{round_no}:{salt}")


def stack_order(config: Config, round_no: int) -> list[str]:
    """The stacks of one round, shuffled from the seed and the round number."""
    names = [s.name for s in config.stacks]
    _rng(config.seed, round_no, "stacks").shuffle(names)
    return names


def plan_round(config: Config, round_no: int, first_order: int = 0) -> list[PlannedTrial]:
    """Every trial of round ``round_no`` (1-based) in the order it runs."""
    trials: list[PlannedTrial] = []
    order = first_order
    for stack in stack_order(config, round_no):
        spec = config.stack(stack)
        cells = [(s.name, level) for s in config.scenarios for level in s.levels
                 if spec.skip_reason(s.name) is None]
        _rng(config.seed, round_no, stack).shuffle(cells)
        for scenario, level in cells:
            trials.append(PlannedTrial(round_no, order, stack, scenario, level,
                                       trial_params(config, scenario, level, stack)))
            order += 1
    return trials


def trials_per_round(config: Config) -> int:
    """How many trials one round holds."""
    return sum(len(s.levels) for spec in config.stacks for s in config.scenarios
               if spec.skip_reason(s.name) is None)


def skipped(config: Config) -> list[dict[str, str]]:
    """The (stack, scenario) pairs no trial is planned for, each with its reason: a stack
    that declares no request path for the scenario."""
    return [{"stack": spec.name, "scenario": s.name, "reason": reason}
            for spec in config.stacks for s in config.scenarios
            if (reason := spec.skip_reason(s.name)) is not None]
