"""One cell measured by two instruments: the harness's sustained closed loop and wrk.

``crosscheck`` starts one stack (as a run would: the config's placement, the mock
upstream, a warm-up), then measures it twice on the same running server, with the same
C keep-alive connections for the same whole seconds: first the harness
(``loadgen.sustained``: throughput over its steady window), then wrk (Debian's package:
its requests over the whole run), each watched by the spread sampler: which worker holds
how many of the C connections, drawn afresh for each instrument (wrk first opens and at
once closes one probe connection, which a worker may still hold: C + 1 at its peak).
wrk runs under the project's process machinery (``targets.process.managed_process``: its
own process group, the guard that ends it with the harness, reaped on any exit), with
``--timeout`` at the config's request timeout: wrk's default of 2 s would drop every
answer a queueing server gives later than that (a gthread stack at C = 200 answers after
about 2.5 s).

``repeat`` K measures K pairs on the same server, the order alternating (harness then wrk,
wrk then harness, ...) so neither instrument always meets the server first; each opens its
connections afresh every time, so each run draws a new spread of connections over the
workers (on gthread the spread decides the throughput: a worker holding fewer connections
than threads leaves threads idle). Each instrument's figure is then its median over the K
runs, and the runs are kept beside it.

:class:`Agreement` decides: the two throughputs agree when they differ by at most the
tolerance, relative to wrk's (the independent instrument).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.analyse.bursts import per_worker_slots
from harness.config.schema import Config, StackSpec
from harness.errors import LoadGeneratorError, StackError
from harness.loadgen.spread import SpreadSampler
from harness.loadgen.sustained import run_sustained
from harness.measure.calibrate import parse_wrk
from harness.measure.quiet import wait_for_quiet
from harness.measure.trial import warm
from harness.paths import child_environment
from harness.rundir.format import encode_latencies, latency_summary
from harness.targets import open_stack
from harness.targets.cpuwork import measure_cpu_work
from harness.targets.handle import StackHandle
from harness.targets.process import managed_process, pin_this_process, unpin

DEFAULT_TOLERANCE_PCT = 10.0
WRK_GRACE_S = 60.0  # beyond its duration, how long wrk may take to finish


@dataclass(frozen=True)
class Agreement:
    """The harness's throughput against wrk's, and the tolerance they are held to."""

    harness_rps: float
    wrk_rps: float
    tolerance_pct: float

    @property
    def ratio(self) -> float | None:
        """harness / wrk (None when wrk measured nothing)."""
        return self.harness_rps / self.wrk_rps if self.wrk_rps > 0 else None

    @property
    def within(self) -> bool:
        """True when the harness differs from wrk by at most the tolerance (of wrk's rate)."""
        return (self.wrk_rps > 0
                and abs(self.harness_rps - self.wrk_rps) <= self.tolerance_pct / 100 * self.wrk_rps)


@dataclass(frozen=True)
class Crosscheck:
    """Both measurements of one cell and their agreement."""

    stack: str
    clients: int
    duration_s: int
    warmup_s: float
    delay_ms: int
    placement: str
    harness: dict[str, Any]
    wrk: dict[str, Any]
    agreement: Agreement
    threads_per_worker: int | None = None  # a sync stack's threads a worker; else None
    matched: dict[str, Any] | None = None  # see ``matched``


def find_wrk(path: str | None = None) -> str:
    """The wrk executable (``path``, or ``wrk`` on PATH).

    Raises:
        LoadGeneratorError: it is not there (one line saying how to get it).
    """
    found = shutil.which(path or "wrk")
    if found is None:
        raise LoadGeneratorError(
            f"crosscheck needs wrk and {path or 'wrk'!r} was not found (Debian: "
            "apt-get install wrk; or name it with --wrk PATH)")
    return found


def wrk_command(wrk: str, url: str, connections: int, duration_s: int, threads: int,
                timeout_s: float) -> list[str]:
    """wrk's command line: C connections for whole seconds, latency percentiles, and a
    timeout no shorter than the harness's."""
    return [wrk, f"-t{min(threads, connections)}", f"-c{connections}", f"-d{duration_s}s",
            f"--timeout={max(1, round(timeout_s))}s", "--latency", url]


def run_wrk(command: list[str], log_dir: Path, wait_s: float,
            name: str = "wrk") -> dict[str, Any]:
    """Run wrk to its end as a managed child; its figures (``calibrate.parse_wrk``), read
    from its own log ``NAME.log`` in ``log_dir``: a log is appended to, so every run of
    one crosscheck needs its own name, or the first run's figures would be read again.

    Raises:
        LoadGeneratorError: it failed, printed no figures or took longer than ``wait_s``.
    """
    def started(child: object, deadline_s: float) -> None:
        """wrk has nothing to wait for: it measures from its start."""

    with managed_process(name, command, child_environment(), "127.0.0.1", log_dir=log_dir,
                         ready=started) as child:
        try:
            code = child.popen.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            raise LoadGeneratorError(f"wrk did not finish within {wait_s:g} s (log: "
                                     f"{child.log_path})") from None
        text = child.log_path.read_text(encoding="utf-8", errors="replace")
    if code != 0:
        last = next((line for line in reversed(text.splitlines()) if line.strip()), "")
        raise LoadGeneratorError(f"wrk exited with {code}: {last[:200]}")
    try:
        return parse_wrk(text)
    except ValueError as exc:
        raise LoadGeneratorError(f"wrk printed no figures ({exc})") from None


async def harness_rate(url: str, clients: int, duration_s: float, warmup_s: float,
                       timeout_s: float, calls_field: str | None) -> dict[str, Any]:
    """The harness's sustained closed loop on ``url``: throughput over its steady window,
    the window's requests, latency percentiles and the failures among all requests."""
    result = await run_sustained(url, clients, timeout_s, duration_s, warmup_s,
                                 calls_field=calls_field)
    latencies = result.ok_latencies_s()
    _, hist = encode_latencies(latencies)
    latency = latency_summary(hist, sum(latencies), max(latencies, default=0.0))
    return {"rps": result.metrics["throughput_rps"],
            "requests": len(result.steady or []),
            "latency_ms": {k: latency[k] for k in ("p50", "p90", "p99")},
            "errors": result.first_error()}


@contextlib.contextmanager
def watching(handle: StackHandle) -> Iterator[Callable[[], list[int] | None]]:
    """Watch which worker holds which connection while the block measures; yields a
    function giving each worker's connections at the peak (most first; None where the
    stack's processes cannot be seen). On a gthread stack each instrument gets its own
    spread: a worker holding fewer connections than it has threads leaves some idle."""
    start = time.perf_counter()
    with SpreadSampler(handle.server.tree) as sampler:
        yield lambda: (None if (peak := sampler.peak(start, time.perf_counter(), since=start))
                       is None else sorted((n for _, n in peak.held), reverse=True))


def crosscheck(config: Config, spec: StackSpec, clients: int, duration_s: int,
               warmup_s: float, tolerance_pct: float, wrk: str, threads: int = 1,
               note: Callable[[str], None] = lambda _: None, repeat: int = 1) -> Crosscheck:
    """Measure ``spec`` at ``clients`` connections with the harness and with wrk, ``repeat``
    pairs in alternating order on the same server (see the module).

    Raises:
        StackError: the stack did not start (its log is kept and named).
        LoadGeneratorError: wrk failed.
        MachineBusyError: other processes kept the CPUs busy past the quiet wait.
    """
    params = {"delay_ms": config.delay_ms, "cpu_ms": config.cpu_ms}
    cpu_work = measure_cpu_work()["iterations_per_ms"] if config.cpu_ms else None
    stack_cpus, harness_cpus = config.placement.resolve(os.sched_getaffinity(0))
    logs = Path(tempfile.mkdtemp(prefix="asyncbench-crosscheck-"))
    pinned = pin_this_process(harness_cpus) if harness_cpus is not None else {}
    keep_logs = False
    try:
        wait_for_quiet(config.limits.foreign_cpu_max, config.quiet_wait_s, note)
        with open_stack(config, spec, logs, stack_cpus, cpu_work) as handle:
            url = spec.url(handle.base_url, "clients", params)
            if config.warmup_requests:
                asyncio.run(warm(handle, config))
            runs: dict[str, list[dict[str, Any]]] = {"harness": [], "wrk": []}

            def measure_harness() -> dict[str, Any]:
                with watching(handle) as seen:
                    mine = asyncio.run(harness_rate(url, clients, duration_s, warmup_s,
                                                    config.request_timeout_s, spec.calls_field))
                return {**mine, "workers": seen()}

            def measure_wrk() -> dict[str, Any]:
                with watching(handle) as seen:
                    theirs = run_wrk(wrk_command(wrk, url, clients, duration_s, threads,
                                                 config.request_timeout_s),
                                     logs, duration_s + config.request_timeout_s + WRK_GRACE_S,
                                     name=f"wrk-{len(runs['wrk']) + 1}")
                return {**theirs, "threads": min(threads, clients), "workers": seen()}

            for pair in range(repeat):
                for name in order(pair):
                    note(f"{name}{'' if repeat == 1 else f' ({pair + 1} of {repeat})'}: "
                         f"{clients} connections for {duration_s} s")
                    measured = measure_harness() if name == "harness" else measure_wrk()
                    runs[name].append({**measured, "pair": pair + 1,
                                       "first": name == order(pair)[0]})
                    handle.ensure_alive()
    except StackError:  # its message names the log: keep it
        keep_logs = True
        raise
    finally:
        unpin(pinned)
        if not keep_logs:
            shutil.rmtree(logs, ignore_errors=True)
    placement = (config.placement.mode if stack_cpus is None else
                 f"{config.placement.mode}: stack on CPUs {sorted(stack_cpus)}, harness and "
                 f"wrk on CPUs {sorted(harness_cpus or ())}")
    per_worker = threads_per_worker(spec)
    for run in (*runs["harness"], *runs["wrk"]):
        run["busy_threads"] = busy_threads(run["workers"], per_worker)
    mine, theirs = summary(runs["harness"]), summary(runs["wrk"])
    return Crosscheck(spec.name, clients, duration_s, warmup_s, config.delay_ms, placement,
                      mine, theirs, Agreement(mine["rps"], theirs["rps"], tolerance_pct),
                      per_worker, matched(runs["harness"], runs["wrk"], tolerance_pct))


def threads_per_worker(spec: StackSpec) -> int | None:
    """The requests one worker of a sync stack serves at once (gthread: its threads); None
    for an async stack, whose workers are not bounded by threads."""
    return per_worker_slots(spec.describe())


def busy_threads(held: list[int] | None, threads: int | None) -> int | None:
    """The threads a sync stack keeps busy in a closed loop when its workers hold ``held``
    connections: a worker serves at most ``threads`` at once and at most the connections
    it holds (None when either is unknown)."""
    if held is None or threads is None:
        return None
    return sum(min(n, threads) for n in held)


def matched(harness_runs: list[dict[str, Any]], wrk_runs: list[dict[str, Any]],
            tolerance_pct: float) -> dict[str, Any] | None:
    """The two instruments compared on their runs that kept the same number of threads
    busy (``busy_threads``): on a sync stack each run's throughput follows the spread its
    own connections drew, so runs with the same busy threads compare the instruments under
    the same arrival. The busy count shared by both with the most runs (the higher count
    on a tie); None for an async stack, or when no count is shared."""
    def known(runs: list[dict[str, Any]]) -> set[int]:
        return {r["busy_threads"] for r in runs if r.get("busy_threads") is not None}

    counts = known(harness_runs) & known(wrk_runs)
    if not counts:
        return None

    def runs_at(busy: int) -> tuple[list[float], list[float]]:
        return ([r["rps"] for r in harness_runs if r.get("busy_threads") == busy],
                [r["rps"] for r in wrk_runs if r.get("busy_threads") == busy])

    def runs_then_count(busy: int) -> tuple[int, int]:
        mine, theirs = runs_at(busy)
        return len(mine) + len(theirs), busy

    busy = max(counts, key=runs_then_count)
    mine, theirs = runs_at(busy)
    agreement = Agreement(statistics.median(mine), statistics.median(theirs), tolerance_pct)
    return {"busy_threads": busy, "harness_rps": agreement.harness_rps, "harness_runs": len(mine),
            "wrk_rps": agreement.wrk_rps, "wrk_runs": len(theirs), "ratio": agreement.ratio,
            "within": agreement.within}


def order(pair: int) -> tuple[str, str]:
    """Which instrument measures first in the pair: the harness in even pairs, wrk in odd."""
    return ("harness", "wrk") if pair % 2 == 0 else ("wrk", "harness")


def summary(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """One instrument's runs as one figure: the median throughput (the mean of the middle
    two for an even count), the details (latency, spread) of the run at the lower median,
    the runs' requests and errors added up, and every run kept under ``runs``."""
    if not runs:
        raise ValueError("no runs to summarise")
    middle = next(run for run in runs
                  if run["rps"] == statistics.median_low([r["rps"] for r in runs]))
    errors = [r["errors"] for r in runs if r["errors"]]
    added = (sum(errors) if errors and all(isinstance(e, int) for e in errors)
             else errors[0] if errors else middle["errors"])
    return {**middle, "rps": statistics.median([r["rps"] for r in runs]),
            "requests": sum(r["requests"] for r in runs), "errors": added,
            "runs": [dict(r) for r in runs]}
