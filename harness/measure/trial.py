"""One trial: drive the load against a running stack, judge the instrument, build the record.

A record is built only when the trial ends; an interrupted trial leaves nothing.
Status rules: ``failed`` when the stack died or any request failed (the reason says
which), ``invalid`` when a self-check went beyond the config's limits (the reason
names the check), ``ok`` otherwise.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import aiohttp

from harness.config.schema import Config
from harness.errors import StackError
from harness.loadgen.drivers import (
    ScenarioResult,
    client_session,
    run_clients,
    run_fanout,
    warm_up,
)
from harness.loadgen.monitor import MonitorResult, TrialMonitor
from harness.loadgen.openloop import OpenLoop
from harness.loadgen.schedule import RateSpec
from harness.loadgen.tally import RateResult
from harness.measure.plan import PlannedTrial
from harness.rundir.format import SCHEMA_VERSION, encode_latencies, latency_summary
from harness.targets.handle import StackHandle


async def _upstream_stats(session: aiohttp.ClientSession, upstream_url: str) -> dict[str, Any]:
    try:
        async with session.get(f"{upstream_url}/stats?reset=1",
                               timeout=aiohttp.ClientTimeout(total=5)) as resp:
            data = await resp.json()
            return data if isinstance(data, dict) else {}
    except (aiohttp.ClientError, TimeoutError, ValueError):
        return {}


async def _drive(handle: StackHandle, trial: PlannedTrial) -> tuple[
        ScenarioResult | RateResult, MonitorResult, dict[str, Any]]:
    params = trial.params
    spec = handle.spec
    url = spec.url(handle.base_url, trial.scenario, params)
    result: ScenarioResult | RateResult
    async with aiohttp.ClientSession() as control:
        await _upstream_stats(control, handle.upstream_url)
        if trial.scenario == "rate":
            # Load-generator processes start before the monitor, so it measures the load only.
            async with OpenLoop(url, RateSpec.from_params(params),
                                calls_field=spec.calls_field) as generator:
                with TrialMonitor(handle.server.tree) as monitor:
                    result = await generator.run()
        else:
            async with client_session(params.get("clients", 1)) as session:
                with TrialMonitor(handle.server.tree) as monitor:
                    if trial.scenario == "fanout":
                        result = await run_fanout(session, url, params["n"], params["timeout_s"],
                                                  calls_field=spec.calls_field)
                    elif trial.scenario == "clients":
                        result = await run_clients(session, url, params["clients"],
                                                   params["timeout_s"],
                                                   calls_field=spec.calls_field)
                    else:
                        raise ValueError(f"scenario {trial.scenario!r} has no driver")
        upstream = await _upstream_stats(control, handle.upstream_url)
    assert monitor.result is not None
    return result, monitor.result, upstream


async def warm(handle: StackHandle, config: Config) -> None:
    """Warm the stack up on the paths it declares (see ``drivers.warm_up``)."""
    spec, params = handle.spec, {"delay_ms": config.delay_ms, "n": 2}
    single, fanout = (spec.url(handle.base_url, scenario, params)
                      if spec.path(scenario) is not None else None
                      for scenario in ("clients", "fanout"))
    async with client_session(max(1, config.warmup_requests)) as session:
        await warm_up(session, single, fanout, config.warmup_requests,
                      config.request_timeout_s, spec.calls_field)



MIN_LOADGEN_WAIT_S = 0.02


def _round(value: float | None, digits: int = 4) -> float | None:
    return round(value, digits) if value is not None else None


def _checks(config: Config, mon: MonitorResult, upstream: dict[str, Any],
            result: ScenarioResult | RateResult | None = None) -> dict[str, Any]:
    """The instrument's self-checks of one trial (``config`` is for future limits).

    For a rate trial the load generator's CPU and run-queue wait are its own
    processes' (the busiest one when there are several), over the load alone.
    """
    overshoot = upstream.get("overshoot_ms") or {}
    checks: dict[str, Any] = {
        "loadgen_cpu": round(mon.loadgen_cpu_fraction, 4),
        "loadgen_wait": _round(mon.loadgen_wait_fraction),
        "loadgen_wait_s": _round(mon.loadgen_wait_s),
        "machine_cpu": _round(mon.machine_cpu_fraction),
        "machine_cpu_window_s": round(mon.wall_s, 4),
        "send_lag_ms": None,
        "upstream_requests": upstream.get("requests"),
        "upstream_max_in_flight": upstream.get("max_in_flight"),
        "upstream_overshoot_ms": {k: overshoot.get(k) for k in ("mean", "p99", "max")},
        "upstream_loop_lag_max_ms": _round((upstream.get("loop_lag_ms") or {}).get("max"), 3),
    }
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


def _invalid_reason(config: Config, checks: dict[str, Any]) -> str | None:
    """Why a trial's figures cannot be trusted, load generator first; None if they can.

    A machine CPU figure of None (a window too short to measure) never invalidates;
    nor does a run-queue wait below ``MIN_LOADGEN_WAIT_S``, whatever its share.
    """
    limits = config.limits
    if checks["loadgen_cpu"] > limits.loadgen_cpu_max:
        return (f"load generator saturated: {checks['loadgen_cpu']:.0%} of a core "
                f"> limit {limits.loadgen_cpu_max:.0%}")
    wait, wait_s = checks.get("loadgen_wait"), checks.get("loadgen_wait_s")
    if (wait is not None and wait > limits.loadgen_wait_max
            and wait_s is not None and wait_s > MIN_LOADGEN_WAIT_S):
        return (f"load generator starved: waited for a CPU {wait:.0%} of the trial "
                f"> limit {limits.loadgen_wait_max:.0%}")
    lag = (checks.get("send_lag_ms") or {}).get("p99")
    if lag is not None and lag > limits.send_lag_p99_max_ms:
        return (f"load generator late: send lag p99 {lag:.1f} ms "
                f"> limit {limits.send_lag_p99_max_ms:g} ms")
    machine = checks.get("machine_cpu")
    if machine is not None and machine > limits.machine_cpu_max:
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
    return None


def _latency_fields(result: ScenarioResult | RateResult) -> dict[str, Any]:
    """``latency_ms`` and ``hdr`` (a rate trial's are corrected; it adds the uncorrected)."""
    if isinstance(result, RateResult):
        return {"latency_ms": result.latency_ms, "hdr": result.hdr,
                "uncorrected_latency_ms": result.uncorrected_latency_ms}
    latencies = result.ok_latencies_s()
    hdr, hist = encode_latencies(latencies)
    return {"latency_ms": latency_summary(hist, sum(latencies), max(latencies, default=0.0)),
            "hdr": hdr}


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
    }


def failed_record(run_id: str, trial: PlannedTrial, error: str) -> dict[str, Any]:
    """A record for a trial that produced no measurement (its stack did not start or died)."""
    record = base_record(run_id, trial)
    record.update(status="failed", error=error, requests=None, latency_ms=None, metrics=None,
                  hdr=None, checks=None, resources=None)
    return record


def run_trial(config: Config, run_id: str, handle: StackHandle,
              trial: PlannedTrial) -> dict[str, Any]:
    """Run one trial against a running stack and return its record."""
    record = base_record(run_id, trial)
    result, mon, upstream = asyncio.run(_drive(handle, trial))
    if isinstance(result, RateResult):
        record["params"].update(result.spec.record_params())
    checks = _checks(config, mon, upstream, result)
    counts = result.counts()
    error = None
    status = "ok"
    try:
        handle.ensure_alive()
    except StackError as exc:
        status, error = "failed", str(exc)
    if status == "ok" and (failure := result.first_error()):
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
    )
    return record

