"""Experiment configuration: frozen, typed records read from TOML and validated.

A config file has these kinds of tables::

    [run]                  rounds, seed, delay, baseline, target, the stacks to measure ...
    [scenarios.NAME]       levels of one scenario (fanout, clients, rate), or the capacity
                           sweep's ladder ([scenarios.capacity], ``harness.config.ladder``)
    [limits]               instrument self-check limits; beyond them a trial is invalid
    [stacks.NAME]          overrides of a built-in stack, or a new stack
    [external]             target "external": upstream_url, and [external.stacks] NAME = URL
    [run.arrival]          how the clients scenario's clients arrive (bursts or sustained)
    [hosts]                where the stack, the upstream and the load run: this machine, a
                           network namespace the harness creates, or another host
    [upstream]             what the apps call: the mock (its latency profile, error rate and
                           quota) or PostgreSQL
    [sweep]                one or two axes: a stack parameter or a workload parameter
    [loadgen]              the load engine: builtin, or Locust's master and workers

Every error names the file, the key and the value, on one line. Reading the TOML
(and a manifest's resolved config) is ``harness.config.load``'s job.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from harness.config import pythons
from harness.config.arrival import ARRIVAL_PARAMS, Arrival
from harness.config.catalogue import DB_APPS as DB_APPS
from harness.config.duration import MAX_S as MAX_BUDGET_S
from harness.config.hosts import Hosts, check_hosts
from harness.config.ladder import CAPACITY, DEFAULT_MAX_DURATION_S, Ladder
from harness.config.loadgen import LoadgenSettings
from harness.config.placement import Placement
from harness.config.rules import check as _check
from harness.config.rules import is_int, is_number, url_problem

# The stack record lives in its own module; re-exported here with the rest of the schema.
from harness.config.stack import APPS as APPS
from harness.config.stack import PARADIGMS as PARADIGMS
from harness.config.stack import SERVERS as SERVERS
from harness.config.stack import WORKER_CLASSES as WORKER_CLASSES
from harness.config.stack import StackSpec as StackSpec
from harness.config.sweep import UPSTREAM_PARAMS, Sweep, Value
from harness.config.upstream import Upstream
from harness.errors import ConfigError

SCENARIOS = ("fanout", "clients", "rate", CAPACITY)
OPEN_LOOP = ("rate", CAPACITY)  # scenarios driven by the open-loop generator
ON_FAILURE = ("continue", "stop")
TARGETS = ("local", "compose", "external")
COMPOSE_ENGINES = ("auto", "docker", "podman")  # auto: Docker where it answers, else Podman
ALLOCATIONS = ("fixed", "adaptive")  # every cell each round, or trials where the width is
LOOPBACK = ("127.0.0.1", "localhost", "::1")



@dataclass(frozen=True)
class ScenarioSpec:
    """The levels of one scenario, in the order given (the runner shuffles them).

    ``capacity`` states no levels: its ``ladder`` chooses the rates per stack. An
    open-loop trial (rate, capacity) runs ``duration_s``, or longer, up to
    ``max_duration_s``, when that many seconds hold too few answers for its p99
    (``rundir.format.answers_needed``).
    """

    name: str
    levels: tuple[int, ...]
    duration_s: float = 5.0  # rate and capacity: how long the open-loop schedule runs
    max_duration_s: float | None = None  # rate and capacity: at most this long (None: duration_s)
    ladder: Ladder | None = None  # capacity only

    def __post_init__(self) -> None:
        where = f"[scenarios.{self.name}]"
        _check(self.name in SCENARIOS, f"[scenarios] {self.name}", self.name,
               f"unknown scenario; expected one of {', '.join(SCENARIOS)}")
        if self.name == CAPACITY:
            _check(len(self.levels) == 0, f"{where} levels", list(self.levels),
                   "the capacity sweep chooses its own rates (a ladder per stack): state none")
            if self.ladder is None:
                object.__setattr__(self, "ladder", Ladder())
            if self.max_duration_s is None:
                object.__setattr__(self, "max_duration_s",
                                   max(DEFAULT_MAX_DURATION_S, self.duration_s))
        else:
            _check(self.ladder is None, f"{where} ladder", self.ladder,
                   f"only [scenarios.{CAPACITY}] has a ladder")
            _check(len(self.levels) > 0, f"{where} levels", list(self.levels),
                   "must not be empty")
        limit = {"fanout": 1000, "clients": 10_000, "rate": 100_000, CAPACITY: 0}[self.name]
        for level in self.levels:
            _check(is_int(level) and 1 <= level <= limit, f"{where} levels", list(self.levels),
                   f"every level must be an integer in 1..{limit}")
        _check(len(set(self.levels)) == len(self.levels), f"{where} levels", list(self.levels),
               "levels must be distinct")
        _check(is_number(self.duration_s) and 0.5 <= self.duration_s <= 600,
               f"{where} duration_s", self.duration_s, "must be a number in 0.5..600")
        if self.max_duration_s is not None:
            _check(self.name in OPEN_LOOP, f"{where} max_duration_s", self.max_duration_s,
                   "only an open-loop scenario (rate, capacity) sizes its trials")
            _check(is_number(self.max_duration_s)
                   and self.duration_s <= self.max_duration_s <= 600,
                   f"{where} max_duration_s", self.max_duration_s,
                   f"must be a number in {self.duration_s:g}..600 (at least duration_s)")

    @property
    def longest_s(self) -> float:
        """The longest an open-loop trial of this scenario may run."""
        return self.max_duration_s if self.max_duration_s is not None else self.duration_s

    def resolved(self) -> dict[str, Any]:
        """As written to the manifest; ``max_duration_s`` and ``ladder`` only when present,
        so configs without them keep their digest."""
        data: dict[str, Any] = {"levels": list(self.levels), "duration_s": self.duration_s}
        if self.max_duration_s is not None:
            data["max_duration_s"] = self.max_duration_s
        if self.ladder is not None:
            data["ladder"] = self.ladder.resolved()
        return data


@dataclass(frozen=True)
class Limits:
    """Instrument self-check limits; a trial beyond any of them is recorded ``invalid``."""

    loadgen_cpu_max: float = 0.95          # fraction of one core used by the load generator
    loadgen_wait_max: float = 0.5          # share of the trial it was runnable but had no CPU
    foreign_cpu_max: float = 0.10          # cores used by processes that are not the run's
    send_lag_p99_max_ms: float = 20.0      # rate scenario: lateness of actual sends
    upstream_overshoot_p99_max_ms: float = 50.0
    upstream_loop_lag_max_ms: float = 250.0  # the upstream's event loop stalled or starved
    # Served p99 against the profile's p99, in percent; judged only on trials whose
    # upstream served PROFILE_CHECK_MIN_CALLS calls or more (fewer make a noisy p99).
    upstream_profile_p99_max_pct: float = 25.0
    # Whole-machine CPU includes the run's own load, so by default it judges nothing;
    # foreign_cpu_max is what catches other load. Set it to also cap the total.
    machine_cpu_max: float | None = None   # fraction of all cores

    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if value is None and f.name == "machine_cpu_max":
                continue
            _check(is_number(value) and value > 0, f"[limits] {f.name}", value,
                   "must be a positive number")


@dataclass(frozen=True)
class External:
    """Where the ``external`` target finds servers it did not start: base URLs, any host.

    ``stacks`` pairs stack names with URLs, sorted by name (so that a manifest, whose keys
    are sorted, rebuilds an equal record); it may name more stacks than a run measures.
    """

    upstream_url: str | None = None
    stacks: tuple[tuple[str, str], ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "stacks", tuple(sorted(self.stacks)))
        if self.upstream_url is not None:
            problem = url_problem(self.upstream_url)
            _check(problem is None, "[external] upstream_url", self.upstream_url, problem or "")
        names = [name for name, _ in self.stacks]
        _check(len(set(names)) == len(names), "[external.stacks]", names,
               "stack names must be distinct")
        for name, url in self.stacks:
            problem = url_problem(url)
            _check(problem is None, f"[external.stacks] {name}", url, problem or "")

    @property
    def empty(self) -> bool:
        """True when nothing is set (the table was absent)."""
        return self.upstream_url is None and not self.stacks

    def url(self, stack: str) -> str | None:
        """The base URL of ``stack``, or None when the table does not name it."""
        return dict(self.stacks).get(stack)

    def resolved(self) -> dict[str, Any]:
        """As written to the manifest: ``{"upstream_url": ..., "stacks": {NAME: URL}}``."""
        return {"upstream_url": self.upstream_url, "stacks": dict(self.stacks)}


@dataclass(frozen=True)
class Config:
    """A whole experiment: what to measure, how often, and on which stacks."""

    stacks: tuple[StackSpec, ...]
    scenarios: tuple[ScenarioSpec, ...]
    baseline: str = "flask-gunicorn"
    rounds: int = 3
    max_rounds: int = 3
    target_ci: float = 0.0
    allocation: str = "fixed"
    budget_s: float = 0.0  # wall-clock seconds the run may take; 0: no budget
    warmup_requests: int = 5
    seed: int = 1
    delay_ms: int = 100
    cpu_ms: int = 0
    request_timeout_s: float = 60.0
    confidence: float = 0.95
    model_min_efficiency: float = 0.5
    equivalence_pct: float = 5.0
    host: str = "127.0.0.1"
    upstream_backlog: int = 4096
    on_failure: str = "continue"
    health_timeout_s: float = 30.0
    target: str = "local"
    placement: Placement = field(default_factory=Placement)
    quiet_wait_s: float = 60.0
    bursts_per_trial: int = 1
    arrival: Arrival = field(default_factory=Arrival)
    compose_engine: str = "auto"
    external: External = field(default_factory=External)
    hosts: Hosts = field(default_factory=Hosts)
    upstream: Upstream = field(default_factory=Upstream)
    loadgen: LoadgenSettings = field(default_factory=LoadgenSettings)
    limits: Limits = field(default_factory=Limits)
    sweep: Sweep | None = None
    pythons: tuple[str, ...] = ()  # interpreter labels, the default first; () the running one
    source: str = "<built-in>"

    def __post_init__(self) -> None:
        object.__setattr__(self, "pythons", tuple(self.pythons))  # a manifest holds a list
        names = [s.name for s in self.stacks]
        _check(len(names) > 0, "[run] stacks", names, "must name at least one stack")
        _check(len(set(names)) == len(names), "[run] stacks", names, "stack names must be distinct")
        _check(self.baseline in names, "[run] baseline", self.baseline,
               f"must be one of the measured stacks ({', '.join(names)})")
        _check(len(self.scenarios) > 0, "[scenarios]", [], "at least one scenario is needed")
        _check(is_int(self.rounds) and 1 <= self.rounds <= 10_000, "[run] rounds", self.rounds,
               "must be an integer in 1..10000")
        _check(is_int(self.max_rounds) and self.rounds <= self.max_rounds <= 10_000,
               "[run] max_rounds", self.max_rounds, f"must be an integer in {self.rounds}..10000")
        _check(is_number(self.target_ci) and 0 <= self.target_ci < 1, "[run] target_ci",
               self.target_ci, "must be a number in [0, 1) (0 turns adaptive stopping off)")
        _check(self.allocation in ALLOCATIONS, "[run] allocation", self.allocation,
               f"must be one of {', '.join(ALLOCATIONS)}")
        _check(self.allocation != "adaptive" or self.target_ci > 0, "[run] allocation",
               self.allocation, "needs [run] target_ci > 0: the width each cell's trials stop at")
        _check(is_number(self.budget_s)
               and (self.budget_s == 0 or 1 <= self.budget_s <= MAX_BUDGET_S),
               "[run] budget", self.budget_s,
               "must be a duration between 1 s and a week (e.g. \"10m\"), or absent")
        _check(is_int(self.warmup_requests) and 0 <= self.warmup_requests <= 10_000,
               "[run] warmup_requests", self.warmup_requests, "must be an integer in 0..10000")
        _check(is_int(self.seed) and 0 <= self.seed < 2**63, "[run] seed", self.seed,
               "must be a non-negative integer")
        _check(is_int(self.delay_ms) and 0 <= self.delay_ms <= 60_000, "[run] delay_ms",
               self.delay_ms, "must be an integer in 0..60000")
        _check(is_int(self.cpu_ms) and 0 <= self.cpu_ms <= 10_000, "[run] cpu_ms",
               self.cpu_ms, "must be an integer in 0..10000")
        if self.cpu_ms:  # handler work is asked for in the request: the path must carry it
            for spec in self.stacks:
                for kind, template in spec.paths:
                    _check("{cpu_ms}" in template, f"[stacks.{spec.name}] paths.{kind}",
                           template, f"takes no {{cpu_ms}}, so [run] cpu_ms = {self.cpu_ms} "
                           "would not reach the app")
        # Latency histograms record up to 120 s; a longer timeout could not be recorded.
        _check(is_number(self.request_timeout_s) and 0 < self.request_timeout_s <= 120,
               "[run] request_timeout_s", self.request_timeout_s, "must be a number in (0, 120]")
        _check(is_number(self.confidence) and 0.5 <= self.confidence < 1, "[run] confidence",
               self.confidence, "must be a number in [0.5, 1)")
        _check(is_number(self.model_min_efficiency) and 0 < self.model_min_efficiency <= 1,
               "[run] model_min_efficiency", self.model_min_efficiency, "must be in (0, 1]")
        _check(is_number(self.equivalence_pct) and 0 < self.equivalence_pct < 100,
               "[run] equivalence_pct", self.equivalence_pct,
               "must be a number in (0, 100): the band within which a ratio counts as equal")
        _check(isinstance(self.host, str) and bool(self.host), "[run] host", self.host,
               "must be an address to bind")
        _check(is_int(self.upstream_backlog) and 1 <= self.upstream_backlog <= 65_535,
               "[run] upstream_backlog", self.upstream_backlog, "must be an integer in 1..65535")
        _check(self.on_failure in ON_FAILURE, "[run] on_failure", self.on_failure,
               f"must be one of {', '.join(ON_FAILURE)}")
        _check(is_number(self.health_timeout_s) and 1 <= self.health_timeout_s <= 600,
               "[run] health_timeout_s", self.health_timeout_s, "must be a number in 1..600")
        _check(self.target in TARGETS, "[run] target", self.target,
               f"must be one of {', '.join(TARGETS)}")
        _check(self.placement.mode == "none" or self.target == "local", "[run] placement",
               self.placement.mode, "pins local processes only; use \"none\" with target "
               f"{self.target!r} (the compose file states its cpusets)")
        _check(is_number(self.quiet_wait_s) and 0 <= self.quiet_wait_s <= 3600,
               "[run] quiet_wait_s", self.quiet_wait_s,
               "must be a number of seconds in 0..3600 (0 turns the quiet gate off)")
        _check(is_int(self.bursts_per_trial) and 1 <= self.bursts_per_trial <= 100,
               "[run] bursts_per_trial", self.bursts_per_trial, "must be an integer in 1..100")
        for spec in self.stacks:  # a swept arrival value must still make a valid arrival
            try:
                self.arrival_for(spec.name)
            except ConfigError as exc:
                raise ConfigError(f"[sweep] {spec.name}: {exc}") from None
        _check(self.compose_engine in COMPOSE_ENGINES, "[compose] engine", self.compose_engine,
               f"must be one of {', '.join(COMPOSE_ENGINES)}")
        if self.target == "external":
            _check(self.external.upstream_url is not None, "[external] upstream_url", None,
                   "required with target = \"external\" (the URL of the running mock upstream)")
            for name in names:
                _check(self.external.url(name) is not None, f"[external.stacks] {name}", None,
                       "required with target = \"external\" (the URL of that running stack)")
        _check(not self.loadgen.distributed or self.target != "compose", "[loadgen] engine",
               self.loadgen.engine, "runs with target \"local\" or \"external\" (the compose "
               "target's load generator runs on the host, outside the containers)")
        if self.pythons:
            pythons.check_labels(self.pythons)
            _check(self.target == "local", "[run] pythons", list(self.pythons),
                   f"interpreters are chosen for local processes only (target {self.target!r} "
                   "runs what its servers were started with)")
            _check(self.sweep is None or len(self.pythons) == 1, "[run] pythons",
                   list(self.pythons), "several interpreters and a [sweep] at once are not "
                   "supported: sweep under one interpreter at a time")
        check_hosts(self.hosts, self.target, self.upstream.kind, self.loadgen)
        capacity = self.scenario(CAPACITY)
        if capacity is not None and capacity.ladder is not None:
            _check(capacity.ladder.unloaded(self.delay_ms, self.cpu_ms) > 0,
                   f"[scenarios.{CAPACITY}] unloaded_ms", capacity.ladder.unloaded_ms,
                   "required when [run] delay_ms and cpu_ms are both 0 (the p99 bound is a "
                   "multiple of it)")
        postgres = self.upstream.kind == "postgres"
        _check(not postgres or self.target == "local", "[run] target", self.target,
               'kind = "postgres" upstreams run with target = "local"')
        wanted = (f"one of {', '.join(DB_APPS)}" if postgres
                  else "an app of the mock upstream (not a database app)")
        for spec in self.stacks:
            _check((spec.app in DB_APPS) == postgres, f"[stacks.{spec.name}] app", spec.app,
                   f"must be {wanted} with [upstream] kind = {self.upstream.kind!r}")

    @property
    def loopback_only(self) -> bool:
        """True when every process binds a loopback address."""
        return self.host in LOOPBACK

    def stack(self, name: str) -> StackSpec:
        """The stack called ``name``; ConfigError if it is not measured here."""
        for spec in self.stacks:
            if spec.name == name:
                return spec
        raise ConfigError(f"unknown stack {name!r}; this config measures "
                          f"{', '.join(s.name for s in self.stacks)}")

    def workload(self, stack: str) -> dict[str, Value]:
        """The workload values a sweep gives ``stack`` (empty without a workload sweep)."""
        variant = self.sweep.variants().get(stack) if self.sweep is not None else None
        return dict(variant.workload) if variant is not None else {}

    def upstream_for(self, stack: str) -> Upstream:
        """The upstream ``stack`` is measured against: the ``[upstream]`` table with the
        sweep's profile or quota values for that stack."""
        changes = {k: v for k, v in self.workload(stack).items() if k in UPSTREAM_PARAMS}
        return self.upstream.with_values(changes) if changes else self.upstream

    def arrival_for(self, stack: str) -> Arrival:
        """How ``stack``'s clients arrive: ``[run.arrival]`` with the sweep's arrival values
        for that stack."""
        changes = {k: v for k, v in self.workload(stack).items() if k in ARRIVAL_PARAMS}
        return self.arrival.with_values(changes)

    def baseline_for(self, stack: str) -> str:
        """The stack ``stack`` is compared with: under a sweep, the baseline at the same
        workload; else, for a variant named ``NAME[settings]``, the baseline's variant of
        the same settings when the run measures one (like with like: Quart at pool 50
        against Flask at pool 50); else the baseline. Under another interpreter
        (``NAME@3.13``) the same holds among that interpreter's variants, and the
        baseline's own variant is compared with the baseline's under the default one."""
        base, label = pythons.split_name(stack)
        if label is not None and pythons.SEPARATOR not in self.baseline:
            under_default = self._baseline_for(base)
            twin = f"{under_default}{pythons.SEPARATOR}{label}"
            if twin != stack and any(s.name == twin for s in self.stacks):
                return twin
            return under_default
        return self._baseline_for(stack)

    def _baseline_for(self, stack: str) -> str:
        paired = self.sweep.baseline_of(stack) if self.sweep is not None else None
        if paired:
            return paired
        bracket = stack.find("[")
        if bracket > 0 and stack.endswith("]") and "[" not in self.baseline:
            twin = self.baseline + stack[bracket:]
            if twin != stack and any(s.name == twin for s in self.stacks):
                return twin
        return self.baseline

    def scenario(self, name: str) -> ScenarioSpec | None:
        """The scenario called ``name``, or None when the config does not run it."""
        return next((s for s in self.scenarios if s.name == name), None)

    def resolved(self) -> dict[str, Any]:
        """Every setting, derived ones included, as plain JSON-ready data."""
        data: dict[str, Any] = {
            f.name: getattr(self, f.name)
            for f in dataclasses.fields(self)
            if f.name not in ("stacks", "scenarios", "limits", "sweep", "external", "upstream",
                              "placement", "compose_engine", "loadgen", "arrival",
                              "pythons", "hosts", "allocation", "budget_s")
        }
        if not self.loadgen.is_default:  # absent otherwise, so builtin configs keep their digest
            data["loadgen"] = self.loadgen.resolved()
        data["arrival"] = self.arrival.resolved()
        if self.pythons:  # absent otherwise, so configs without it keep their digest
            data["pythons"] = list(self.pythons)
        # Absent at their defaults, so configs without them keep their digest.
        if self.allocation != "fixed":
            data["allocation"] = self.allocation
        if self.budget_s:
            data["budget_s"] = self.budget_s
        data["placement"] = self.placement.resolved()
        if self.compose_engine != "auto":  # absent otherwise: older digests stay valid
            data["compose"] = {"engine": self.compose_engine}
        if not self.external.empty:  # absent otherwise, so local configs keep their digest
            data["external"] = self.external.resolved()
        if not self.upstream.is_default:
            data["upstream"] = self.upstream.resolved()
        if not self.hosts.is_default:  # absent otherwise, so one-box configs keep their digest
            data["hosts"] = self.hosts.resolved()
        data["sweep"] = None if self.sweep is None else self.sweep.resolved()
        twins = {s.name: self.baseline_for(s.name) for s in self.stacks
                 if self.sweep is None and self.baseline_for(s.name) != self.baseline}
        if twins:  # absent otherwise, so configs without such pairs keep their digest
            data["baselines"] = twins
        data["stacks"] = {s.name: s.describe() for s in self.stacks}
        data["stack_order"] = [s.name for s in self.stacks]
        data["scenarios"] = {s.name: s.resolved() for s in self.scenarios}
        data["scenario_order"] = [s.name for s in self.scenarios]
        data["limits"] = dataclasses.asdict(self.limits)
        return data

    def digest(self) -> str:
        """SHA-256 of the resolved config (without its source path), hex."""
        data = self.resolved()
        data.pop("source", None)
        if self.arrival == Arrival():  # the arrival every earlier run had: digests stay valid
            data.pop("arrival")
        blob = json.dumps(data, sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()
