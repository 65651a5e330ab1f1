"""Reading configs: TOML files, plain dicts and a manifest's resolved config.

Unknown keys, wrong types and bad values are refused with one line naming the
file, the key and the value; the records themselves validate in ``harness.config.schema``.
"""

from __future__ import annotations

import dataclasses
import tomllib
from pathlib import Path
from typing import Any

from harness.config.catalogue import BUILTIN_STACKS
from harness.config.schema import Config, External, Limits, ScenarioSpec, StackSpec, Sweep
from harness.config.stack import is_int
from harness.errors import ConfigError
from harness.paths import project_relative

_RUN_KEYS: dict[str, type | tuple[type, ...]] = {
    "stacks": list, "baseline": str, "rounds": int, "max_rounds": int, "target_ci": (int, float),
    "warmup_requests": int, "seed": int, "delay_ms": int, "request_timeout_s": (int, float),
    "confidence": (int, float), "model_min_efficiency": (int, float), "host": str,
    "upstream_backlog": int, "on_failure": str, "health_timeout_s": (int, float),
    "target": str,
}
_STACK_KEYS: dict[str, type | tuple[type, ...]] = {
    "app": str, "server": str, "worker_class": str, "workers": int, "threads": int,
    "worker_connections": int, "backlog": int, "keepalive_s": int, "pool_size": int,
    "upstream_timeout_s": (int, float), "command": list, "cwd": str, "env": dict,
    "paradigm": str, "fanout": str, "ready_path": str, "paths": dict, "expect": dict,
}
_EXPECT_KEYS: dict[str, type | tuple[type, ...]] = {"calls_field": str}
# Changing one of these on a built-in stack rebuilds its command template.
_COMMAND_SHAPERS = ("app", "server", "worker_class")
_SCENARIO_KEYS: dict[str, type | tuple[type, ...]] = {"levels": list, "duration_s": (int, float)}
_LIMIT_KEYS: dict[str, type | tuple[type, ...]] = {
    f.name: (int, float) for f in dataclasses.fields(Limits)
}
_SWEEP_KEYS: dict[str, type | tuple[type, ...]] = {"stack": str, "param": str, "values": list}
_EXTERNAL_KEYS: dict[str, type | tuple[type, ...]] = {"upstream_url": str, "stacks": dict}
_TOP_KEYS = ("run", "scenarios", "limits", "stacks", "sweep", "external")


def _typename(expected: type | tuple[type, ...]) -> str:
    types = expected if isinstance(expected, tuple) else (expected,)
    names = {int: "an integer", float: "a number", str: "a string", list: "a list", dict: "a table"}
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
        if isinstance(value, bool) or not isinstance(value, types):
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
    base = BUILTIN_STACKS.get(name)
    if base is None and overrides is None:
        raise ConfigError(f"[run] stacks: unknown stack {name!r}; built-in stacks are "
                          f"{', '.join(BUILTIN_STACKS)}, or define it in a [stacks.{name}] table")
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


def _expand_sweep(stacks: tuple[StackSpec, ...], sweep: Sweep,
                  baseline: str) -> tuple[StackSpec, ...]:
    """Replace the swept stack by one variant per value, in place."""
    names = [s.name for s in stacks]
    if sweep.stack not in names:
        raise ConfigError(f"[sweep] stack = {sweep.stack!r}: not among [run] stacks "
                          f"({', '.join(names)})")
    if baseline == sweep.stack:
        raise ConfigError(f"[run] baseline = {baseline!r}: this stack is swept; name one of its "
                          f"variants, e.g. {sweep.variant(sweep.values[0])!r}")
    expanded: list[StackSpec] = []
    for spec in stacks:
        if spec.name != sweep.stack:
            expanded.append(spec)
            continue
        for value in sweep.values:
            changes: dict[str, Any] = {"name": sweep.variant(value), sweep.param: value}
            expanded.append(dataclasses.replace(spec, **changes))
    return tuple(expanded)


def _external_from(data: Any) -> External:
    """The ``[external]`` table; URLs lose a trailing slash (``http://h:1/`` is ``http://h:1``)."""
    table = _table(data, "[external]", _EXTERNAL_KEYS)
    stacks = table.get("stacks", {})
    _table(stacks, "[external.stacks]", dict.fromkeys(stacks, str))
    upstream = table.get("upstream_url")
    return External(upstream_url=None if upstream is None else upstream.rstrip("/"),
                    stacks=tuple((name, url.rstrip("/")) for name, url in stacks.items()))


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
    names = run.get("stacks", ["flask-gunicorn", "quart-hypercorn", "fastapi-uvicorn"])
    for name in names:
        if not isinstance(name, str):
            raise ConfigError(f"[run] stacks = {names!r}: every stack must be a name (a string)")
    stacks = tuple(_stack_from(name, stack_tables.get(name), base_dir) for name in names)
    unused = sorted(set(stack_tables) - set(names))
    if unused:
        raise ConfigError(f"[stacks.{unused[0]}]: defined but not listed in [run] stacks")
    sweep = None
    if "sweep" in data:
        table = _table(data["sweep"], "[sweep]", _SWEEP_KEYS)
        for key in _SWEEP_KEYS:
            if key not in table:
                raise ConfigError(f"[sweep] {key}: missing (a sweep needs stack, param, values)")
        sweep = Sweep(stack=table["stack"], param=table["param"], values=tuple(table["values"]))
        stacks = _expand_sweep(stacks, sweep, run.get("baseline", "flask-gunicorn"))

    scen_tables = data.get("scenarios", {})
    if not isinstance(scen_tables, dict):
        raise ConfigError(f"scenarios = {scen_tables!r}: must be tables [scenarios.NAME]")
    scenarios = []
    for name, table in scen_tables.items():
        _table(table, f"[scenarios.{name}]", _SCENARIO_KEYS)
        if "levels" not in table:
            raise ConfigError(f"[scenarios.{name}] levels: missing")
        scenarios.append(ScenarioSpec(name=name, levels=tuple(table["levels"]),
                                      duration_s=table.get("duration_s", 5.0)))
    limits = Limits(**_table(data.get("limits", {}), "[limits]", _LIMIT_KEYS))
    external = _external_from(data.get("external", {}))
    options = {k: v for k, v in run.items() if k != "stacks"}
    if "rounds" in options and "max_rounds" not in options:
        options["max_rounds"] = max(options["rounds"], 1) if is_int(options["rounds"]) else 1
    return Config(stacks=stacks, scenarios=tuple(scenarios), limits=limits, sweep=sweep,
                  external=external, source=source, **options)


def config_from_resolved(data: dict[str, Any]) -> Config:
    """Rebuild a Config from ``Config.resolved()`` output, e.g. a run's manifest."""
    try:
        stacks = tuple(StackSpec.from_described(data["stacks"][name])
                       for name in data["stack_order"])
        scenarios = tuple(
            ScenarioSpec(name=name, levels=tuple(data["scenarios"][name]["levels"]),
                         duration_s=data["scenarios"][name]["duration_s"])
            for name in data["scenario_order"])
        limits = Limits(**data["limits"])
        sweep_data = data.get("sweep")
        sweep = None if not sweep_data else Sweep(
            stack=sweep_data["stack"], param=sweep_data["param"],
            values=tuple(sweep_data["values"]))
        ext = data.get("external") or {}
        external = External(upstream_url=ext.get("upstream_url"),
                            stacks=tuple((ext.get("stacks") or {}).items()))
        skip = {"stacks", "scenarios", "limits", "sweep", "external"}
        options = {f.name: data[f.name] for f in dataclasses.fields(Config)
                   if f.name not in skip and f.name in data}
        return Config(stacks=stacks, scenarios=scenarios, limits=limits, sweep=sweep,
                      external=external, **options)
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
                if name in {s.name for s in config.stacks}:
                    picked.append(config.stack(name))
                elif name in BUILTIN_STACKS:
                    picked.append(StackSpec(name=name, **BUILTIN_STACKS[name]))
                else:
                    raise ConfigError(
                        f"--stacks {name!r}: not a built-in stack nor one of this config's "
                        f"({', '.join(s.name for s in config.stacks)}); see `asyncbench stacks`")
            changes["stacks"] = tuple(picked)
            if config.baseline not in stacks and stacks:
                changes["baseline"] = stacks[0]
        if levels is not None:
            durations = {s.name: s.duration_s for s in config.scenarios}
            changes["scenarios"] = tuple(
                ScenarioSpec(name=name, levels=tuple(values),
                             duration_s=durations.get(name, 5.0))
                for name, values in levels.items())
        return dataclasses.replace(config, **changes)
    except ConfigError as exc:
        raise ConfigError(f"command line: {exc}") from None
