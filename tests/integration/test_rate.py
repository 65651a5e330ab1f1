"""The ``rate`` scenario against real stacks: config to records, several processes, and
what latency correction shows when the upstream stalls."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.config.catalogue import BUILTIN_STACKS
from harness.config.load import config_from_dict
from harness.config.schema import StackSpec
from harness.loadgen.drivers import client_session, warm_up
from harness.loadgen.openloop import OpenLoop
from harness.loadgen.schedule import RateSpec
from harness.loadgen.tally import RateResult
from harness.measure.plan import PlannedTrial
from harness.measure.runner import SilentProgress, start_run
from harness.measure.trial import run_trial
from harness.targets.handle import StackHandle
from harness.targets.local import running_stack
from tests.procs import living_children

STACK = "quart-hypercorn"
DELAY_MS = 10


def quart_one_worker() -> StackSpec:
    fields = dict(BUILTIN_STACKS[STACK])
    fields["workers"] = 1
    return StackSpec(name=STACK, **fields)


# Every check but the upstream's heartbeat opened: the stall test's trial is judged by it
# alone, whatever else a busy machine does to the generator.
ONLY_THE_HEARTBEAT = {"foreign_cpu_max": 64.0, "loadgen_cpu_max": 64.0,
                      "loadgen_wait_max": 64.0, "send_lag_p99_max_ms": 60000.0,
                      "upstream_overshoot_p99_max_ms": 60000.0}


def config(limits: dict[str, float] | None = None, **scenario: Any) -> Any:
    return config_from_dict({
        "run": {"stacks": [STACK], "baseline": STACK, "rounds": 1, "delay_ms": DELAY_MS,
                "warmup_requests": 3, "request_timeout_s": 30, "seed": 5},
        "scenarios": {"rate": {"levels": [50, 100], "duration_s": 1, **scenario}},
        "stacks": {STACK: {"workers": 1}},
        **({"limits": limits} if limits else {}),
    })


def rate_trial(rate: int, duration_s: float, **extra: Any) -> PlannedTrial:
    params = {"delay_ms": DELAY_MS, "timeout_s": 30.0, "rate_rps": rate,
              "duration_s": duration_s, **extra}
    return PlannedTrial(1, 0, STACK, "rate", rate, params)


def warm(handle: StackHandle) -> None:
    async def go() -> None:
        async with client_session(5) as session:
            single = handle.spec.url(handle.base_url, "clients", {"delay_ms": DELAY_MS})
            await warm_up(session, single, None, 5, 10)
    asyncio.run(go())


@contextlib.contextmanager
def stalled(pid: int, after_s: float, for_s: float) -> Iterator[list[float]]:
    """SIGSTOP ``pid`` ``after_s`` from now for ``for_s``; always SIGCONT it on exit."""
    done = threading.Event()
    stopped: list[float] = []

    def body() -> None:
        if done.wait(after_s):
            return
        os.kill(pid, signal.SIGSTOP)
        stopped.append(after_s)
        try:
            done.wait(for_s)
        finally:
            os.kill(pid, signal.SIGCONT)

    thread = threading.Thread(target=body, name="stall", daemon=True)
    thread.start()
    try:
        yield stopped
    finally:
        done.set()
        thread.join(10)
        os.kill(pid, signal.SIGCONT)  # harmless if it is running


# --- the scenario end to end -----------------------------------------------------------------


def test_rate_levels_in_a_config_become_records(tmp_path: Path) -> None:
    outcome = start_run(config(), tmp_path, SilentProgress(), argv=["run"])
    lines = (outcome.run_dir / "trials.jsonl").read_text().splitlines()
    records = {r["level"]: r for r in map(json.loads, lines)}
    assert sorted(records) == [50, 100]
    for level, r in records.items():
        # "invalid" only if this shared machine made the load generator late.
        assert r["status"] == "ok" or r["error"].startswith("load generator"), r["error"]
        assert r["params"] == {"delay_ms": DELAY_MS, "cpu_ms": 0, "timeout_s": 30, "rate_rps": level,
                               "duration_s": 1, "schedule": "uniform", "processes": 1,
                               "max_in_flight": 256}
        assert r["requests"]["ok"] == r["requests"]["total"] == level
        # A percentile is reported on ten requests beyond it: 50 requests hold a p50, 100
        # a p90 too; neither holds a p99 (1,000).
        assert set(r["metrics"]) == ({"achieved_rps", "p50_ms"} if level == 50
                                     else {"achieved_rps", "p50_ms", "p90_ms"})
        assert r["latency_ms"]["p99"] is None and r["latency_ms"]["p999"] is None
        # all `level` answers over at most the schedule plus the slowest answer's time
        slowest_s = r["latency_ms"]["max"] / 1000
        assert level / (1 + slowest_s) * 0.99 <= r["metrics"]["achieved_rps"] <= level
        assert r["metrics"]["p50_ms"] == r["latency_ms"]["p50"] >= DELAY_MS
        unc, cor = r["uncorrected_latency_ms"], r["latency_ms"]
        assert unc["mean"] <= cor["mean"] and unc["p50"] <= cor["p50"]
        assert HdrHistogram.decode(r["hdr"]).get_total_count() == level
        checks = r["checks"]
        assert set(checks["send_lag_ms"]) == {"p50", "p90", "p99", "p999", "max"}
        assert checks["offered_requests"] == level and checks["loadgen_processes"] == 1
        assert checks["in_flight_capped"] == 0
        assert checks["upstream_requests"] == level
        assert r["resources"]["cpu_s"] > 0 and r["resources"]["peak_pss_mb"] > 0


def test_several_load_generator_processes_merge_into_one_record() -> None:
    with running_stack(quart_one_worker()) as handle:
        warm(handle)
        record = run_trial(config(), "test", handle, rate_trial(200, 1.0, processes=2))
    assert record["requests"]["ok"] == record["requests"]["total"] == 200
    assert record["params"]["processes"] == 2
    checks = record["checks"]
    assert checks["loadgen_processes"] == 2 and len(checks["loadgen_cpu_by_process"]) == 2
    assert checks["loadgen_cpu"] == max(checks["loadgen_cpu_by_process"])
    assert checks["upstream_requests"] == 200
    assert HdrHistogram.decode(record["hdr"]).get_total_count() == 200
    assert not living_children()  # every process reaped


# --- coordinated omission ----------------------------------------------------------------------


def test_stalled_upstream_shows_in_corrected_latency_and_a_blocked_sender_hides_it() -> None:
    """The upstream is frozen (SIGSTOP) for 1 s in the middle of a 50 req/s trial.

    1. The open-loop generator keeps sending on schedule while nothing answers, so
       about fifty requests wait out the stall: p90 is hundreds of milliseconds,
       measured from the intended send (corrected) and, since the sends were on time,
       from the actual send too. The send lag stays small: the generator was not at
       fault.
    2. The same schedule from a sender that waits for each answer before the next
       send (``max_in_flight=1``: a paced closed-loop client) sends nothing during
       the stall. Timed from its actual sends, only the one request caught in the
       stall is slow, and p90 looks healthy: coordinated omission. Timed from the
       intended sends, the queue behind the stall is in p90 again.

    The p90, not the p99: 150 and 200 requests hold 15 and 20 beyond it, and a trial
    reports no p99 on fewer than 1,000 (``rundir.format.answers_needed``).
    """
    with running_stack(quart_one_worker()) as handle:
        warm(handle)
        with stalled(handle.upstream.pid, after_s=1.0, for_s=1.0) as stopped:
            record = run_trial(config(ONLY_THE_HEARTBEAT), "test", handle, rate_trial(50, 3.0))
        assert stopped, "the upstream was never stopped"

        spec = RateSpec(50, 4.0, timeout_s=30.0, processes=1, max_in_flight=1)

        async def blocked_sender() -> RateResult:
            url = handle.spec.url(handle.base_url, "rate", {"delay_ms": DELAY_MS})
            async with OpenLoop(url, spec) as generator:
                return await generator.run()

        with stalled(handle.upstream.pid, after_s=1.0, for_s=1.0) as stopped:
            blocked = asyncio.run(blocked_sender())
        assert stopped, "the upstream was never stopped"

    corrected, uncorrected = record["latency_ms"]["p90"], record["uncorrected_latency_ms"]["p90"]
    figures = (f"open loop: corrected p90 {corrected} ms, uncorrected p90 {uncorrected} ms, "
               f"send lag p99 {record['checks']['send_lag_ms']['p99']} ms; blocked sender: "
               f"corrected p90 {blocked.latency_ms['p90']} ms, uncorrected p90 "
               f"{blocked.uncorrected_latency_ms['p90']} ms, {blocked.in_flight_capped} "
               f"sends held back; upstream overshoot "
               f"{record['checks']['upstream_overshoot_ms']}")
    print(figures)
    assert record["requests"]["ok"] == 150, figures
    assert corrected >= 500 and uncorrected >= 500, figures
    assert record["checks"]["send_lag_ms"]["p99"] < 250, figures  # far below the 1 s stall
    # The upstream's own heartbeat saw the stall, so the trial is not passed off as the
    # server's latency: it is invalid, and says why.
    assert record["checks"]["upstream_loop_lag_max_ms"] >= 500, figures
    assert record["status"] == "invalid", figures
    assert record["error"].startswith("upstream stalled: its event loop woke up to"), figures
    # The overshoot counters see the stall at most in the one request the upstream was
    # sleeping on when stopped; the fifty queued in its socket are served on time once
    # it resumes. Hence the heartbeat above.

    assert blocked.counts()["ok"] == 200, figures
    assert blocked.latency_ms["p90"] is not None and blocked.latency_ms["p90"] >= 500, figures
    assert blocked.uncorrected_latency_ms["p90"] is not None, figures
    assert blocked.uncorrected_latency_ms["p90"] < 200, figures
    assert blocked.uncorrected_latency_ms["max"] is not None, figures
    assert blocked.uncorrected_latency_ms["max"] >= 500, figures  # the one caught in it
    assert blocked.in_flight_capped >= 40, figures
    assert blocked.send_lag_ms["p99"] is not None and blocked.send_lag_ms["p99"] < 100, figures
