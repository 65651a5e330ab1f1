"""Counters the mock upstream keeps so the harness can prove it was not the bottleneck.

Pure bookkeeping, no I/O: the upstream's handlers call ``enter``/``leave``, the
``/stats`` route calls ``snapshot``.  Everything runs on one event loop, so a
snapshot-and-reset is atomic without a lock.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

DEFAULT_WINDOW = 100_000


class UpstreamStats:
    """Request counters and delay overshoots since start or the last reset.

    ``overshoot_ms`` statistics: ``count``, ``mean`` and ``max`` cover every request
    since the reset; ``p99`` covers the last ``window`` requests only (bounded memory).
    They are ``None`` while ``count`` is 0.
    """

    def __init__(
        self, window: int = DEFAULT_WINDOW, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if window < 1:
            raise ValueError(f"window must be >= 1, got {window}")
        self._clock = clock
        self._overshoots: deque[float] = deque(maxlen=window)
        self._served: deque[float] = deque(maxlen=window)
        self.in_flight = 0
        self._reset()

    def _reset(self) -> None:
        self.requests = 0
        self.bad_requests = 0
        self.failed = 0
        self.refused_429 = 0
        self.answered_503 = 0
        self.max_in_flight = self.in_flight
        self._overshoots.clear()
        self._served.clear()
        self._profile_p99: float | None = None
        self._overshoot_count = 0
        self._overshoot_sum = 0.0
        self._overshoot_max = -math.inf
        self._lag_max = 0.0
        self._lag_count = 0
        self._since = self._clock()

    def enter(self) -> None:
        """A ``/delay`` request starts sleeping."""
        self.in_flight += 1
        if self.in_flight > self.max_in_flight:
            self.max_in_flight = self.in_flight

    def leave(self) -> None:
        """A ``/delay`` request stops sleeping, served or not."""
        self.in_flight -= 1

    def served(self, requested_ms: float, served_ms: float, *,
               profile_p99_ms: float | None = None) -> None:
        """Record one served ``/delay`` request and its overshoot.

        ``requested_ms`` is the delay the request was due (the profile's draw);
        ``profile_p99_ms`` is the profile's p99 for the delay the client asked for.
        Trials ask one delay, so the largest such p99 is the one to compare with.
        """
        overshoot = served_ms - requested_ms
        self.requests += 1
        self._served.append(served_ms)
        if profile_p99_ms is not None and (self._profile_p99 is None
                                           or profile_p99_ms > self._profile_p99):
            self._profile_p99 = profile_p99_ms
        self._overshoots.append(overshoot)
        self._overshoot_count += 1
        self._overshoot_sum += overshoot
        if overshoot > self._overshoot_max:
            self._overshoot_max = overshoot

    def loop_lag(self, lag_ms: float) -> None:
        """Record how late the event loop woke a heartbeat: a stalled or starved
        upstream shows here even when every delay it served was on time."""
        self._lag_count += 1
        if lag_ms > self._lag_max:
            self._lag_max = lag_ms

    def bad_request(self) -> None:
        """Record one ``/delay`` request rejected with 400."""
        self.bad_requests += 1

    def refused(self) -> None:
        """Record one ``/delay`` request answered 429: beyond the quota."""
        self.refused_429 += 1

    def error(self) -> None:
        """Record one ``/delay`` request answered 503 after its delay (the profile's error rate)."""
        self.answered_503 += 1

    def fault(self) -> None:
        """Record one ``/delay`` request answered with the injected fault status."""
        self.failed += 1

    def snapshot(self, reset: bool = False) -> dict[str, Any]:
        """The counters as a JSON-ready dict; with ``reset`` they restart from zero.

        ``in_flight`` is a level, not a counter, so it survives a reset, and
        ``max_in_flight`` restarts from it.
        """
        count = self._overshoot_count
        body: dict[str, Any] = {
            "requests": self.requests,
            "in_flight": self.in_flight,
            "max_in_flight": self.max_in_flight,
            "bad_requests": self.bad_requests,
            "failed": self.failed,
            "refused_429": self.refused_429,
            "answered_503": self.answered_503,
            "since_s": self._clock() - self._since,
            "overshoot_ms": {
                "count": count,
                "mean": self._overshoot_sum / count if count else None,
                "max": self._overshoot_max if count else None,
                "p99": percentile(self._overshoots, 99.0) if count else None,
                "p99_window": len(self._overshoots),
            },
            "served_ms": {
                "count": len(self._served),
                "p50": percentile(self._served, 50.0) if self._served else None,
                "p99": percentile(self._served, 99.0) if self._served else None,
            },
            "profile_p99_ms": self._profile_p99,
            "loop_lag_ms": {"max": self._lag_max if self._lag_count else None,
                            "beats": self._lag_count},
            "reset": reset,
        }
        if reset:
            self._reset()
        return body


def percentile(values: deque[float] | list[float], pct: float) -> float:
    """Nearest-rank percentile of ``values`` (``pct`` in 0..100).

    Raises:
        ValueError: ``values`` is empty or ``pct`` is out of range.
    """
    if not values:
        raise ValueError("percentile of no values")
    if not 0.0 <= pct <= 100.0:
        raise ValueError(f"pct must be in 0..100, got {pct}")
    ordered = sorted(values)
    rank = max(1, math.ceil(pct / 100.0 * len(ordered)))
    return ordered[rank - 1]
