"""The wall-clock budget of a run: what it has spent, what a round or a trial is expected
to cost from what the run has seen, and whether that still fits.

A round costs its trials (each arm's mean trial cost so far), a start of each stack it
runs (start, health check, warm-up, and a stack's share of the run's other waiting,
measured the same way) and the round's own overhead (the quiet-machine gate, the look at
the intervals). Nothing is known before the first trial: the first round always starts.
The clock is handed in, so tests drive it without waiting.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from harness.analyse.cells import CellKey, cell_key
from harness.analyse.precision import trial_cost
from harness.config.duration import duration_words
from harness.measure.plan import PlannedTrial


@dataclass
class Budget:
    """``limit_s`` seconds of wall time (0: no limit), ``spent_before_s`` of them spent by
    an earlier part of the run (before a resume)."""

    limit_s: float
    clock: Callable[[], float] = time.monotonic
    spent_before_s: float = 0.0
    started: float = field(init=False)
    _costs: dict[CellKey, list[float]] = field(default_factory=lambda: defaultdict(list))
    _trial_s: float = 0.0
    _in_stacks_s: float = 0.0
    _starts: int = 0
    _rounds: int = 0

    def __post_init__(self) -> None:
        self.started = self.clock()

    @property
    def limited(self) -> bool:
        """True when the run has a budget."""
        return self.limit_s > 0

    def spent(self) -> float:
        """Wall seconds the run has taken, this part and earlier ones."""
        return self.spent_before_s + self.clock() - self.started

    def left(self) -> float:
        """Seconds still to spend (infinite without a budget)."""
        return self.limit_s - self.spent() if self.limited else float("inf")

    def observe(self, record: Mapping[str, Any]) -> None:
        """A trial ended: what it cost (``precision.trial_cost``) is what a trial of its
        arm costs."""
        if (cost := trial_cost(record)) is not None:
            self._costs[cell_key(record)].append(cost)
            self._trial_s += cost

    def seen(self, records: Iterable[Mapping[str, Any]]) -> None:
        """Trials of an earlier part of the run (a resume): their costs, not their time."""
        for record in records:
            if (cost := trial_cost(record)) is not None:
                self._costs[cell_key(record)].append(cost)

    def stack_ran(self, elapsed_s: float) -> None:
        """A stack's start and trials of a round took ``elapsed_s`` (its trials' own
        seconds are counted as they end, by :meth:`observe`)."""
        self._in_stacks_s += elapsed_s
        self._starts += 1

    def round_ran(self) -> None:
        """A round ended."""
        self._rounds += 1

    @property
    def trial_s(self) -> float:
        """Seconds of trials this part of the run has measured."""
        return self._trial_s

    def costs(self) -> dict[CellKey, float]:
        """Each arm's mean trial cost so far."""
        return {key: sum(v) / len(v) for key, v in self._costs.items()}

    def trial_cost(self, key: CellKey) -> float:
        """What a trial of ``key`` is expected to cost: its arm's mean so far, else the mean
        of the arms seen (0 before any trial)."""
        values = self._costs.get(key)
        if values:
            return sum(values) / len(values)
        means = [sum(v) / len(v) for v in self._costs.values() if v]
        return sum(means) / len(means) if means else 0.0

    def start_cost(self) -> float:
        """What starting a stack for a round is expected to cost beyond its trials."""
        if not self._starts:
            return 0.0
        return max(0.0, self._in_stacks_s - self._trial_s) / self._starts

    def round_cost(self) -> float:
        """A round's own overhead beyond its stacks (the quiet gate, the look)."""
        if not self._rounds:
            return 0.0
        session = self.clock() - self.started
        return max(0.0, session - self._in_stacks_s) / self._rounds

    def expected(self, cells: Iterable[CellKey]) -> float:
        """What a round running the trials ``cells`` (one entry per trial) should cost."""
        cells = list(cells)
        stacks = {stack for _, _, stack in cells}
        return (self.round_cost() + len(stacks) * self.start_cost()
                + sum(self.trial_cost(key) for key in cells))

    def fits(self, seconds: float) -> bool:
        """True when ``seconds`` more still fit the budget."""
        return seconds <= self.left()

    def admits(self, trial: PlannedTrial, starting: bool) -> bool:
        """True when ``trial`` (and, ``starting``, its stack's start) is expected to end
        within the budget."""
        if not self.limited:
            return True
        return self.fits(self.trial_cost(trial.cell) + (self.start_cost() if starting else 0.0))

    def words(self) -> str:
        """``9m41s of 10m0s``."""
        return f"{duration_words(self.spent())} of {duration_words(self.limit_s)}"

