"""How the load scales with workers: the locust engine with 1..N local workers against wrk
with 1..N threads, on the mock upstream's ``/delay?ms=0``, the same total connections.

Each step runs the closed loop at full speed (``loadgen.peak``) through the engine, the
connections dealt among the workers as a trial's clients are; its rate is the successful
answers over the longest worker's time. wrk gets the same connections spread over its
threads. Part of ``calibrate --workers N``; the figures describe this machine (on a
machine with few cores, workers, wrk and the upstream share them).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.config.loadgen import LoadgenSettings
from harness.loadgen.engines import Engine, TrialLoad, open_engine
from harness.loadgen.scenario import Job

PATH = "/delay?ms=0"


async def _drive(engine: Engine, job: Job) -> TrialLoad:
    async with engine.prepared(job) as load:
        return await load.run()


def locust_rate(base_url: str, workers: int, *, concurrency: int, duration_s: float,
                log_dir: Path | None = None,
                cpus: frozenset[int] | None = None) -> dict[str, Any]:
    """The aggregate closed-loop rate of ``workers`` local Locust workers."""
    job = Job("peak", base_url + PATH, {"concurrency": concurrency, "duration_s": duration_s,
                                        "timeout_s": 10.0}, calls_field=None)
    with open_engine(LoadgenSettings(engine="locust", workers=workers), cpus, log_dir) as engine:
        result = asyncio.run(_drive(engine, job))
    counts = result.counts()
    duration = result.metrics.get("duration_s", 0.0)
    return {"workers": workers, "connections": concurrency, "duration_s": round(duration, 3),
            "rps": round(counts["ok"] / duration, 1) if duration > 0 else None,
            "errors": counts["total"] - counts["ok"], "disturbed": result.disturbed,
            "worker_cpu": [w["cpu"] for w in result.workers]}


def scaling(base_url: str, workers: int, *, concurrency: int, duration_s: float,
            wrk: Callable[..., dict[str, Any]] | None, log_dir: Path | None = None,
            note: Callable[[str], None] = lambda _: None) -> dict[str, Any]:
    """Locust with 1..``workers`` workers, and ``wrk(threads=n)`` for n in 1..``workers``
    when given (``calibrate.wrk_rate``)."""
    rows, wrk_rows = [], []
    for n in range(1, workers + 1):
        note(f"locust engine, {n} worker(s)")
        rows.append(locust_rate(base_url, n, concurrency=max(concurrency, n),
                                duration_s=duration_s, log_dir=log_dir))
        if wrk is not None:
            note(f"wrk, {n} thread(s)")
            wrk_rows.append(wrk(base_url, PATH, threads=n, connections=max(concurrency, n),
                                duration_s=duration_s))
    return {"path": PATH, "connections": concurrency, "duration_s": duration_s,
            "locust": rows, "wrk": wrk_rows}


def scaling_lines(data: dict[str, Any]) -> list[str]:
    """The figures as short lines for a terminal: one per worker count, wrk beside."""
    wrk = {w.get("threads"): w for w in data["wrk"] if w.get("available")}
    lines = []
    for row in data["locust"]:
        n = row["workers"]
        beside = (f"; wrk -t{n}: {wrk[n]['rps']:.0f} req/s" if n in wrk else "")
        problem = f" ({row['disturbed']})" if row["disturbed"] else ""
        lines.append(f"locust engine, {n} worker(s): {row['rps']} req/s, {row['errors']} "
                     f"errors, worker CPU {row['worker_cpu']}{problem}{beside}")
    return lines
