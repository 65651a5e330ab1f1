"""A thread-safe token bucket: the sync apps' quota keeper and the mock upstream's quota.

``take`` blocks until a token is due (a caller reserves its token under the lock, then
sleeps outside it, so waiting threads are served in the order they asked and never hold
the lock while sleeping); ``try_take`` never blocks (the upstream answers 429 instead).
The clock and the sleep are handed in so the arithmetic is tested without waiting.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBucket:
    """``rate`` tokens per second, at most ``capacity`` banked; starts full."""

    def __init__(self, rate: float, capacity: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(f"rate must be a positive number, got {rate!r}")
        if not (math.isfinite(capacity) and capacity >= 1):
            raise ValueError(f"capacity must be a number >= 1, got {capacity!r}")
        self.rate = float(rate)
        self.capacity = float(capacity)
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._tokens = self.capacity
        self._stamp = clock()

    def _refill(self) -> None:
        now = self._clock()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    def try_take(self) -> bool:
        """Take a token if one is banked; False (and nothing taken) otherwise."""
        with self._lock:
            self._refill()
            if self._tokens >= 1.0:
                self._tokens -= 1.0
                return True
            return False

    def reserve(self) -> float:
        """Take the next token, banked or future; return the seconds until it is due."""
        with self._lock:
            self._refill()
            self._tokens -= 1.0
            return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    def take(self) -> None:
        """Block until this caller's token is due."""
        wait = self.reserve()
        if wait > 0:
            self._sleep(wait)
