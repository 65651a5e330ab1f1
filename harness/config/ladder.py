"""The capacity sweep's ladder: how the offered rate climbs for each stack, and when a
rung counts as saturated (``[scenarios.capacity]``).

Rung ``j`` of a stack offers ``round(anchor x start x step**j)`` requests a second, where
``anchor`` is the model's estimate of what the stack carries (``analyse.model.capacity_rps``:
slots / delay for a stack with worker slots, CPUs / CPU per request for an event loop).
Rungs are the same rates in every round, so trials of one rung line up across rounds;
which rungs a round runs is decided from its measurements (``measure.climb``). A rung is
saturated when the stack served less than ``served_min`` of the offered rate, or its p99
rose above ``p99_multiple`` x the unloaded latency (``unloaded_ms``; by default what one
request takes alone: the upstream delay plus the handler's CPU work).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from harness.config.rules import check, is_int, is_number

CAPACITY = "capacity"
SERVED_MIN = 0.95  # a stack carries an offered rate when it serves at least this share of it
DEFAULT_MAX_DURATION_S = 30.0  # a rung may run this long to hold enough answers for its p99


@dataclass(frozen=True)
class Ladder:
    """The capacity sweep's settings; see the module docstring."""

    step: float = 1.5
    start: float = 0.5
    max_steps: int = 8
    p99_multiple: float = 2.0
    served_min: float = SERVED_MIN
    unloaded_ms: float | None = None
    # An event loop's CPU per request (ms) where the model needs one before anything is
    # measured: only where its ladder starts; the climb finds the rest.
    cpu_ms_per_request: float = 1.0

    def __post_init__(self) -> None:
        where = f"[scenarios.{CAPACITY}]"
        check(is_number(self.step) and 1 < self.step <= 10, f"{where} step", self.step,
              "must be a number in (1, 10]: each rung offers step x the one below")
        check(is_number(self.start) and 0 < self.start <= 100, f"{where} start", self.start,
              "must be a number in (0, 100]: the first rung as a share of the model's estimate")
        check(is_int(self.max_steps) and 2 <= self.max_steps <= 50, f"{where} max_steps",
              self.max_steps, "must be an integer in 2..50 (rungs per stack and round)")
        check(is_number(self.p99_multiple) and 1 < self.p99_multiple <= 1000,
              f"{where} p99_multiple", self.p99_multiple,
              "must be a number in (1, 1000]: the p99 bound as a multiple of the unloaded latency")
        check(is_number(self.served_min) and 0 < self.served_min <= 1, f"{where} served_min",
              self.served_min, "must be a number in (0, 1]: the share of the offered rate a "
              "stack must serve")
        check(self.unloaded_ms is None or (is_number(self.unloaded_ms)
                                           and 0 < self.unloaded_ms <= 600_000),
              f"{where} unloaded_ms", self.unloaded_ms,
              "must be a number of milliseconds in (0, 600000]")
        check(is_number(self.cpu_ms_per_request) and 0 < self.cpu_ms_per_request <= 10_000,
              f"{where} cpu_ms_per_request", self.cpu_ms_per_request,
              "must be a number of milliseconds in (0, 10000]")

    def resolved(self) -> dict[str, Any]:
        """As written to the manifest (``unloaded_ms`` only when stated)."""
        data = dataclasses.asdict(self)
        if self.unloaded_ms is None:
            data.pop("unloaded_ms")
        return data

    def unloaded(self, delay_ms: float, cpu_ms: float) -> float:
        """The unloaded latency (ms) the p99 bound multiplies: stated, or what one request
        takes alone (``delay_ms + cpu_ms``)."""
        return float(self.unloaded_ms) if self.unloaded_ms is not None else delay_ms + cpu_ms

    def bound_ms(self, delay_ms: float, cpu_ms: float) -> float:
        """The p99 above which a rung is saturated."""
        return self.p99_multiple * self.unloaded(delay_ms, cpu_ms)

    def rate(self, anchor_rps: float, rung: int) -> int:
        """The offered rate (req/s, at least 1) of rung ``rung`` on a ladder anchored at
        ``anchor_rps``."""
        return max(1, round(anchor_rps * self.start * self.step ** rung))


LADDER_KEYS: dict[str, type | tuple[type, ...]] = {
    "step": (int, float), "start": (int, float), "max_steps": int,
    "p99_multiple": (int, float), "served_min": (int, float), "unloaded_ms": (int, float),
    "cpu_ms_per_request": (int, float),
}
"""The keys of ``[scenarios.capacity]`` that set the ladder, with their TOML types."""
