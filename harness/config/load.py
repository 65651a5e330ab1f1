"""Reading configs: TOML files, plain dicts and a manifest's resolved config.

Unknown keys, wrong types and bad values are refused with one line naming the
file, the key and the value; the records themselves validate in ``harness.config.schema``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from harness.config import pythons
from harness.config.arrival import Arrival
from harness.config.catalogue import BUILTIN_STACKS, DB_BUILTIN_STACKS, DB_STACKS, MOCK_STACKS
from harness.config.duration import parse_duration
from harness.config.hosts import Hosts
from harness.config.ladder import CAPACITY, LADDER_KEYS, Ladder
from harness.config.loadgen import LoadgenSettings
from harness.config.placement import Placement
from harness.config.rules import is_int
from harness.config.schema import OPEN_LOOP, Config, External, Limits, ScenarioSpec, StackSpec
from harness.config.sweep import STACK_PARAMS, Sweep, sweep_from_resolved
from harness.config.upstream import Upstream
from harness.errors import ConfigError
from harness.paths import project_relative

_RUN_KEYS: dict[str, type | tuple[type, ...]] = {
    "stacks": list, "baseline": str, "rounds": int, "max_rounds": int, "target_ci": (int, float),
    "warmup_requests": int, "seed": int, "delay_ms": int, "cpu_ms": int,
    "request_timeout_s": (int, float),
    "confidence": (int, float), "model_min_efficiency": (int, float), "host": str,
    "upstream_backlog": int, "on_failure": str, "health_timeout_s": (int, float),
    "target": str, "placement": (str, dict), "quiet_wait_s": (int, float),
    "bursts_per_trial": int, "equivalence_pct": (int, float), "arrival": dict,
    "pythons": list, "allocation": str, "min_rounds": int, "budget": (str, int, float),
}
_ARRIVAL_KEYS: dict[str, type | tuple[type, ...]] = {
    "mode": str, "gap_ms": int, "connection": str, "ramp_ms": int,
    "duration_s": (int, float), "warmup_s": (int, float)}
_STACK_KEYS: dict[str, type | tuple[type, ...]] = {
    "app": str, "server": str, "worker_class": str, "workers": int, "threads": int,
    "worker_connections": int, "backlog": int, "keepalive_s": int, "pool_size": int,
    "upstream_timeout_s": (int, float), "cpu_offload": bool, "command": list, "cwd": str,
    "env": dict, "paradigm": str, "fanout": str, "ready_path": str, "paths": dict,
    "expect": dict,
}
_EXPECT_KEYS: dict[str, type | tuple[type, ...]] = {"calls_field": str}
# Changing one of these on a built-in stack rebuilds its command template.
_COMMAND_SHAPERS = ("app", "server", "worker_class")
_SCENARIO_KEYS: dict[str, type | tuple[type, ...]] = {"levels": list, "duration_s": (int, float)}
_RATE_KEYS: dict[str, type | tuple[type, ...]] = {**_SCENARIO_KEYS,
                                                  "max_duration_s": (int, float)}
_CAPACITY_KEYS: dict[str, type | tuple[type, ...]] = {
    "duration_s": (int, float), "max_duration_s": (int, float), **LADDER_KEYS}
_LIMIT_KEYS: dict[str, type | tuple[type, ...]] = {
    f.name: (int, float) for f in dataclasses.fields(Limits)
}  # machine_cpu_max may be absent (no cap); a TOML file cannot state "none"
_AXIS_KEYS: dict[str, type | tuple[type, ...]] = {"stack": str, "param": str, "values": list}
_SWEEP_KEYS: dict[str, type | tuple[type, ...]] = {**_AXIS_KEYS, "second": dict}
_EXTERNAL_KEYS: dict[str, type | tuple[type, ...]] = {"upstream_url": str, "stacks": dict}
_UPSTREAM_KEYS: dict[str, type | tuple[type, ...]] = {
    key: (int, float) for key in Upstream().resolved()}
_UPSTREAM_KEYS.update(profile=str, seed=int, kind=str, database_url=str, query=str)
_COMPOSE_KEYS: dict[str, type | tuple[type, ...]] = {"engine": str}
_LOADGEN_KEYS: dict[str, type | tuple[type, ...]] = {
    "engine": str, "workers": (int, str), "expect_workers": int,
    "expect_timeout_s": (int, float), "master_bind": str, "master_port": int,
    "allow_workers": list}
_HOSTS_KEYS: dict[str, type | tuple[type, ...]] = {
    "stack": str, "upstream": str, "load": str, "upstream_url": str, "prefix": str}
_TOP_KEYS = ("run", "scenarios", "limits", "stacks", "sweep", "external", "upstream", "compose",
             "loadgen", "hosts")


def _typename(expected: type | tuple[type, ...]) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    names = {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table",
             bool: "true or false"}
    return " or ".join(names.get(t, t.__name__) for t in types)


def _table(data: dict[str, Any], where: str,
           keys: dict[str, type | tuple[type, ...]]) -> dict[str, Any]:
    """Check a TOML table's keys and value types; return it unchanged."""
    if not isinstance(data, dict):
        raise ConfigError(f"{where} = {data!r}: must be a table")
    for key, value in data.items():
        if key not in keys:
            raise ConfigError(f"{where} {key} = {value!r}: unknown key; known keys: "
                              f"{', '.join(sorted(keys))}")
        expected = keys[key]
        types = expected if isinstance(expected, tuple) else (expected,)
        if (isinstance(value, bool) and bool not in types) or not isinstance(value, types):
            raise ConfigError(f"{where} {key} = {value!r}: expected {_typename(expected)}")
    return data


def _own_fields(name: str, table: dict[str, Any], base_dir: Path | None) -> dict[str, Any]:
    """A ``[stacks.NAME]`` table's fields in StackSpec's form (pairs, tuples, resolved cwd)."""
    where = f"[stacks.{name}]"
    fields = dict(table)
    if "command" in fields:
        if not all(isinstance(arg, str) for arg in fields["command"]):
            raise ConfigError(f"{where} command = {fields['command']!r}: every argument must be "
                              "a string")
        fields["command"] = tuple(fields["command"])
    if "env" in fields:
        env = _table(fields["env"], f"{where} env", dict.fromkeys(fields["env"], str))
        fields["env"] = tuple(env.items())
    if "paths" in fields:
        paths = _table(fields["paths"], f"{where} paths", dict.fromkeys(fields["paths"], str))
        fields["paths"] = tuple(paths.items())
    if "expect" in fields:
        expect = _table(fields.pop("expect"), f"{where} expect", _EXPECT_KEYS)
        fields["calls_field"] = expect.get("calls_field")
    if "cwd" in fields:
        fields["cwd"] = project_relative(fields["cwd"], base_dir)
    return fields


def _stack_from(name: str, overrides: dict[str, Any] | None,
                base_dir: Path | None = None) -> StackSpec:
    base = BUILTIN_STACKS.get(name) or DB_BUILTIN_STACKS.get(name)
    if base is None and overrides is None:
        raise ConfigError(f"[run] stacks: unknown stack {name!r}; built-in stacks are "
                          f"{', '.join([*BUILTIN_STACKS, *DB_BUILTIN_STACKS])}, or define it in a "
                          f"[stacks.{name}] table")
    own = _own_fields(name, overrides or {}, base_dir)
    fields = dict(base or {})
    if base is not None and "command" not in own and any(
            k in own and own[k] != base[k] for k in _COMMAND_SHAPERS):
        fields.pop("command")  # rebuilt from the new server setting
    fields.update(own)
    if base is None and "command" not in fields and not fields.get("app"):
        raise ConfigError(f"[stacks.{name}] command: missing (a new stack needs a command, "
                          "e.g. [\"gunicorn\", \"--bind\", \"{host}:{port}\", \"myapp:app\"], "
                          "and a paradigm)")
    if base is None and "paradigm" not in fields and not fields.get("app"):
        raise ConfigError(f"[stacks.{name}] paradigm: missing (sync or async: how the app "
                          "serves requests)")
    return StackSpec(name=name, **fields)


def _axis_from(data: Any, where: str, keys: dict[str, type | tuple[type, ...]]) -> Sweep:
    table = _table(data, where, keys)
    for key in ("param", "values"):
        if key not in table:
            raise ConfigError(f"{where} {key}: missing (an axis needs param and values, and "
                              f"stack for a stack parameter)")
    second = _axis_from(table["second"], "[sweep.second]", _AXIS_KEYS) \
        if "second" in table else None
    return Sweep(param=table["param"], values=tuple(table["values"]), stack=table.get("stack"),
                 second=second)


def _expand_sweep(stacks: tuple[StackSpec, ...], sweep: Sweep,
                  baseline: str) -> tuple[tuple[StackSpec, ...], Sweep, str]:
    """Replace every swept stack by its variants, in place; return the stacks, the sweep
    (knowing its stacks and baseline) and the baseline variant of the first workload."""
    names = [s.name for s in stacks]
    for axis in sweep.axes:
        if axis.stack is not None and axis.stack not in names:
            raise ConfigError(f"[sweep] stack = {axis.stack!r}: not among [run] stacks "
                              f"({', '.join(names)})")
    swept = [a for a in sweep.axes if a.param in STACK_PARAMS and a.stack == baseline]
    if swept:
        example = sweep.expand([baseline])[0].label
        raise ConfigError(f"[run] baseline = {baseline!r}: this stack is swept; name one of its "
                          f"variants, e.g. {example!r}")
    sweep = dataclasses.replace(sweep, bases=tuple(names), baseline=baseline)
    variants = list(sweep.variants().values())
    labels = list(dict.fromkeys(v.label for v in variants))
    if baseline not in labels:
        raise ConfigError(f"[run] baseline = {baseline!r}: must be one of the measured stacks "
                          f"({', '.join(labels)})")
    by_name = {s.name: s for s in stacks}
    changes: list[dict[str, Any]] = [{"name": v.name, **dict(v.stack_values)} for v in variants]
    expanded = tuple(dataclasses.replace(by_name[v.base], **change)
                     for v, change in zip(variants, changes, strict=True))
    first = next(v.name for v in variants if v.label == baseline)
    return expanded, sweep, first


def _external_from(data: Any) -> External:
    """The ``[external]`` table; URLs lose a trailing slash (``http://h:1/`` is ``http://h:1``)."""
    table = _table(data, "[external]", _EXTERNAL_KEYS)
    stacks = table.get("stacks", {})
    _table(stacks, "[external.stacks]", dict.fromkeys(stacks, str))
    upstream = table.get("upstream_url")
    return External(upstream_url=None if upstream is None else upstream.rstrip("/"),
                    stacks=tuple((name, url.rstrip("/")) for name, url in stacks.items()))


def _scenario_from(name: str, table: Any) -> ScenarioSpec:
    """One ``[scenarios.NAME]`` table: levels (and, for rate, ``max_duration_s``), or the
    capacity sweep's ladder."""
    where = f"[scenarios.{name}]"
    if name == CAPACITY:
        _table(table, where, _CAPACITY_KEYS)
        ladder = Ladder(**{k: v for k, v in table.items() if k in LADDER_KEYS})
        return ScenarioSpec(name=name, levels=(), duration_s=table.get("duration_s", 5.0),
                            max_duration_s=table.get("max_duration_s"), ladder=ladder)
    _table(table, where, _RATE_KEYS if name == "rate" else _SCENARIO_KEYS)
    if "levels" not in table:
        raise ConfigError(f"{where} levels: missing")
    return ScenarioSpec(name=name, levels=tuple(table["levels"]),
                        duration_s=table.get("duration_s", 5.0),
                        max_duration_s=table.get("max_duration_s"))


def _scenario_from_resolved(name: str, data: dict[str, Any]) -> ScenarioSpec:
    ladder = data.get("ladder")
    return ScenarioSpec(name=name, levels=tuple(data["levels"]), duration_s=data["duration_s"],
                        max_duration_s=data.get("max_duration_s"),
                        ladder=None if ladder is None else Ladder(**ladder))


def _run_options(run: dict[str, Any]) -> dict[str, Any]:
    """The ``[run]`` table as Config's fields: ``min_rounds`` is ``rounds`` by its other
    name, ``budget`` a duration (``"10m"``, or seconds) held as ``budget_s``."""
    options = {k: v for k, v in run.items() if k not in ("stacks", "min_rounds", "budget")}
    if "min_rounds" in run:
        if "rounds" in run and run["rounds"] != run["min_rounds"]:
            raise ConfigError(f"[run] min_rounds = {run['min_rounds']!r}: the same setting as "
                              f"rounds = {run['rounds']!r}; give one of them")
        options["rounds"] = run["min_rounds"]
    if "budget" in run:
        budget = run["budget"]
        try:
            options["budget_s"] = (parse_duration(budget) if isinstance(budget, str)
                                   else float(budget))
        except ValueError as exc:
            raise ConfigError(f"[run] budget = {budget!r}: {exc}") from None
    return options


def config_from_dict(data: dict[str, Any], source: str = "<dict>",
                     base_dir: Path | None = None) -> Config:
    """Build a validated Config from parsed TOML data; ``base_dir`` anchors relative
    ``cwd`` paths (the config file's folder)."""
    for key in data:
        if key not in _TOP_KEYS:
            raise ConfigError(f"{key}: unknown table; known tables: {', '.join(_TOP_KEYS)}")
    run = _table(data.get("run", {}), "[run]", _RUN_KEYS)
    stack_tables = data.get("stacks", {})
    if not isinstance(stack_tables, dict):
        raise ConfigError(f"stacks = {stack_tables!r}: must be tables [stacks.NAME]")
    for name, table in stack_tables.items():
        _table(table, f"[stacks.{name}]", _STACK_KEYS)
    upstream = Upstream.from_table(_table(data.get("upstream", {}), "[upstream]",
                                          _UPSTREAM_KEYS))
    postgres = upstream.kind == "postgres"
    names = run.get("stacks", list(DB_STACKS if postgres else MOCK_STACKS))
    for name in names:
        if not isinstance(name, str):
            raise ConfigError(f"[run] stacks = {names!r}: every stack must be a name (a string)")
        if pythons.SEPARATOR in name:
            raise ConfigError(f"[run] stacks = {name!r}: '{pythons.SEPARATOR}' is kept for "
                              "the interpreters of [run] pythons (NAME@3.13)")
    stacks = tuple(_stack_from(name, stack_tables.get(name), base_dir) for name in names)
    unused = sorted(set(stack_tables) - set(names))
    if unused:
        raise ConfigError(f"[stacks.{unused[0]}]: defined but not listed in [run] stacks")
    if "pythons" in run:
        stacks = pythons.expand(stacks, run["pythons"])
    sweep = None
    baseline = run.get("baseline", (DB_STACKS if postgres else MOCK_STACKS)[0])
    if "sweep" in data:
        sweep = _axis_from(data["sweep"], "[sweep]", _SWEEP_KEYS)
        stacks, sweep, baseline = _expand_sweep(stacks, sweep, baseline)

    scen_tables = data.get("scenarios", {})
    if not isinstance(scen_tables, dict):
        raise ConfigError(f"scenarios = {scen_tables!r}: must be tables [scenarios.NAME]")
    scenarios = [_scenario_from(name, table) for name, table in scen_tables.items()]
    limits = Limits(**_table(data.get("limits", {}), "[limits]", _LIMIT_KEYS))
    external = _external_from(data.get("external", {}))
    options = _run_options(run)
    if "pythons" in options:
        options["pythons"] = tuple(options["pythons"])
    if "placement" in options:
        options["placement"] = Placement.from_value(options["placement"])
    if "arrival" in options:
        mode_swept = sweep is not None and any(a.param == "mode" for a in sweep.axes)
        options["arrival"] = Arrival.from_table(_table(options["arrival"], "[run.arrival]",
                                                       _ARRIVAL_KEYS), mode_swept)
    if sweep is not None:
        options["baseline"] = baseline
    engine = _table(data.get("compose", {}), "[compose]", _COMPOSE_KEYS).get("engine")
    if engine is not None:
        options["compose_engine"] = engine
    if "loadgen" in data:
        options["loadgen"] = LoadgenSettings.from_table(
            _table(data["loadgen"], "[loadgen]", _LOADGEN_KEYS))
    if postgres:
        options.setdefault("baseline", DB_STACKS[0])
    if "rounds" in options and "max_rounds" not in options:
        options["max_rounds"] = max(options["rounds"], 1) if is_int(options["rounds"]) else 1
    hosts = _table(data.get("hosts", {}), "[hosts]", _HOSTS_KEYS)
    if "upstream_url" in hosts:
        hosts["upstream_url"] = hosts["upstream_url"].rstrip("/")
    config = Config(stacks=stacks, scenarios=tuple(scenarios), limits=limits, sweep=sweep,
                    external=external, upstream=upstream, hosts=Hosts.from_table(hosts),
                    source=source, **options)
    for spec in config.stacks:  # a swept profile field must still make a valid profile
        rate = config.upstream_for(spec.name).profile.error_rate
        # The open-loop tally counts outcomes, not statuses: it cannot tell the apps'
        # expected 502s from failures, so every such trial would fail.
        if rate > 0 and any(config.scenario(name) is not None for name in OPEN_LOOP):
            raise ConfigError(f"[upstream] error_rate = {rate!r}: not measured in the rate "
                              "scenario yet; run fanout or clients with errors")
    return config


def config_from_resolved(data: dict[str, Any]) -> Config:
    """Rebuild a Config from ``Config.resolved()`` output, e.g. a run's manifest."""
    try:
        stacks = tuple(StackSpec.from_described(data["stacks"][name])
                       for name in data["stack_order"])
        scenarios = tuple(_scenario_from_resolved(name, data["scenarios"][name])
                          for name in data["scenario_order"])
        limits = Limits(**data["limits"])
        sweep_data = data.get("sweep")
        sweep = None if not sweep_data else sweep_from_resolved(sweep_data)
        ext = data.get("external") or {}
        external = External(upstream_url=ext.get("upstream_url"),
                            stacks=tuple((ext.get("stacks") or {}).items()))
        upstream = Upstream.from_table(data.get("upstream") or {})
        skip = {"stacks", "scenarios", "limits", "sweep", "external", "upstream", "placement",
                "compose_engine", "loadgen", "arrival", "hosts"}
        options = {f.name: data[f.name] for f in dataclasses.fields(Config)
                   if f.name not in skip and f.name in data}
        if "placement" in data:
            options["placement"] = Placement.from_value(data["placement"])
        options["compose_engine"] = (data.get("compose") or {}).get("engine", "auto")
        if data.get("loadgen"):
            options["loadgen"] = LoadgenSettings.from_table(data["loadgen"])
        options["arrival"] = Arrival(**(data.get("arrival") or {}))
        options["hosts"] = Hosts.from_table(data.get("hosts") or {})
        return Config(stacks=stacks, scenarios=scenarios, limits=limits, sweep=sweep,
                      external=external, upstream=upstream, **options)
    except (KeyError, TypeError) as exc:
        raise ConfigError(f"resolved config is incomplete or malformed ({exc!r})") from None


def load_config(path: str | Path) -> Config:
    """Read and validate a TOML config; every error message starts with the file's path."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read config ({exc.strerror or exc})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not a UTF-8 text file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML ({exc})") from None
    try:
        return config_from_dict(data, source=str(p), base_dir=p.resolve().parent)
    except ConfigError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    except TypeError as exc:  # a stray keyword reaching a dataclass
        raise ConfigError(f"{p}: {exc}") from None


def with_overrides(config: Config, **changes: Any) -> Config:
    """A copy with CLI overrides applied (``None`` values are ignored), re-validated."""
    changes = {k: v for k, v in changes.items() if v is not None}
    if "rounds" in changes and "max_rounds" not in changes:
        changes["max_rounds"] = max(changes["rounds"], config.max_rounds)
    try:
        return dataclasses.replace(config, **changes)
    except ConfigError as exc:
        raise ConfigError(f"command line: {exc}") from None


def with_query(upstream: Upstream, query: str) -> Upstream:
    """``upstream`` with another database query; ConfigError unless it is PostgreSQL."""
    if upstream.kind != "postgres":
        raise ConfigError(f"command line: --query {query}: the config's upstream is "
                          f"{upstream.kind!r}; a query needs [upstream] kind = \"postgres\"")
    try:
        return dataclasses.replace(upstream, query=query)
    except ConfigError as exc:
        raise ConfigError(f"command line: {exc}") from None


def with_engine(loadgen: LoadgenSettings, engine: str | None,
                workers: int | str | None) -> LoadgenSettings:
    """``loadgen`` with the command line's ``--engine`` and ``--workers``; ``--workers``
    alone implies the locust engine."""
    changes: dict[str, Any] = {}
    if engine is not None:
        changes["engine"] = engine
    if workers is not None:
        changes["workers"] = workers
        changes.setdefault("engine", "locust")
    if changes.get("engine") == "builtin" and "workers" not in changes:
        changes["workers"] = 1
    try:
        return dataclasses.replace(loadgen, **changes)
    except ConfigError as exc:
        raise ConfigError(f"command line: {exc}") from None


def with_selection(config: Config, stacks: list[str] | None = None,
                   levels: dict[str, list[int]] | None = None) -> Config:
    """A copy measuring only ``stacks`` (the config's own or built-in ones, in that order)
    and only the scenarios of ``levels`` at those levels; ``None`` keeps what the config
    says. The baseline stays when it is selected, else the first selected stack is it."""
    changes: dict[str, Any] = {}
    try:
        if stacks is not None:
            picked = []
            for name in stacks:
                base, label = pythons.split_name(name)
                if name in {s.name for s in config.stacks}:
                    picked.append(config.stack(name))
                elif (base in BUILTIN_STACKS or base in DB_BUILTIN_STACKS) and (
                        label is None or label in config.pythons):
                    # under the interpreter its name says, else the run's default one
                    python = label or (config.pythons[0] if config.pythons else "")
                    picked.append(dataclasses.replace(_stack_from(base, None), name=name,
                                                      python=python))
                else:
                    raise ConfigError(
                        f"--stacks {name!r}: not a built-in stack nor one of this config's "
                        f"({', '.join(s.name for s in config.stacks)}); see `asyncbench stacks`")
            changes["stacks"] = tuple(picked)
            if config.baseline not in stacks and stacks:
                changes["baseline"] = stacks[0]
        if levels is not None:
            known = {s.name: s for s in config.scenarios}
            changes["scenarios"] = tuple(
                ScenarioSpec(name=name, levels=tuple(values),
                             duration_s=known[name].duration_s if name in known else 5.0,
                             max_duration_s=known[name].max_duration_s if name in known
                             and name != CAPACITY else None)
                for name, values in levels.items())
        return dataclasses.replace(config, **changes)
    except ConfigError as exc:
        raise ConfigError(f"command line: {exc}") from None
