"""``trial._checks``: the figures a trial record's ``checks`` holds, read from what the
instrument saw (the monitor, the upstream's counters, the foreign load), and the
database's side of a trial; each against hand-computed values."""

from __future__ import annotations

from typing import Any

import pytest

from harness.config.load import config_from_dict
from harness.loadgen.closed import ClosedResult, merge_closed, partial_of
from harness.loadgen.drivers import Outcome, ScenarioResult
from harness.loadgen.foreign import ForeignLoad
from harness.loadgen.monitor import MonitorResult
from harness.loadgen.schedule import RateSpec
from harness.loadgen.tally import Partial, RateResult, Tally, merge
from harness.measure.trial import POOL_LIMITED_WAIT_MS, Observed, _checks, _database_checks

CONFIG = config_from_dict({"run": {"stacks": ["flask-gunicorn"]},
                           "scenarios": {"fanout": {"levels": [1]}},
                           "upstream": {"profile": "lognormal", "median_ms": 100, "p99_ms": 300}})
UPSTREAM = {"requests": 40, "max_in_flight": 8,
            "overshoot_ms": {"mean": 0.4, "p99": 1.23456, "max": 2.5, "ignored": 9},
            "loop_lag_ms": {"max": 3.14159},
            "served_ms": {"count": 40, "p50": 101.23456, "p99": 290.98765},
            "profile_p99_ms": 300.1234, "refused_429": 2, "answered_503": 1}


def seen(upstream: dict[str, Any], wait_s: float | None = 0.03,
         machine: float | None = 0.612345) -> Observed:
    monitor = MonitorResult(wall_s=1.523456, server_cpu_s=0.9, server_peak_rss_mb=80.0,
                            server_processes=3, loadgen_cpu_fraction=0.123456,
                            loadgen_wait_s=wait_s, machine_cpu_fraction=machine)
    return Observed(monitor, upstream, ForeignLoad(0.054321, 1.5, (("stress", 0.05),)),
                    server_cpus=[0], harness_cpus=[1], upstream_cpu=0.256789)


def test_the_checks_of_a_closed_loop_trial() -> None:
    checks = _checks(CONFIG, seen(UPSTREAM), None, "flask-gunicorn")
    assert checks == {
        "foreign_cpu": 0.0543, "foreign_top": [{"name": "stress", "cpu": 0.05}],
        "server_cpus": [0], "harness_cpus": [1],
        "loadgen_cpu": 0.1235, "loadgen_wait": 0.0197, "loadgen_wait_s": 0.03,
        "machine_cpu": 0.6123, "machine_cpu_window_s": 1.5235, "upstream_cpu": 0.2568,
        "send_lag_ms": None, "upstream_requests": 40, "upstream_max_in_flight": 8,
        "upstream_overshoot_ms": {"mean": 0.4, "p99": 1.23456, "max": 2.5},
        "upstream_loop_lag_max_ms": 3.142, "upstream_profile": "lognormal",
        "upstream_served_ms": {"count": 40, "p50": 101.235, "p99": 290.988},
        "upstream_profile_p99_ms": 300.123, "upstream_refused_429": 2,
        "upstream_answered_503": 1,
    }


def test_missing_upstream_figures_are_none_not_an_error() -> None:
    checks = _checks(CONFIG, seen({}, wait_s=None, machine=None))
    assert checks["loadgen_wait"] is None and checks["loadgen_wait_s"] is None
    assert checks["machine_cpu"] is None
    assert checks["upstream_overshoot_ms"] == {"mean": None, "p99": None, "max": None}
    assert checks["upstream_served_ms"] == {"count": None, "p50": None, "p99": None}
    assert checks["upstream_loop_lag_max_ms"] is None and checks["upstream_requests"] is None
    assert checks["upstream_profile"] == "lognormal"  # the run's upstream without a stack
    assert "pool_capacity" not in checks


def result_with_waits(*waits: float | None) -> ClosedResult:
    """A closed-loop trial whose ok answers reported ``waits`` (None: no figure)."""
    outcomes = [Outcome("ok", 0.1, pool_wait_ms=w) for w in waits]
    outcomes.append(Outcome("timeout", 5.0, "no answer", pool_wait_ms=99.0))  # not ok: left out
    return merge_closed([partial_of(ScenarioResult(outcomes, 1.0), clients=1)])


def test_the_database_side_of_a_trial() -> None:
    activity = {"db_active_max": 7, "db_active_mean": 3.5, "db_samples": 40,
                "db_sampling_error": "one sample failed"}
    got = _database_checks(activity, result_with_waits(0.5123, 1.5123, None, 2.0123),
                           capacity=8)
    assert got == {"pool_capacity": 8, "pool_limited": True, "db_active_max": 7,
                   "db_active_mean": 3.5, "db_samples": 40,
                   "db_sampling_error": "one sample failed",
                   "pool_wait_ms": {"mean": 1.346, "max": 2.012, "total": 4.037}}
    checks = _checks(CONFIG, seen(activity), result_with_waits(0.5), capacity=8)
    assert checks["pool_capacity"] == 8 and checks["db_active_max"] == 7
    assert checks["pool_wait_ms"] == {"mean": 0.5, "max": 0.5, "total": 0.5}


@pytest.mark.parametrize(("waits", "peak", "limited"), [
    ((POOL_LIMITED_WAIT_MS,), 7, False),          # mean wait at its limit, pools not full
    ((0.6, 0.6), 7, False),                        # the mean of two waits, not their sum
    ((POOL_LIMITED_WAIT_MS + 0.01,), 7, True),    # just over the limit
    ((0.0,), 8, True),                             # every connection busy at once
    ((0.0,), 7, False),
    ((), None, False),                             # nothing reported, nothing sampled
])
def test_pool_limited_at_its_limits(waits: tuple[float, ...], peak: int | None,
                                    limited: bool) -> None:
    assert _database_checks({"db_active_max": peak}, result_with_waits(*waits), capacity=1)[
        "pool_limited"] is (limited or (peak or 0) >= 1)
    got = _database_checks({"db_active_max": peak}, result_with_waits(*waits), capacity=8)
    assert got["pool_limited"] is limited
    if not waits:
        assert got["pool_wait_ms"] == {"mean": None, "max": None, "total": None}


def rate_result() -> RateResult:
    tally = Tally()
    tally.fired(0.0, 0.0123456)
    tally.answered(Outcome("ok", 0.1), 0.0, 0.0, 0.1)
    partial = Partial.of(tally, start=0.0, cpu_s=0.4123456, wait_s=0.1234567, wall_s=1.0)
    return merge(RateSpec(10, 1.0, 5.0, processes=1, max_in_flight=7), 10, [partial])


def test_a_rate_trial_takes_the_load_generators_figures_from_its_processes() -> None:
    result = rate_result()
    checks = _checks(CONFIG, seen(UPSTREAM), result, "flask-gunicorn")
    assert checks["loadgen_cpu"] == 0.4123 and checks["loadgen_cpu_by_process"] == [0.4123]
    assert checks["loadgen_wait"] == 0.1235 and checks["loadgen_wait_s"] == 0.1235
    assert checks["loadgen_processes"] == 1 and checks["offered_requests"] == 10
    assert checks["send_lag_ms"] == result.send_lag_ms and checks["send_lag_ms"]["max"] is not None
    assert checks["in_flight_peak"] == result.in_flight_peak
    assert checks["in_flight_capped"] == result.in_flight_capped
    # A database upstream with a rate trial: no pool waits are reported.
    db = _checks(CONFIG, seen({"db_active_max": 2}), result, capacity=4)
    assert db["pool_wait_ms"] == {"mean": None, "max": None, "total": None}
    assert db["pool_limited"] is False
