"""Calibration of the instrument: how fast the load generator is and what it adds.

Measurement functions over a running endpoint, plus ``run_calibration`` that starts
the mock upstream and takes every figure, and the ``calibration.json`` file later
runs' manifests quote. The CLI (``harness.cli.measuring``) and
``scripts/loadgen_bench.py`` print the figures; nothing here prints.

Figures (all against the mock upstream's ``/delay``, on 127.0.0.1):
- ``loadgen_peak``: closed-loop requests/s of one load-generator process on
  ``/delay?ms=0``, with the asyncio and the uvloop event loop;
- ``open_loop``: the highest offered rate one open-loop process (the ``rate``
  scenario's, asyncio) keeps on schedule (send lag p99 and CPU within limits);
- ``added_latency_100ms``: measured minus served time of a 100 ms upstream call;
- ``upstream_ceiling``: ``/delay?ms=0`` requests/s from several load-generator
  processes at once, so one process is not the limit, with the upstream's CPU use;
- ``wrk``: where ``wrk`` is installed, the same endpoint from wrk, and its ratio to
  the load generator's peak (how much a C load generator does on this machine).

On a machine with few cores the load generators and the upstream share them: every
ceiling here is the pair's, which is also what a trial on this machine gets.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any, TypeVar

import psutil

from harness import __version__
from harness.loadgen.drivers import client_session
from harness.loadgen.monitor import process_cpu_s
from harness.loadgen.openloop import OpenLoop
from harness.loadgen.peak import closed_loop
from harness.loadgen.schedule import RateSpec
from harness.measure import envinfo
from harness.measure.scaling import scaling, scaling_lines
from harness.paths import child_environment
from harness.rundir.writer import write_json_atomic
from harness.targets.local import running_upstream

T = TypeVar("T")

CALIBRATION_FILE = "calibration.json"
CALIBRATION_SCHEMA = 1
OPEN_LOOP_RATES = (200, 400, 800, 1200, 1600, 2400, 3200)
OPEN_LOOP_LAG_P99_MAX_MS = 20.0   # as Limits.send_lag_p99_max_ms by default
OPEN_LOOP_CPU_MAX = 0.95          # as Limits.loadgen_cpu_max by default


async def peak_rate(base_url: str, path: str = "/delay?ms=0", *, concurrency: int = 32,
                    duration_s: float = 3.0, max_requests: int = 200_000) -> dict[str, Any]:
    """Closed-loop requests from ``concurrency`` workers for ``duration_s`` (bounded in count;
    ``peak.closed_loop``).

    Returns requests/s, the counts, and the load generator's own CPU use.
    """
    cpu0 = time.process_time()
    async with client_session(concurrency) as session:
        result = await closed_loop(session, base_url + path, concurrency, duration_s,
                                   max_requests)
    wall = result.duration_s
    cpu = time.process_time() - cpu0
    counts = result.counts()
    errors = counts["total"] - counts["ok"]
    return {"requests": counts["total"], "errors": errors, "seconds": round(wall, 3),
            "rps": round(counts["ok"] / wall, 1), "loadgen_cpu": round(cpu / wall, 3),
            "concurrency": concurrency}


async def added_latency(upstream_url: str, delay_ms: int = 100,
                        samples: int = 100) -> dict[str, Any]:
    """Latency the load generator measures beyond what the upstream says it served.

    Sequential requests on one kept-alive connection; overhead = measured - served.
    """
    overheads = []
    async with client_session(1) as session:
        for _ in range(samples):
            start = time.perf_counter()
            async with session.get(f"{upstream_url}/delay?ms={delay_ms}") as resp:
                body = await resp.json()
            measured_ms = 1000 * (time.perf_counter() - start)
            overheads.append(measured_ms - float(body["served_ms"]))
    overheads.sort()

    def pct(q: float) -> float:
        return round(overheads[min(len(overheads) - 1, int(q * len(overheads)))], 3)

    return {"delay_ms": delay_ms, "samples": samples,
            "overhead_ms": {"mean": round(statistics.fmean(overheads), 3), "p50": pct(0.5),
                            "p90": pct(0.9), "p99": pct(0.99), "max": round(overheads[-1], 3)}}


def run_with_loop(factory: Callable[[], Coroutine[Any, Any, T]], loop: str = "asyncio") -> T:
    """Run a coroutine on a fresh asyncio or uvloop event loop."""
    if loop == "uvloop":
        import uvloop

        with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
            return runner.run(factory())
    return asyncio.run(factory())


# --- open loop -------------------------------------------------------------------------------

async def open_loop_ceiling(base_url: str, path: str = "/delay?ms=0", *,
                            rates: tuple[int, ...] = OPEN_LOOP_RATES,
                            duration_s: float = 2.0) -> dict[str, Any]:
    """Offer rising rates from one open-loop process until it falls behind its schedule.

    A step keeps up when every request succeeds, the send lag p99 is within
    ``OPEN_LOOP_LAG_P99_MAX_MS`` and the process's CPU within ``OPEN_LOOP_CPU_MAX``;
    ``sustained_rps`` is the highest such rate (None when even the first fails).
    Stops at the first step that does not keep up.
    """
    steps = []
    sustained = None
    for rate in rates:
        spec = RateSpec(rate, duration_s, timeout_s=10.0, processes=1)
        async with OpenLoop(base_url + path, spec, expect_calls=None) as generator:
            result = await generator.run()
        lag = result.send_lag_ms["p99"]
        counts = result.counts()
        ok = (counts["ok"] == counts["total"] and lag is not None
              and lag <= OPEN_LOOP_LAG_P99_MAX_MS and result.loadgen_cpu <= OPEN_LOOP_CPU_MAX)
        steps.append({"offered_rps": rate, "achieved_rps": round(result.metrics["achieved_rps"], 1),
                      "send_lag_p99_ms": lag, "loadgen_cpu": round(result.loadgen_cpu, 3),
                      "errors": counts["total"] - counts["ok"],
                      "kept_up": ok})
        if not ok:
            break
        sustained = rate
    return {"duration_s": duration_s, "lag_p99_max_ms": OPEN_LOOP_LAG_P99_MAX_MS,
            "cpu_max": OPEN_LOOP_CPU_MAX, "sustained_rps": sustained, "steps": steps}


# --- several load-generator processes at once ---------------------------------------------

_PEAK_CHILD = """
import json, sys
from harness.measure.calibrate import peak_rate, run_with_loop
url, seconds, concurrency = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])
print("ready", flush=True)
if sys.stdin.readline().strip() == "go":
    print(json.dumps(run_with_loop(lambda: peak_rate(url, concurrency=concurrency,
                                                     duration_s=seconds), "uvloop")))
"""


def upstream_ceiling(base_url: str, upstream_pid: int, *, processes: int = 0,
                     duration_s: float = 3.0, concurrency: int = 32) -> dict[str, Any]:
    """Closed-loop ``/delay?ms=0`` from ``processes`` uvloop processes released together
    (default: one per CPU, at least two); their sum is the upstream's ceiling on this
    machine. Also the upstream's CPU use over the same time (1.0 = one core busy)."""
    processes = processes or max(2, os.cpu_count() or 1)
    env = child_environment()
    children = [subprocess.Popen([sys.executable, "-c", _PEAK_CHILD, base_url, str(duration_s),
                                  str(concurrency)], stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
                                 text=True)
                for _ in range(processes)]
    upstream = psutil.Process(upstream_pid)
    try:
        for child in children:  # each has imported everything and waits for "go"
            assert child.stdout is not None and child.stdin is not None
            if child.stdout.readline().strip() != "ready":
                raise RuntimeError(f"load-generator process {child.pid} did not start: "
                                   f"{child.communicate(timeout=10)[1].strip()[-400:]}")
        cpu0, wall0 = process_cpu_s(upstream), time.perf_counter()
        for child in children:
            assert child.stdin is not None
            child.stdin.write("go\n")
            child.stdin.flush()
        outputs = [child.communicate(timeout=duration_s + 60) for child in children]
        upstream_cpu = (process_cpu_s(upstream) - cpu0) / (time.perf_counter() - wall0)
        results = []
        for child, (out, err) in zip(children, outputs, strict=True):
            if child.returncode != 0:
                raise RuntimeError(f"load-generator process {child.pid} failed: "
                                   f"{err.strip()[-400:]}")
            results.append(json.loads(out))
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait(5)
    return {"processes": processes, "concurrency_each": concurrency, "duration_s": duration_s,
            "rps": round(sum(r["rps"] for r in results), 1),
            "rps_by_process": [r["rps"] for r in results],
            "errors": sum(r["errors"] for r in results),
            "loadgen_cpu_by_process": [r["loadgen_cpu"] for r in results],
            "upstream_cpu": round(upstream_cpu, 3)}


# --- wrk -------------------------------------------------------------------------------------

_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1000.0, "m": 60_000.0}


def parse_wrk(text: str) -> dict[str, Any]:
    """Requests/s, request count and latency percentiles (ms) from ``wrk --latency`` output.

    Raises:
        ValueError: the text has no ``Requests/sec`` line.
    """
    rps = re.search(r"^Requests/sec:\s*([\d.]+)", text, re.M)
    if not rps:
        raise ValueError("no 'Requests/sec' line in wrk output")
    out: dict[str, Any] = {"rps": float(rps.group(1))}
    count = re.search(r"^\s*(\d+) requests in", text, re.M)
    out["requests"] = int(count.group(1)) if count else None
    errors = re.search(r"Non-2xx or 3xx responses:\s*(\d+)", text)
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                              r"timeout (\d+)", text)
    out["errors"] = ((int(errors.group(1)) if errors else 0)
                     + (sum(int(g) for g in socket_errors.groups()) if socket_errors else 0))
    latency: dict[str, float] = {}
    for pct, value, unit in re.findall(r"^\s*(50|90|99)%\s+([\d.]+)(us|ms|s|m)\b", text, re.M):
        latency[f"p{pct}"] = round(float(value) * _UNITS[unit], 3)
    out["latency_ms"] = latency
    return out


def wrk_rate(base_url: str, path: str = "/delay?ms=0", *, threads: int = 1,
             connections: int = 32, duration_s: float = 3.0,
             wrk: str | None = None) -> dict[str, Any]:
    """The same endpoint measured by ``wrk``, or ``{"available": False}`` without it."""
    wrk = wrk or shutil.which("wrk")
    if wrk is None:
        return {"available": False,
                "reason": "wrk is not installed (Debian package 'wrk')"}
    command = [wrk, f"-t{threads}", f"-c{connections}", f"-d{max(1, round(duration_s))}s",
               "--latency", base_url + path]
    done = subprocess.run(command, capture_output=True, text=True, timeout=duration_s + 60,
                          check=False)
    if done.returncode != 0:
        return {"available": False, "reason": f"wrk exited {done.returncode}: "
                                              f"{done.stderr.strip()[-200:]}"}
    return {"available": True, "threads": threads, "connections": connections,
            "duration_s": duration_s, **parse_wrk(done.stdout)}


# --- everything, and the file ----------------------------------------------------------------

def run_calibration(seconds: float = 3.0, samples: int = 100, concurrency: int = 32,
                    use_wrk: bool = True,
                    note: Callable[[str], None] = lambda _: None,
                    workers: int = 0) -> dict[str, Any]:
    """Start the mock upstream and take every figure; ``note`` hears of each step. With
    ``workers`` N, also the locust engine with 1..N workers beside wrk with 1..N threads."""
    environment = envinfo.collect_environment()
    environment.pop("packages", None)
    data: dict[str, Any] = {
        "schema_version": CALIBRATION_SCHEMA,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "harness_version": __version__,
        "machine_id": envinfo.machine_fingerprint(environment),
        "environment": environment,
        "settings": {"seconds": seconds, "samples": samples, "concurrency": concurrency},
    }
    with running_upstream() as upstream:
        url = upstream.base_url
        peaks = {}
        for loop in ("asyncio", "uvloop"):
            note(f"load generator peak rate ({loop})")
            peaks[loop] = run_with_loop(
                lambda: peak_rate(url, concurrency=concurrency, duration_s=seconds), loop)
        data["loadgen_peak"] = peaks
        note("open-loop ceiling of one process")
        data["open_loop"] = asyncio.run(open_loop_ceiling(url, duration_s=min(seconds, 2.0)))
        note(f"added latency on a 100 ms upstream call ({samples} samples)")
        data["added_latency_100ms"] = run_with_loop(lambda: added_latency(url, 100, samples))
        note("upstream ceiling from several load-generator processes")
        data["upstream_ceiling"] = upstream_ceiling(url, upstream.pid, duration_s=seconds,
                                                    concurrency=concurrency)
        if use_wrk:
            note("the same endpoint with wrk")
            wrk = wrk_rate(url, connections=concurrency, duration_s=seconds)
            if wrk.get("available"):
                wrk["ratio_to_loadgen"] = {
                    loop: round(wrk["rps"] / peaks[loop]["rps"], 2) if peaks[loop]["rps"] else None
                    for loop in peaks}
        else:
            wrk = {"available": False, "reason": "skipped (--no-wrk)"}
        data["wrk"] = wrk
        if workers:
            data["workers_scaling"] = scaling(url, workers, concurrency=concurrency,
                                              duration_s=seconds,
                                              wrk=wrk_rate if use_wrk else None, note=note)
    return data


def calibration_lines(data: dict[str, Any]) -> list[str]:
    """The figures of a calibration as short lines for a terminal."""
    lines = [f"machine {data['machine_id']} ({data['environment'].get('cpu_model')}, "
             f"{data['environment'].get('cpu_count')} CPUs)"]
    for loop, r in data["loadgen_peak"].items():
        lines.append(f"load generator peak ({loop:7}): {r['rps']:>8.0f} req/s closed loop, "
                     f"{r['concurrency']} connections, {r['errors']} errors, "
                     f"CPU {r['loadgen_cpu']:.0%} of a core")
    ol = data["open_loop"]
    steps = ", ".join(f"{s['offered_rps']}->{s['achieved_rps']:.0f} "
                      f"(lag p99 {s['send_lag_p99_ms']} ms, CPU {s['loadgen_cpu']:.0%})"
                      for s in ol["steps"])
    lines.append(f"open loop, one process: keeps schedule up to {ol['sustained_rps']} req/s "
                 f"[{steps}]")
    o = data["added_latency_100ms"]["overhead_ms"]
    lines.append(f"added latency on a 100 ms upstream call: mean {o['mean']:.2f} ms, "
                 f"p50 {o['p50']:.2f}, p99 {o['p99']:.2f}, max {o['max']:.2f} ms")
    u = data["upstream_ceiling"]
    lines.append(f"upstream ceiling: {u['rps']:.0f} req/s from {u['processes']} processes "
                 f"({', '.join(f'{x:.0f}' for x in u['rps_by_process'])}), upstream CPU "
                 f"{u['upstream_cpu']:.0%} of a core, {u['errors']} errors")
    w = data["wrk"]
    if w.get("available"):
        ratios = ", ".join(f"{v}x {k}" for k, v in w["ratio_to_loadgen"].items())
        lines.append(f"wrk ({w['threads']} thread, {w['connections']} connections): "
                     f"{w['rps']:.0f} req/s, p50 {w['latency_ms'].get('p50')} ms, "
                     f"p99 {w['latency_ms'].get('p99')} ms; wrk / load generator = {ratios}")
    else:
        lines.append(f"wrk: not measured ({w.get('reason')})")
    if "workers_scaling" in data:
        lines.extend(scaling_lines(data["workers_scaling"]))
    return lines


def save_calibration(results_root: Path, data: dict[str, Any]) -> Path:
    """Write ``results_root/calibration.json`` atomically (replacing an older one)."""
    results_root.mkdir(parents=True, exist_ok=True)
    path = results_root / CALIBRATION_FILE
    write_json_atomic(path, data)
    return path


def load_calibration(results_root: Path, machine_id: str) -> dict[str, Any] | None:
    """The newest calibration under ``results_root`` if it was taken on ``machine_id``.

    None when there is none, it cannot be read, or it comes from another machine.
    """
    try:
        data = json.loads((Path(results_root) / CALIBRATION_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict) or data.get("machine_id") != machine_id:
        return None
    return data
