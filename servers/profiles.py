"""Latency profiles of the mock upstream: how long each ``/delay`` call takes, and whether
it fails, drawn from a seeded generator so a run can be repeated call for call.

    fixed       every call takes the requested D ms
    uniform     D +- jitter_ms, uniformly (never below 0)
    lognormal   a log-normal with the given median_ms and p99_ms (D is not used)
    bimodal     D, except a tail_fraction of calls that take tail_factor x D

Any profile may add ``error_rate``: that fraction of calls answers 503 after its delay.
``quantile`` is the profile's exact quantile, against which the served ones are judged.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass
from statistics import NormalDist

PROFILES = ("fixed", "uniform", "lognormal", "bimodal")


@dataclass(frozen=True)
class Profile:
    """A latency profile's parameters; validated on construction (ValueError names the key)."""

    kind: str = "fixed"
    jitter_ms: float = 0.0
    median_ms: float = 0.0
    p99_ms: float = 0.0
    tail_fraction: float = 0.0
    tail_factor: float = 1.0
    error_rate: float = 0.0

    def __post_init__(self) -> None:
        if self.kind not in PROFILES:
            raise ValueError(f"profile must be one of {', '.join(PROFILES)}, got {self.kind!r}")
        for key in ("jitter_ms", "median_ms", "p99_ms", "tail_factor"):
            value = getattr(self, key)
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{key} must be a number >= 0, got {value!r}")
        for key in ("tail_fraction", "error_rate"):
            value = getattr(self, key)
            if not (math.isfinite(value) and 0 <= value <= 1):
                raise ValueError(f"{key} must be a number in 0..1, got {value!r}")
        if self.kind == "lognormal" and not 0 < self.median_ms < self.p99_ms:
            raise ValueError(f"lognormal needs 0 < median_ms < p99_ms, got median_ms = "
                             f"{self.median_ms!r}, p99_ms = {self.p99_ms!r}")
        if self.kind == "bimodal" and self.tail_factor < 1:
            raise ValueError(f"tail_factor must be >= 1, got {self.tail_factor!r}")

    @property
    def sigma(self) -> float:
        """The log-normal's shape: ln(p99 / median) over the normal's 99th percentile."""
        return math.log(self.p99_ms / self.median_ms) / NormalDist().inv_cdf(0.99)

    def quantile(self, requested_ms: float, q: float) -> float:
        """The profile's ``q``-quantile (0 < q < 1) of the delay, in ms, for a request of D."""
        if not 0 < q < 1:
            raise ValueError(f"q must be in (0, 1), got {q!r}")
        if self.kind == "uniform":
            low = max(0.0, requested_ms - self.jitter_ms)
            return low + q * (requested_ms + self.jitter_ms - low)
        if self.kind == "lognormal":
            return self.median_ms * math.exp(self.sigma * NormalDist().inv_cdf(q))
        if self.kind == "bimodal" and q > 1 - self.tail_fraction:
            return requested_ms * self.tail_factor
        return float(requested_ms)


class Sampler:
    """Seeded draws from a profile: one generator for the delays, one for the failures,
    so turning errors on does not change the delays drawn."""

    def __init__(self, profile: Profile, seed: int) -> None:
        self.profile = profile
        self._delays = random.Random(f"delay:{seed}")
        self._errors = random.Random(f"error:{seed}")

    def delay_ms(self, requested_ms: float) -> float:
        """The delay one call serves, in ms."""
        p = self.profile
        if p.kind == "uniform":
            low = max(0.0, requested_ms - p.jitter_ms)
            return self._delays.uniform(low, requested_ms + p.jitter_ms)
        if p.kind == "lognormal":
            return self._delays.lognormvariate(math.log(p.median_ms), p.sigma)
        if p.kind == "bimodal" and self._delays.random() < p.tail_fraction:
            return requested_ms * p.tail_factor
        return float(requested_ms)

    def fails(self) -> bool:
        """Whether this call answers 503 after its delay."""
        return self.profile.error_rate > 0 and self._errors.random() < self.profile.error_rate


# The profile's numeric fields: the upstream's options, the config's [upstream] keys.
PROFILE_FIELDS = tuple(f.name for f in dataclasses.fields(Profile) if f.name != "kind")
