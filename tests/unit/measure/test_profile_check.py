"""A trial whose upstream served far off its latency profile is invalid, like a late one."""

from __future__ import annotations

from typing import Any

from harness.config.schema import Limits
from harness.measure.trial import PROFILE_CHECK_MIN_CALLS, _profile_departure


def checks(profile: str, want: float | None, got: float | None,
           count: int = PROFILE_CHECK_MIN_CALLS) -> dict[str, Any]:
    return {"upstream_profile": profile, "upstream_profile_p99_ms": want,
            "upstream_served_ms": {"count": count, "p50": None, "p99": got}}


def test_a_served_p99_far_from_the_profile_is_named() -> None:
    reason = _profile_departure(Limits(), checks("lognormal", 400.0, 560.0))
    assert reason == ("upstream off its profile: served p99 560.0 ms against the lognormal "
                      "profile's 400.0 ms, more than 100.0 ms apart")
    low = _profile_departure(Limits(), checks("lognormal", 400.0, 250.0))
    assert low is not None and "served p99 250.0 ms" in low


def test_within_the_limit_small_samples_and_fixed_profiles_pass() -> None:
    assert _profile_departure(Limits(), checks("lognormal", 400.0, 480.0)) is None
    assert _profile_departure(Limits(), checks("lognormal", 400.0, 900.0, count=99)) is None
    assert _profile_departure(Limits(), checks("fixed", 100.0, 900.0)) is None
    assert _profile_departure(Limits(), checks("uniform", None, 900.0)) is None


def test_the_limit_never_falls_below_the_overshoot_limit() -> None:
    # 25 % of 20 ms is 5 ms, but 50 ms of timer lateness is tolerated anyway.
    assert _profile_departure(Limits(), checks("uniform", 20.0, 60.0)) is None
    tight = Limits(upstream_overshoot_p99_max_ms=5.0)
    assert _profile_departure(tight, checks("uniform", 20.0, 60.0)) is not None
