"""Every invalidity check of a trial, each limit just inside and just outside, over a
synthetic ``checks`` dict (``trial._invalid_reason``: what decides whether a number counts).

The limits are chosen apart from each other and from the defaults, so that a check read
against another check's limit, or a field read from the wrong key, changes an answer.
"""

from __future__ import annotations

from typing import Any

import pytest

from harness.analyse.little import little_check
from harness.config.schema import Config, Limits, ScenarioSpec, StackSpec
from harness.measure.trial import (
    MIN_LOADGEN_WAIT_S,
    PROFILE_CHECK_MIN_CALLS,
    _invalid_reason,
    disturbed_by_foreign_load,
    foreign_words,
)

LIMITS = Limits(loadgen_cpu_max=0.40, loadgen_wait_max=0.50, foreign_cpu_max=0.10,
                send_lag_p99_max_ms=20.0, upstream_overshoot_p99_max_ms=50.0,
                upstream_loop_lag_max_ms=250.0, upstream_profile_p99_max_pct=25.0,
                machine_cpu_max=0.90)
CONFIG = Config(stacks=(StackSpec("flask-gunicorn", "flask", "gunicorn", "gthread"),),
                scenarios=(ScenarioSpec("fanout", (1,)),), limits=LIMITS)


def healthy() -> dict[str, Any]:
    """A trial every check passes, each figure well inside its limit."""
    return {
        "foreign_cpu": 0.01, "foreign_top": [{"name": "sshd", "cpu": 0.01}],
        "loadgen_cpu": 0.10, "loadgen_wait": 0.05, "loadgen_wait_s": 0.01,
        "send_lag_ms": {"p50": 0.5, "p99": 1.0, "max": 2.0},
        "machine_cpu": 0.50,
        "upstream_loop_lag_max_ms": 3.0,
        "upstream_overshoot_ms": {"mean": 1.0, "p99": 2.0, "max": 3.0},
        "upstream_profile": "fixed",
        "upstream_served_ms": {"count": 500, "p50": 100.0, "p99": 101.0},
        "upstream_profile_p99_ms": 100.0,
    }


def lognormal(p99: float, *, want: float = 400.0, count: int = 500) -> dict[str, Any]:
    """A non-fixed profile whose served p99 is ``p99`` against the profile's ``want``."""
    return {"upstream_profile": "lognormal", "upstream_profile_p99_ms": want,
            "upstream_served_ms": {"count": count, "p50": want / 2, "p99": p99}}


# (what, changes to the healthy checks, the reason's start or None for a trusted trial)
CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("healthy", {}, None),
    # foreign load: limit 0.10 cores; 0.2 lies between it and the load generator's 0.40
    ("foreign at its limit", {"foreign_cpu": 0.10}, None),
    ("foreign just over", {"foreign_cpu": 0.1001}, "foreign load: 0.10 cores used by other processes (sshd 0.01) > limit 0.10"),
    ("foreign between the two limits", {"foreign_cpu": 0.2}, "foreign load: 0.20 cores"),
    # load generator CPU: limit 0.40 of a core
    ("loadgen cpu at its limit", {"loadgen_cpu": 0.40}, None),
    ("loadgen cpu just over", {"loadgen_cpu": 0.4001}, "load generator saturated: 40% of a core > limit 40%"),
    # run-queue wait: share over 0.50 AND seconds over MIN_LOADGEN_WAIT_S
    ("wait share at its limit", {"loadgen_wait": 0.50, "loadgen_wait_s": 1.0}, None),
    ("wait share just over", {"loadgen_wait": 0.5001, "loadgen_wait_s": 1.0}, "load generator starved: waited for a CPU 50% of the trial > limit 50%"),
    ("wait share over, seconds at the floor", {"loadgen_wait": 0.9, "loadgen_wait_s": MIN_LOADGEN_WAIT_S}, None),
    ("wait share over, seconds just over the floor", {"loadgen_wait": 0.9, "loadgen_wait_s": MIN_LOADGEN_WAIT_S + 1e-4}, "load generator starved: waited for a CPU 90%"),
    ("wait unknown", {"loadgen_wait": None, "loadgen_wait_s": None}, None),
    ("wait share known, seconds unknown", {"loadgen_wait": 0.9, "loadgen_wait_s": None}, None),
    # send lag: its p99 against 20 ms, never its p50
    ("send lag p99 at its limit, p50 beyond it", {"send_lag_ms": {"p50": 25.0, "p99": 20.0}}, None),
    ("send lag p99 just over, p50 small", {"send_lag_ms": {"p50": 1.0, "p99": 20.01}}, "load generator late: send lag p99 20.0 ms > limit 20 ms"),
    ("no send lag (closed loop)", {"send_lag_ms": None}, None),
    # machine CPU: 0.90 when set; None (too short a window) never invalidates
    ("machine at its limit", {"machine_cpu": 0.90}, None),
    ("machine just over", {"machine_cpu": 0.9001}, "machine CPU contention: 90% busy > limit 90%"),
    ("machine unknown", {"machine_cpu": None}, None),
    # the upstream's event loop: 250 ms
    ("loop lag at its limit", {"upstream_loop_lag_max_ms": 250.0}, None),
    ("loop lag just over", {"upstream_loop_lag_max_ms": 250.1}, "upstream stalled: its event loop woke up to 250 ms late > limit 250 ms"),
    ("loop lag unknown", {"upstream_loop_lag_max_ms": None}, None),
    # served-delay overshoot p99: 50 ms
    ("overshoot at its limit", {"upstream_overshoot_ms": {"mean": 60.0, "p99": 50.0, "max": 90.0}}, None),
    ("overshoot just over", {"upstream_overshoot_ms": {"mean": 1.0, "p99": 50.01, "max": 51.0}}, "upstream late: served-delay overshoot p99 50.0 ms > limit 50 ms"),
    ("overshoot unknown", {"upstream_overshoot_ms": {"mean": None, "p99": None, "max": None}}, None),
    # profile: served p99 within max(25% of 400 ms, 50 ms) = 100 ms of the profile's
    ("profile p99 100 ms above", lognormal(500.0), None),
    ("profile p99 just beyond 100 ms above", lognormal(500.1), "upstream off its profile: served p99 500.1 ms against the lognormal profile's 400.0 ms, more than 100.0 ms apart"),
    ("profile p99 100 ms below", lognormal(300.0), None),
    ("profile p99 just beyond 100 ms below", lognormal(299.9), "upstream off its profile: served p99 299.9 ms"),
    # a small p99: the overshoot limit (50 ms) is the larger allowance
    ("small profile p99 50 ms above", lognormal(150.0, want=100.0), None),
    ("small profile p99 just beyond 50 ms above", lognormal(150.1, want=100.0), "upstream off its profile: served p99 150.1 ms against the lognormal profile's 100.0 ms, more than 50.0 ms apart"),
    # judged on PROFILE_CHECK_MIN_CALLS calls or more
    ("too few calls to judge", lognormal(900.0, count=PROFILE_CHECK_MIN_CALLS - 1), None),
    ("just enough calls", lognormal(900.0, count=PROFILE_CHECK_MIN_CALLS), "upstream off its profile"),
    ("a fixed profile is judged by its overshoot", {"upstream_served_ms": {"count": 500, "p50": 900.0, "p99": 900.0}}, None),
    ("no profile p99", {**lognormal(900.0), "upstream_profile_p99_ms": None}, None),
    ("no served p99", {**lognormal(900.0), "upstream_served_ms": {"count": 500, "p50": None, "p99": None}}, None),
    ("no call count", {**lognormal(900.0), "upstream_served_ms": {"count": None, "p50": 1.0, "p99": 900.0}}, None),
    # Little's law, 10% either way: it judges a sustained clients trial, names the others
    ("sustained, law at its tolerance", {"little": little_check(90.0, 0.1, 10, judges=True)}, None),
    ("sustained, law just beyond", {"little": little_check(89.99, 0.1, 10, judges=True)}, "Little's law: throughput x mean response kept 8.999 requests in flight of the 10 clients"),
    ("sustained, law just beyond above", {"little": little_check(110.01, 0.1, 10, judges=True)}, "Little's law:"),
    ("bursts, law far off: named only", {"little": little_check(50.0, 0.1, 10)}, None),
    # requests the load generator's own pool held back: none allowed
    ("nothing held back", {"held_back": 0}, None),
    ("one request held back", {"held_back": 1}, "load generator held back 1 request: they"),
    ("two requests held back", {"held_back": 2}, "load generator held back 2 requests: they"),
    # the load generator's own checks come first
    ("foreign and saturated: foreign first", {"foreign_cpu": 0.5, "loadgen_cpu": 0.9}, "foreign load:"),
    ("saturated and starved: saturated first", {"loadgen_cpu": 0.9, "loadgen_wait": 0.9, "loadgen_wait_s": 1.0}, "load generator saturated"),
    ("late and stalled: late first", {"send_lag_ms": {"p99": 99.0}, "upstream_loop_lag_max_ms": 999.0}, "load generator late"),
]


@pytest.mark.parametrize(("changes", "expected"), [(c, e) for _, c, e in CASES],
                         ids=[what for what, _, _ in CASES])
def test_each_check_just_inside_and_just_outside_its_limit(changes: dict[str, Any],
                                                           expected: str | None) -> None:
    reason = _invalid_reason(CONFIG, {**healthy(), **changes})
    if expected is None:
        assert reason is None
    else:
        assert reason is not None and reason.startswith(expected), reason


def test_machine_cpu_judges_nothing_without_its_limit() -> None:
    config = Config(stacks=CONFIG.stacks, scenarios=CONFIG.scenarios,
                    limits=Limits(machine_cpu_max=None))
    assert _invalid_reason(config, {**healthy(), "machine_cpu": 1.0}) is None


def test_the_foreign_load_is_described_with_its_busiest_processes() -> None:
    two = {"foreign_cpu": 1.93, "foreign_top": [{"name": "python3", "cpu": 0.97},
                                                {"name": "cc1", "cpu": 0.9612}]}
    assert foreign_words(two) == "1.93 cores used by other processes (python3 0.97, cc1 0.96)"
    assert foreign_words({"foreign_cpu": 0.2, "foreign_top": []}) == "0.20 cores used by other processes"
    assert foreign_words({"foreign_cpu": 0.2}) == "0.20 cores used by other processes"


def test_only_an_invalid_trial_for_foreign_load_counts_as_disturbed() -> None:
    reason = _invalid_reason(CONFIG, {**healthy(), "foreign_cpu": 0.5})
    assert disturbed_by_foreign_load({"status": "invalid", "error": reason})
    assert not disturbed_by_foreign_load({"status": "failed", "error": reason})
    saturated = _invalid_reason(CONFIG, {**healthy(), "loadgen_cpu": 0.9})
    assert not disturbed_by_foreign_load({"status": "invalid", "error": saturated})
    assert not disturbed_by_foreign_load({"status": "ok", "error": None})
