"""The face of the load generator: one interface, two engines, chosen here.

Every engine drives a trial's :class:`~harness.loadgen.scenario.Job` with the scenario's
one implementation and returns what the record is built of (a closed-loop or open-loop
result with exact HDR histograms and self-checks); engines differ only in where the load
runs and how its results travel:

    builtin   one asyncio process (the default; ``builtin``)
    locust    Locust's master and workers, local processes or other hosts (``locust_engine``)

Where the local workers run follows ``[hosts] load`` (``worker_placement``): in the
run's load namespace they dial the master on the bridge's address.

``measure/trial.py`` sees only :class:`Engine` and :class:`Load`::

    with open_engine(config.loadgen, harness_cpus, log_dir) as engine:
        async with engine.prepared(job) as load:   # every share ready, nothing sent
            with monitor:
                result = await load.run()            # released together, merged exactly
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

from harness.config.loadgen import LoadgenSettings
from harness.loadgen.builtin import BuiltinEngine
from harness.loadgen.closed import ClosedResult
from harness.loadgen.locust_engine import WorkerPlacement, locust_engine
from harness.loadgen.scenario import Job
from harness.loadgen.tally import RateResult
from harness.targets.topology import Sites

TrialLoad = ClosedResult | RateResult


class Load(Protocol):
    """One trial's load, prepared: entering readies it, ``run`` releases and measures it."""

    async def __aenter__(self) -> Load: ...
    async def __aexit__(self, *exc: object) -> None: ...
    async def run(self) -> TrialLoad: ...


class Engine(Protocol):
    """What drives the load of every trial of a run."""

    name: str

    def describe(self) -> dict[str, Any]: ...
    def notes(self) -> list[str]: ...
    def prepared(self, job: Job) -> Load: ...
    async def warm(self, job: Job) -> str | None: ...


@contextlib.contextmanager
def open_engine(settings: LoadgenSettings, cpus: frozenset[int] | None = None,
                log_dir: Path | None = None,
                placement: WorkerPlacement | None = None,
                note: Callable[[str], None] = lambda _: None) -> Iterator[Engine]:
    """The engine ``settings`` names, started for the block (its processes reaped after).

    ``cpus`` pins the local workers (the harness's CPUs under ``split`` placement);
    ``placement`` says where local workers run and how they reach the master; ``note``
    hears what is worth a line while it starts (the address remote workers join).
    """
    if not settings.distributed:
        yield BuiltinEngine()
        return
    with locust_engine(settings, cpus, log_dir, placement, note) as engine:
        yield engine


def worker_placement(sites: Sites) -> WorkerPlacement | None:
    """Where local workers run for ``sites``: with the load in a network namespace, in it,
    the master bound to the bridge's address (the harness's end of the network) and
    admitting the namespace's address; otherwise None (the engine's defaults)."""
    if sites.load.where != "netns" or sites.network is None:
        return None
    bridge = sites.network.bridge_address
    return WorkerPlacement(netns=sites.load.netns_path, bind=bridge, dial=bridge,
                           allow=(f"{sites.load.host}/32",))
