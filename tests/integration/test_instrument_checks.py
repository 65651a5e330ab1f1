"""The instrument's self-checks: a starved load generator makes a trial invalid.

A starved load generator uses *less* CPU, not more, so the CPU check alone cannot
see it; its late sends and the time it spent runnable without a CPU can.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from harness.config.catalogue import BUILTIN_STACKS
from harness.config.load import config_from_dict
from harness.config.schema import StackSpec
from harness.measure.plan import PlannedTrial
from harness.measure.trial import run_trial
from harness.targets.local import running_stack

STACK = "quart-hypercorn"
DELAY_MS = 10
LOW_PRIORITY = 19  # nice 19 against nice-0 busy loops: about 1.5% of the shared core


@contextlib.contextmanager
def busy_loops(count: int, cpu: int) -> Iterator[list[int]]:
    """``count`` processes spinning on ``cpu``; killed by pid and reaped on exit."""
    procs: list[subprocess.Popen[bytes]] = []
    try:
        for _ in range(count):
            proc = subprocess.Popen([sys.executable, "-c", "while True: pass"])
            procs.append(proc)
            os.sched_setaffinity(proc.pid, {cpu})
        yield [p.pid for p in procs]
    finally:
        for proc in procs:
            proc.kill()
            proc.wait(10)


def starved(fn: Callable[[], dict[str, Any]], cpu: int) -> dict[str, Any]:
    """Run ``fn`` in a thread pinned to ``cpu`` at the lowest priority.

    On Linux affinity and niceness set with id 0 / the thread's native id are the
    thread's own (and its children's), so the test process is untouched; both are
    restored before the thread ends anyway.
    """
    out: dict[str, Any] = {}

    def body() -> None:
        tid = threading.get_native_id()
        affinity = os.sched_getaffinity(0)
        nice = os.getpriority(os.PRIO_PROCESS, tid)
        try:
            os.sched_setaffinity(0, {cpu})
            os.setpriority(os.PRIO_PROCESS, tid, LOW_PRIORITY)
            out["record"] = fn()
        except BaseException as exc:
            out["error"] = exc
        finally:
            os.sched_setaffinity(0, affinity)
            with contextlib.suppress(PermissionError):  # raising priority needs privilege
                os.setpriority(os.PRIO_PROCESS, tid, nice)

    thread = threading.Thread(target=body, name="starved-load-generator")
    thread.start()
    thread.join(240)
    assert not thread.is_alive(), "the starved trial did not finish in 240 s"
    if "error" in out:
        raise out["error"]
    record: dict[str, Any] = out["record"]
    return record


def figures(record: dict[str, Any]) -> str:
    c = record["checks"]
    lag = (c.get("send_lag_ms") or {}).get("p99")
    return (f"{record['status']} ({record['error']}): p50 {record['latency_ms']['p50']} ms, "
            f"p99 {record['latency_ms']['p99']} ms, "
            f"load generator CPU {c['loadgen_cpu']:.1%}, waited for a CPU "
            f"{c['loadgen_wait']:.1%} ({c['loadgen_wait_s']} s), send lag p99 {lag} ms")


@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs Linux affinity")
@pytest.mark.parametrize(("scenario", "level"), [("rate", 50), ("clients", 20)])
def test_starved_load_generator_is_invalid_not_a_slow_server(scenario: str, level: int) -> None:
    fields = dict(BUILTIN_STACKS[STACK])
    fields["workers"] = 1
    spec = StackSpec(name=STACK, **fields)
    config = config_from_dict({
        "run": {"stacks": [STACK], "baseline": STACK, "delay_ms": DELAY_MS,
                "request_timeout_s": 60},
        "scenarios": {scenario: {"levels": [level], "duration_s": 1}},
        "stacks": {STACK: {"workers": 1}},
    })
    params: dict[str, Any] = {"delay_ms": DELAY_MS, "timeout_s": 60.0}
    params.update({"rate_rps": level, "duration_s": 1.0} if scenario == "rate"
                  else {"clients": level})
    trial = PlannedTrial(1, 0, STACK, scenario, level, params)
    cpu = max(os.sched_getaffinity(0))

    with running_stack(spec) as handle:
        run_trial(config, "test", handle, trial)  # warm-up, discarded
        control = run_trial(config, "test", handle, trial)
        with busy_loops(1, cpu):
            record = starved(lambda: run_trial(config, "test", handle, trial), cpu)

    print(f"\n{scenario} control: {figures(control)}\n{scenario} starved: {figures(record)}")
    assert control["status"] == "ok", figures(control)
    # The mock upstream is the harness's own child: the CPU it spent is recorded.
    assert 0 < control["checks"]["upstream_cpu"] < 2, control["checks"]["upstream_cpu"]
    assert record["status"] == "invalid", figures(record)
    assert record["error"].startswith("load generator"), figures(record)
    assert record["requests"]["ok"] == record["requests"]["total"], figures(record)
    # Reported as it stands, the starved trial would read as a slower server. (A rate
    # trial of 50 requests reports its p50 but no p99: too few requests beyond it.)
    tail = "p50" if scenario == "rate" else "p99"
    assert record["latency_ms"][tail] > control["latency_ms"][tail], figures(record)


# --- the monitor itself ---------------------------------------------------------------------

_SPAWNS_A_BURNER = """
import subprocess, sys, time
time.sleep(0.3)
burn = "import time\\nt = time.thread_time()\\nwhile time.thread_time() - t < 0.6: pass\\n"
burn += "print(time.process_time())"
print(subprocess.run([sys.executable, "-c", burn], capture_output=True, text=True).stdout,
      flush=True)
time.sleep(30)
"""


def test_server_cpu_counts_a_worker_born_mid_trial() -> None:
    """A 'master' that sleeps, then runs a 'worker' burning 0.6 s of CPU and exiting:
    the tree's CPU includes the worker's (seen by the sampler after it was born;
    a worker that exits between samples loses at most one sample's worth)."""
    import time

    import psutil

    from harness.loadgen.monitor import SAMPLE_INTERVAL_S, TrialMonitor

    master = subprocess.Popen([sys.executable, "-c", _SPAWNS_A_BURNER], stdout=subprocess.PIPE,
                              text=True)
    try:
        root = psutil.Process(master.pid)

        def tree() -> list[psutil.Process]:
            try:
                return [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return []

        with TrialMonitor(tree) as monitor:
            assert master.stdout is not None
            burned = float(master.stdout.readline())
            time.sleep(0.1)
    finally:
        master.kill()
        master.wait(10)
        if master.stdout is not None:
            master.stdout.close()
    result = monitor.result
    assert result is not None
    assert result.server_processes == 2
    # The worker's own CPU (interpreter start-up included), less what it burned after
    # the last sample (one interval, or three on a busy machine), plus the master's.
    assert burned - 3 * SAMPLE_INTERVAL_S <= result.server_cpu_s <= burned + 0.3, (burned, result)
    assert result.server_peak_pss_mb is not None and result.server_peak_pss_mb > 0
    assert result.machine_cpu_fraction is not None  # a window of about a second


def test_machine_cpu_is_not_reported_for_a_window_below_its_resolution() -> None:
    from harness.loadgen.monitor import MIN_MACHINE_WINDOW_S, TrialMonitor

    with TrialMonitor(list) as monitor:
        pass
    assert monitor.result is not None and monitor.result.wall_s < MIN_MACHINE_WINDOW_S
    assert monitor.result.machine_cpu_fraction is None
    assert monitor.result.loadgen_wait_fraction is not None
