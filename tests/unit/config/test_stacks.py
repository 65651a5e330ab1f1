"""Stacks in one form: a command template plus how to drive it; built-in and own apps alike."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from harness.config.catalogue import BUILTIN_STACKS
from harness.config.load import config_from_dict, config_from_resolved, load_config
from harness.config.schema import StackSpec
from harness.errors import ConfigError
from harness.measure.plan import plan_round, skipped, trials_per_round
from harness.paths import PROJECT_ROOT
from harness.targets.argv import app_environment, server_command

OWN: dict[str, Any] = {
    "command": ["gunicorn", "--bind", "{host}:{port}", "--workers", "{workers}", "myapp:app"],
    "paradigm": "sync", "workers": 3, "threads": 8, "ready_path": "/healthz",
    "paths": {"single": "/api/item?delay_ms={delay_ms}",
              "aggregate": "/api/report?n={n}&delay_ms={delay_ms}"},
    "expect": {"calls_field": "calls"}, "env": {"DATABASE_URL": "sqlite://"},
}


def config(own: dict[str, Any] | None = None, **run: Any) -> Any:
    return config_from_dict({
        "run": {"stacks": ["mine", "flask-gunicorn"], "baseline": "flask-gunicorn", **run},
        "scenarios": {"fanout": {"levels": [1, 5]}, "clients": {"levels": [2]}},
        "stacks": {"mine": own if own is not None else OWN}})


def test_an_own_stack_renders_its_command_and_environment() -> None:
    spec = config().stack("mine")
    assert spec.own and spec.paradigm == "sync" and spec.fanout_mode == "sequential"
    assert spec.concurrency_slots == 24  # workers x threads, as stated
    assert server_command("py", spec, "127.0.0.1", 8123, "http://u:1") == [
        "gunicorn", "--bind", "127.0.0.1:8123", "--workers", "3", "myapp:app"]
    env = app_environment(spec, "http://u:1", {"PATH": "/bin"})
    assert env["ASYNCBENCH_UPSTREAM_URL"] == "http://u:1" and env["DATABASE_URL"] == "sqlite://"
    assert env["PATH"] == "/bin"
    assert spec.url("http://h:1", "fanout", {"n": 5, "delay_ms": 7}) == (
        "http://h:1/api/report?n=5&delay_ms=7")
    assert spec.url("http://h:1", "rate", {"delay_ms": 7}) == "http://h:1/api/item?delay_ms=7"


def test_an_async_own_stack_has_no_stated_slot_limit_and_calls_at_once() -> None:
    spec = config({**OWN, "paradigm": "async"}).stack("mine")
    assert spec.concurrency_slots is None and spec.fanout_mode == "concurrent"


def test_builtin_stacks_are_entries_of_the_same_form() -> None:
    spec = StackSpec(name="flask-gunicorn", **BUILTIN_STACKS["flask-gunicorn"])
    assert spec.command[0] == "{python}" and "{threads}" in spec.command
    assert spec.paradigm == "sync" and spec.calls_field == "calls"
    assert spec.url("http://h:1", "clients", {"delay_ms": 3, "cpu_ms": 0}) == (
        "http://h:1/single?delay_ms=3&cpu_ms=0")
    # An override of a stated setting reaches the command line through its placeholder.
    wide = config_from_dict({"run": {"stacks": ["flask-gunicorn"]},
                             "scenarios": {"fanout": {"levels": [1]}},
                             "stacks": {"flask-gunicorn": {"threads": 16}}}).stack("flask-gunicorn")
    argv = server_command("py", wide, "127.0.0.1")
    assert argv[argv.index("--threads") + 1] == "16"


def test_changing_a_builtin_stacks_worker_class_rebuilds_its_command() -> None:
    spec = config_from_dict({"run": {"stacks": ["flask-gunicorn"]},
                             "scenarios": {"fanout": {"levels": [1]}},
                             "stacks": {"flask-gunicorn": {"worker_class": "gevent"}}}
                            ).stack("flask-gunicorn")
    argv = server_command("py", spec, "127.0.0.1")
    assert "--threads" not in argv and "--worker-connections" in argv


def test_the_threadpool_control_is_sync_with_concurrent_calls() -> None:
    spec = StackSpec(name="t", **BUILTIN_STACKS["flask-gunicorn-threadpool"])
    assert spec.paradigm == "sync" and spec.fanout_mode == "concurrent"
    assert server_command("py", spec, "127.0.0.1")[-1] == "servers.flask_threadpool_app:app"


def test_a_scenario_without_a_declared_path_is_skipped_with_a_reason() -> None:
    cfg = config({**OWN, "paths": {"single": "/api/item?delay_ms={delay_ms}"}})
    assert skipped(cfg) == [{"stack": "mine", "scenario": "fanout",
                             "reason": "mine declares no 'aggregate' path (paths.aggregate), "
                                       "which fanout requests"}]
    trials = plan_round(cfg, 1)
    assert len(trials) == trials_per_round(cfg) == 1 + 3  # mine: clients only; flask: all
    assert not [t for t in trials if t.stack == "mine" and t.scenario == "fanout"]


def test_an_own_stack_survives_the_manifest_round_trip() -> None:
    cfg = config()
    again = config_from_resolved(cfg.resolved())
    assert again.stack("mine") == cfg.stack("mine")
    assert again.digest() == cfg.digest()


def test_cwd_is_relative_to_the_config_file_and_recorded_relative_to_the_project(
        tmp_path: Path) -> None:
    path = PROJECT_ROOT / "examples" / "falcon" / "asyncbench.toml"
    if path.is_file():
        spec = load_config(path).stacks[0]
        assert spec.cwd == "examples/falcon"
    outside = tmp_path / "asyncbench.toml"
    outside.write_text('[run]\nstacks = ["mine"]\nbaseline = "mine"\n[scenarios.fanout]\n'
                       'levels = [1]\n[stacks.mine]\ncommand = ["x", "{port}"]\n'
                       'paradigm = "async"\ncwd = "app"\n')
    assert load_config(outside).stack("mine").cwd == str(tmp_path / "app")


@pytest.mark.parametrize(("change", "message"), [
    ({"command": None}, "[stacks.mine] command: missing"),
    ({"paradigm": None}, "[stacks.mine] paradigm: missing"),
    ({"paradigm": "threads"}, "[stacks.mine] paradigm = 'threads': must be one of sync, async"),
    ({"command": ["app", "{prot}"]}, "[stacks.mine] command = '{prot}': unknown placeholder "
                                     "{prot}"),
    ({"command": ["app", "{port"]}, "[stacks.mine] command = '{port': has unbalanced braces"),
    ({"command": ["app", 5]}, "[stacks.mine] command = ['app', 5]: every argument must be a "
                              "string"),
    ({"paths": {"single": "/x?n={n}"}}, "[stacks.mine] paths.single = '/x?n={n}': unknown "
                                       "placeholder {n}"),
    ({"paths": {"bulk": "/x"}}, "[stacks.mine] paths = 'bulk': unknown kind of request"),
    ({"paths": {"single": "x"}}, "[stacks.mine] paths.single = 'x': must be a path starting"),
    ({"ready_path": "healthz"}, "[stacks.mine] ready_path = 'healthz': must be a path"),
    ({"expect": {"field": "calls"}}, "[stacks.mine] expect field = 'calls': unknown key"),
    ({"env": {"A": 1}}, "[stacks.mine] env A = 1: expected a string"),
    ({"app": "django"}, "[stacks.mine] app = 'django': must be one of flask, quart, fastapi"),
])
def test_bad_stack_tables_name_the_key_and_value(change: dict[str, Any], message: str) -> None:
    own = {k: v for k, v in {**OWN, **change}.items() if v is not None}
    with pytest.raises(ConfigError) as info:
        config(own)
    assert str(info.value).startswith(message), str(info.value)


def test_stack_records_stay_frozen() -> None:
    spec = config().stack("mine")
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.command = ()  # type: ignore[misc]
