"""One trial: drive the load against a running stack, judge the instrument, build the record.

A record is built only when the trial ends; an interrupted trial leaves nothing.
Status rules: ``failed`` when the stack died or any request failed (the reason says
which; in an open-loop trial a timeout is not a failure but part of the result: the
stack did not carry the offered rate), ``invalid`` when a self-check went beyond the
config's limits (the reason names the check), ``ok`` otherwise. Little's law is recorded
in ``checks`` for every clients and open-loop trial; it judges only a sustained clients
trial (``analyse.little`` says why).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import os
import time
from dataclasses import dataclass
from typing import Any

import aiohttp

from harness.analyse.little import invalid_reason as little_invalid
from harness.analyse.little import little_check
from harness.config.arrival import TrialArrival
from harness.config.schema import OPEN_LOOP, Config, Limits
from harness.errors import StackError
from harness.loadgen import foreign
from harness.loadgen.arrival import attach_spread
from harness.loadgen.builtin import BuiltinEngine
from harness.loadgen.closed import ClosedResult
from harness.loadgen.engines import Engine, TrialLoad
from harness.loadgen.foreign import ForeignLoad
from harness.loadgen.monitor import MonitorResult, TrialMonitor
from harness.loadgen.scenario import Job
from harness.loadgen.spread import SpreadSampler
from harness.loadgen.tally import RateResult
from harness.measure.plan import PlannedTrial
from harness.rundir.format import SCHEMA_VERSION
from harness.targets.dbactivity import ActivitySampler
from harness.targets.handle import StackHandle
from harness.targets.postgres import PostgresEndpoint


async def _upstream_stats(session: aiohttp.ClientSession, upstream_url: str) -> dict[str, Any]:
    try:
        async with session.get(f"{upstream_url}/stats?reset=1",
                               timeout=aiohttp.ClientTimeout(total=5)) as resp:
            data = await resp.json()
            return data if isinstance(data, dict) else {}
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return {}


@dataclass
class Observed:
    """What the instrument saw around one trial's load."""

    monitor: MonitorResult
    upstream: dict[str, Any]
    foreign: ForeignLoad
    server_cpus: list[int]
    harness_cpus: list[int]
    upstream_cpu: float | None = None  # cores; None where the upstream's processes are not ours


async def _drive(handle: StackHandle, trial: PlannedTrial,
                 engine: Engine) -> tuple[TrialLoad, Observed]:
    """The trial's load and what the instrument saw around it; the upstream's own account
    is the mock's counters, or PostgreSQL's active connections sampled over the load.
    The engine readies the load before the monitor starts, so the monitor measures the
    load alone."""
    params = trial.params
    spec = handle.spec
    # A capacity rung is an open-loop trial: the rate scenario's one implementation runs it.
    job = Job("rate" if trial.scenario in OPEN_LOOP else trial.scenario,
              spec.url(handle.base_url, trial.scenario, params), params, spec.calls_field)
    result: TrialLoad
    monitor = TrialMonitor(handle.server.tree)
    database = handle.upstream if isinstance(handle.upstream, PostgresEndpoint) else None
    async with aiohttp.ClientSession() as control:
        if database is None:
            await _upstream_stats(control, handle.upstream_url)
        before = foreign.snapshot()
        with contextlib.ExitStack() as stack:
            activity = (None if database is None else
                        stack.enter_context(ActivitySampler(database.url, ACTIVITY_INTERVAL_S)))
            async with engine.prepared(job) as load:
                # A clients trial watches which server worker holds which connection.
                spread = (SpreadSampler(handle.server.tree) if trial.scenario == "clients"
                          else None)
                with spread or contextlib.nullcontext(), monitor:
                    result = await load.run()
            if spread is not None and isinstance(result, ClosedResult):
                attach_spread(result, spread)
        after = foreign.snapshot()
        upstream = (activity.result() if activity is not None
                    else await _upstream_stats(control, handle.upstream_url))
    assert monitor.result is not None
    # The trees as the closing snapshot saw them: a backend that exited since is still ours.
    own = foreign.own_pids(handle.pids(), after)
    upstream_pids = after.descendants(p.pid for p in handle.upstream.tree())
    return result, Observed(monitor.result, upstream, foreign.foreign_load(before, after, own),
                            foreign.affinity(p.pid for p in handle.server.tree()),
                            foreign.affinity([os.getpid()]),
                            foreign.cores_used(before, after, upstream_pids)
                            if upstream_pids else None)


async def warm(handle: StackHandle, config: Config, engine: Engine | None = None) -> str | None:
    """Warm the stack up on the paths it declares (see ``drivers.warm_up``), every worker
    of the engine on its share; a line saying what went wrong with the engine, or None."""
    spec, params = handle.spec, {"delay_ms": config.delay_ms, "n": 2, "cpu_ms": config.cpu_ms}
    single, fanout = (spec.url(handle.base_url, scenario, params)
                      if spec.path(scenario) is not None else None
                      for scenario in ("clients", "fanout"))
    job = Job("warm", single, {"requests": config.warmup_requests, "fanout_url": fanout,
                               "timeout_s": config.request_timeout_s}, spec.calls_field)
    return await (engine or BuiltinEngine()).warm(job)



MIN_LOADGEN_WAIT_S = 0.02
FOREIGN_REASON = "foreign load:"
UPSTREAM_ERROR_STATUS = 502  # the apps' answer when the upstream failed
PROFILE_CHECK_MIN_CALLS = 100  # fewer upstream calls make too noisy a served p99 to judge
ACTIVITY_INTERVAL_S = 0.02
POOL_LIMITED_WAIT_MS = 1.0


def _round(value: float | None, digits: int = 4) -> float | None:
    return round(value, digits) if value is not None else None


def _checks(config: Config, seen: Observed, result: TrialLoad | None = None,
            stack: str | None = None, capacity: int = 0) -> dict[str, Any]:
    """The instrument's self-checks of one trial against ``stack``'s upstream profile;
    ``capacity`` is the stack's pool connections in all, for a database upstream.

    For a rate trial the load generator's CPU and run-queue wait are its own
    processes' (the busiest one when there are several), over the load alone.
    """
    mon, upstream = seen.monitor, seen.upstream
    overshoot = upstream.get("overshoot_ms") or {}
    checks: dict[str, Any] = {
        **seen.foreign.record(),
        "server_cpus": seen.server_cpus,
        "harness_cpus": seen.harness_cpus,
        "loadgen_cpu": round(mon.loadgen_cpu_fraction, 4),
        "loadgen_wait": _round(mon.loadgen_wait_fraction),
        "loadgen_wait_s": _round(mon.loadgen_wait_s),
        "machine_cpu": _round(mon.machine_cpu_fraction),
        "machine_cpu_window_s": round(mon.wall_s, 4),
        "upstream_cpu": _round(seen.upstream_cpu),
        "send_lag_ms": None,
        "upstream_requests": upstream.get("requests"),
        "upstream_max_in_flight": upstream.get("max_in_flight"),
        "upstream_overshoot_ms": {k: overshoot.get(k) for k in ("mean", "p99", "max")},
        "upstream_loop_lag_max_ms": _round((upstream.get("loop_lag_ms") or {}).get("max"), 3),
        "upstream_profile": (config.upstream_for(stack) if stack
                             else config.upstream).profile.kind,
        "upstream_served_ms": {k: _round((upstream.get("served_ms") or {}).get(k), 3)
                               for k in ("count", "p50", "p99")},
        "upstream_profile_p99_ms": _round(upstream.get("profile_p99_ms"), 3),
        "upstream_refused_429": upstream.get("refused_429"),
        "upstream_answered_503": upstream.get("answered_503"),
    }
    if isinstance(result, ClosedResult) and result.sampler is not None:
        checks.update(spread_samples=result.sampler["samples"],
                      spread_cpu_s=result.sampler["cpu_s"])
    if isinstance(result, ClosedResult):
        checks["held_back"] = result.held_back
    if "db_active_max" in upstream:
        checks.update(_database_checks(upstream, result, capacity))
    if isinstance(result, ClosedResult) and result.workers:  # the workers' own figures
        checks.update(loadgen_cpu=result.loadgen_cpu, loadgen_wait=result.loadgen_wait,
                      loadgen_wait_s=result.loadgen_wait_s)
    if result is not None and result.workers:
        checks["workers"] = result.workers
    if isinstance(result, RateResult):
        checks.update(
            loadgen_cpu=round(result.loadgen_cpu, 4),
            loadgen_wait=_round(result.loadgen_wait),
            loadgen_wait_s=_round(result.loadgen_wait_s),
            loadgen_processes=result.spec.processes,
            loadgen_cpu_by_process=result.process_cpu,
            send_lag_ms=result.send_lag_ms,
            offered_requests=result.offered,
            in_flight_peak=result.in_flight_peak,
            in_flight_capped=result.in_flight_capped,
        )
    return checks


def _database_checks(activity: dict[str, Any], result: TrialLoad | None,
                     capacity: int) -> dict[str, Any]:
    """PostgreSQL's side of a trial: its peak and mean active connections (sampled), the
    time the requests spent waiting for a pool connection as the apps reported it, and
    ``pool_limited``: requests waited for connections (mean wait over
    ``POOL_LIMITED_WAIT_MS``) or every connection of the pools was busy at once."""
    pool = result.pool_wait if isinstance(result, ClosedResult) else None
    count = pool.count if pool is not None else 0
    total = pool.sum_ms if pool is not None else 0.0
    peak = activity.get("db_active_max")
    mean_wait = total / count if count else 0.0
    return {
        "pool_capacity": capacity,
        "pool_limited": mean_wait > POOL_LIMITED_WAIT_MS or (peak or 0) >= capacity,
        "db_active_max": activity.get("db_active_max"),
        "db_active_mean": activity.get("db_active_mean"),
        "db_samples": activity.get("db_samples"),
        "db_sampling_error": activity.get("db_sampling_error"),
        "pool_wait_ms": {"mean": _round(mean_wait, 3) if count else None,
                         "max": _round(pool.max_ms, 3) if pool is not None and count else None,
                         "total": _round(total, 3) if count else None},
    }


def _invalid_reason(config: Config, checks: dict[str, Any]) -> str | None:
    """Why a trial's figures cannot be trusted, load generator first; None if they can.

    A machine CPU figure of None (a window too short to measure) never invalidates;
    nor does a run-queue wait below ``MIN_LOADGEN_WAIT_S``, whatever its share.
    """
    limits = config.limits
    if checks["foreign_cpu"] > limits.foreign_cpu_max:
        return f"foreign load: {foreign_words(checks)} > limit {limits.foreign_cpu_max:.2f}"
    if checks["loadgen_cpu"] > limits.loadgen_cpu_max:
        return (f"load generator saturated: {checks['loadgen_cpu']:.0%} of a core "
                f"> limit {limits.loadgen_cpu_max:.0%}")
    held = checks.get("held_back")
    if held:
        return (f"load generator held back {held} request{'s' if held != 1 else ''}: they "
                "waited for a connection of its own pool, so they were not in flight when the "
                "trial meant them to be")
    wait, wait_s = checks.get("loadgen_wait"), checks.get("loadgen_wait_s")
    if (wait is not None and wait > limits.loadgen_wait_max
            and wait_s is not None and wait_s > MIN_LOADGEN_WAIT_S):
        return (f"load generator starved: waited for a CPU {wait:.0%} of the trial "
                f"> limit {limits.loadgen_wait_max:.0%}")
    lag = (checks.get("send_lag_ms") or {}).get("p99")
    if lag is not None and lag > limits.send_lag_p99_max_ms:
        return (f"load generator late: send lag p99 {lag:.1f} ms "
                f"> limit {limits.send_lag_p99_max_ms:g} ms")
    if (little := little_invalid(checks.get("little"))) is not None:
        return little
    machine = checks.get("machine_cpu")
    if (machine is not None and limits.machine_cpu_max is not None
            and machine > limits.machine_cpu_max):
        return (f"machine CPU contention: {machine:.0%} busy "
                f"> limit {limits.machine_cpu_max:.0%}")
    stall = checks.get("upstream_loop_lag_max_ms")
    if stall is not None and stall > limits.upstream_loop_lag_max_ms:
        return (f"upstream stalled: its event loop woke up to {stall:.0f} ms late "
                f"> limit {limits.upstream_loop_lag_max_ms:g} ms")
    p99 = checks["upstream_overshoot_ms"].get("p99")
    if p99 is not None and p99 > limits.upstream_overshoot_p99_max_ms:
        return (f"upstream late: served-delay overshoot p99 {p99:.1f} ms "
                f"> limit {limits.upstream_overshoot_p99_max_ms:g} ms")
    return _profile_departure(limits, checks)


def _profile_departure(limits: Limits, checks: dict[str, Any]) -> str | None:
    """Whether the served p99 left the profile's p99 by more than the limit.

    A fixed profile's departure is its overshoot, judged above. The limit is the
    larger of ``upstream_profile_p99_max_pct`` of the profile's p99 and the overshoot
    limit (timer lateness that small is tolerated anyway), and it is judged only on
    ``PROFILE_CHECK_MIN_CALLS`` calls or more.
    """
    served = checks.get("upstream_served_ms") or {}
    want, got, count = checks.get("upstream_profile_p99_ms"), served.get("p99"), served.get("count")
    if (checks.get("upstream_profile") in (None, "fixed") or want is None or got is None
            or count is None or count < PROFILE_CHECK_MIN_CALLS):
        return None
    allowed = max(want * limits.upstream_profile_p99_max_pct / 100,
                  limits.upstream_overshoot_p99_max_ms)
    if abs(got - want) > allowed:
        return (f"upstream off its profile: served p99 {got:.1f} ms against the "
                f"{checks['upstream_profile']} profile's {want:.1f} ms, more than "
                f"{allowed:.1f} ms apart")
    return None


def _little(trial: PlannedTrial, result: TrialLoad) -> dict[str, Any] | None:
    """Little's law for a clients or open-loop trial (``analyse.little``): throughput x mean
    response against the concurrency the generator meant to keep."""
    if isinstance(result, RateResult):
        corrected, actual = result.latency_ms.get("mean"), result.uncorrected_latency_ms.get("mean")
        if corrected is None or actual is None:
            return None
        return little_check(result.metrics["achieved_rps"], actual / 1000,
                            result.spec.rate_rps * corrected / 1000)
    if trial.scenario != "clients" or not result.metrics.get("mean_response_s"):
        return None
    sustained = TrialArrival.from_params(trial.params).arrival.mode == "sustained"
    return little_check(result.metrics.get("throughput_rps"),
                        result.metrics["mean_response_s"], trial.params["clients"], sustained)


def _latency_fields(result: TrialLoad) -> dict[str, Any]:
    """``latency_ms`` and ``hdr`` (a rate trial's are corrected; it adds the uncorrected)."""
    if isinstance(result, RateResult):
        return {"latency_ms": result.latency_ms, "hdr": result.hdr,
                "uncorrected_latency_ms": result.uncorrected_latency_ms,
                "uncorrected_hdr": result.uncorrected_hdr}
    return {"latency_ms": result.latency_ms, "hdr": result.hdr}


def base_record(run_id: str, trial: PlannedTrial) -> dict[str, Any]:
    """The identity part of a trial record."""
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "trial_id": trial.trial_id,
        "round": trial.round,
        "order": trial.order,
        "scenario": trial.scenario,
        "stack": trial.stack,
        "level": trial.level,
        "params": dict(trial.params),
        "started_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds"),
        **({"repeat": trial.repeat} if trial.repeat > 1 else {}),
    }


def failed_record(run_id: str, trial: PlannedTrial, error: str) -> dict[str, Any]:
    """A record for a trial that produced no measurement (its stack did not start or died)."""
    record = base_record(run_id, trial)
    record.update(status="failed", error=error, requests=None, latency_ms=None, metrics=None,
                  hdr=None, checks=None, resources=None)
    return record


def run_trial(config: Config, run_id: str, handle: StackHandle,
              trial: PlannedTrial, engine: Engine | None = None) -> dict[str, Any]:
    """Run one trial against a running stack (on ``engine``, builtin by default) and
    return its record."""
    record = base_record(run_id, trial)
    began = time.monotonic()
    result, seen = asyncio.run(_drive(handle, trial, engine or BuiltinEngine()))
    mon = seen.monitor
    if isinstance(result, RateResult):
        record["params"].update(result.spec.record_params())
    checks = _checks(config, seen, result, trial.stack,
                     handle.spec.workers * handle.spec.pool_size)
    little = _little(trial, result)
    if little is not None:
        checks["little"] = little
    counts = result.counts()
    error = None
    status = "ok"
    try:
        handle.ensure_alive()
    except StackError as exc:
        status, error = "failed", str(exc)
    # With an upstream error rate the apps' 502s are measured, not failures (closed loop).
    tolerated = (UPSTREAM_ERROR_STATUS,) if (config.upstream_for(trial.stack).profile.error_rate > 0
                                             and isinstance(result, ClosedResult)) else ()
    failure = (result.first_error(tolerated) if isinstance(result, ClosedResult)
               else result.first_error())
    if status == "ok" and result.disturbed:  # a worker's part is missing: counts are partial
        status, error = "invalid", result.disturbed
    if status == "ok" and failure:
        status, error = "failed", failure
    if status == "ok" and (reason := _invalid_reason(config, checks)):
        status, error = "invalid", reason
    resources = mon.resources(counts["ok"])
    if not mon.server_processes:  # no process seen (compose, external): nothing was measured
        resources = dict.fromkeys(resources)
    record.update(
        status=status, error=error, requests=counts, **_latency_fields(result),
        metrics={k: round(v, 6) for k, v in result.metrics.items()},
        checks=checks, resources=resources,
        wall_s=round(mon.wall_s, 6),
        # What the trial cost the run, snapshots and counters around the load included.
        elapsed_s=round(time.monotonic() - began, 6),
    )
    if isinstance(result, ClosedResult) and result.bursts:
        record["bursts"] = result.bursts
    if isinstance(result, ClosedResult) and result.window is not None:
        record["window"] = result.window
    return record


def foreign_words(checks: dict[str, Any]) -> str:
    """``1.93 cores used by other processes (python3 0.97, python3 0.96)`` from a record."""
    top = checks.get("foreign_top") or []
    names = ", ".join(f"{t['name']} {t['cpu']:.2f}" for t in top)
    return (f"{checks['foreign_cpu']:.2f} cores used by other processes"
            + (f" ({names})" if names else ""))


def disturbed_by_foreign_load(record: dict[str, Any]) -> bool:
    """True when a record is invalid because of other processes' CPU use."""
    return record.get("status") == "invalid" and str(record.get("error")).startswith(
        FOREIGN_REASON)

