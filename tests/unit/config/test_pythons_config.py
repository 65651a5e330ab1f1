"""[run] pythons: labels checked, every stack under every interpreter, named and paired like
with like, and nothing changed for configs without the key."""

from __future__ import annotations

from typing import Any

import pytest

from harness.config.load import config_from_dict, config_from_resolved, with_selection
from harness.config.pythons import split_name, variant_name
from harness.errors import ConfigError

BASE, QUART, FAST = "flask-gunicorn", "quart-hypercorn", "fastapi-uvicorn"


def config(pythons: Any = None, **run: Any) -> Any:
    table: dict[str, Any] = {"stacks": [BASE, QUART, FAST], "baseline": BASE, **run}
    if pythons is not None:
        table["pythons"] = pythons
    return config_from_dict({"run": table, "scenarios": {"clients": {"levels": [10]}}},
                            **({"source": "t.toml"}))


def test_every_stack_runs_under_every_interpreter_the_default_first_and_unnamed() -> None:
    cfg = config(["3.11", "3.12", "3.13t"])
    assert [(s.name, s.python) for s in cfg.stacks] == [
        (BASE, "3.11"), (QUART, "3.11"), (FAST, "3.11"),
        (f"{BASE}@3.12", "3.12"), (f"{QUART}@3.12", "3.12"), (f"{FAST}@3.12", "3.12"),
        (f"{BASE}@3.13t", "3.13t"), (f"{QUART}@3.13t", "3.13t"), (f"{FAST}@3.13t", "3.13t")]
    assert cfg.pythons == ("3.11", "3.12", "3.13t")


def test_variants_are_compared_like_with_like_and_the_baseline_with_the_default() -> None:
    cfg = config(["3.11", "3.13"])
    assert {s.name: cfg.baseline_for(s.name) for s in cfg.stacks} == {
        BASE: BASE, QUART: BASE, FAST: BASE,
        f"{BASE}@3.13": BASE,              # each interpreter against the default
        f"{QUART}@3.13": f"{BASE}@3.13",   # like with like
        f"{FAST}@3.13": f"{BASE}@3.13"}
    assert cfg.resolved()["baselines"] == {f"{QUART}@3.13": f"{BASE}@3.13",
                                           f"{FAST}@3.13": f"{BASE}@3.13"}
    # without the baseline's variant a stack falls back to the baseline
    picked = with_selection(cfg, stacks=[BASE, QUART, f"{QUART}@3.13"])
    assert picked.baseline_for(f"{QUART}@3.13") == BASE


def test_names_and_labels() -> None:
    assert variant_name(BASE, "3.11", "3.11") == BASE
    assert variant_name(BASE, "3.13t", "3.11") == f"{BASE}@3.13t"
    assert split_name(f"{BASE}@3.13t") == (BASE, "3.13t")
    assert split_name(f"{BASE}[pool_size=50]@3.12") == (f"{BASE}[pool_size=50]", "3.12")
    assert split_name(BASE) == (BASE, None)
    assert split_name("x@y") == ("x@y", None)


def test_the_manifest_round_trip_keeps_interpreters_and_the_digest() -> None:
    cfg = config(["3.12", "3.13"])
    again = config_from_resolved(cfg.resolved())
    assert again.pythons == ("3.12", "3.13") and again.stacks == cfg.stacks
    assert again.digest() == cfg.digest()
    assert cfg.resolved()["stacks"][f"{QUART}@3.13"]["python"] == "3.13"


def test_a_config_without_pythons_is_unchanged() -> None:
    resolved = config().resolved()
    assert "pythons" not in resolved
    assert all("python" not in spec for spec in resolved["stacks"].values())
    assert [s.python for s in config().stacks] == ["", "", ""]


def test_a_builtin_stack_picked_on_the_command_line_runs_under_the_default() -> None:
    cfg = config(["3.12", "3.13"], stacks=[BASE, QUART])
    picked = with_selection(cfg, stacks=[BASE, FAST, f"{FAST}@3.13"])
    assert [(s.name, s.python) for s in picked.stacks] == [
        (BASE, "3.12"), (FAST, "3.12"), (f"{FAST}@3.13", "3.13")]
    with pytest.raises(ConfigError, match=r"--stacks 'fastapi-uvicorn@3.14': not a built-in"):
        with_selection(cfg, stacks=[f"{FAST}@3.14"])


@pytest.mark.parametrize(("pythons", "run", "message"), [
    ([], {}, "[run] pythons = []: must name at least one interpreter"),
    (["3.12", "3.12"], {}, "[run] pythons = ['3.12', '3.12']: interpreters must be distinct"),
    (["3.12", "python3.13"], {}, "[run] pythons = 'python3.13': must be a CPython version"),
    (["3.12", "3.13T"], {}, "[run] pythons = '3.13T': must be a CPython version"),
    ([3.12], {}, "[run] pythons = 3.12: must be a CPython version"),
    ("3.12", {}, "[run] pythons = '3.12': expected a list"),
    ([f"3.{i}" for i in range(10, 19)], {}, "[run] pythons = ['3.10', "),
    (["3.12", "3.13"], {"target": "compose", "placement": "none"},
     "[run] pythons = ['3.12', '3.13']: interpreters are chosen for local processes only"),
])
def test_bad_pythons_are_refused_in_one_line(pythons: Any, run: dict[str, Any],
                                             message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config(pythons, **run)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_eight_interpreters_are_accepted_nine_are_not() -> None:
    assert len(config([f"3.{i}" for i in range(10, 18)]).pythons) == 8
    with pytest.raises(ConfigError, match="at most 8 interpreters"):
        config([f"3.{i}" for i in range(10, 19)])


def test_several_interpreters_and_a_sweep_are_refused_one_is_not() -> None:
    sweep = {"stack": QUART, "param": "workers", "values": [1, 2]}
    data: dict[str, Any] = {"run": {"stacks": [BASE, QUART], "pythons": ["3.12", "3.13"]},
                            "scenarios": {"clients": {"levels": [10]}}, "sweep": sweep}
    with pytest.raises(ConfigError, match="several interpreters and a \\[sweep\\]"):
        config_from_dict(data)
    data["run"]["pythons"] = ["3.13"]
    swept = config_from_dict(data)
    assert {s.python for s in swept.stacks} == {"3.13"}


def test_names_with_the_separator_and_commands_without_python_are_refused() -> None:
    with pytest.raises(ConfigError, match="'@' is kept for the interpreters"):
        config_from_dict({"run": {"stacks": ["mine@3.12"]},
                          "scenarios": {"clients": {"levels": [1]}},
                          "stacks": {"mine@3.12": {"command": ["x"], "paradigm": "sync"}}})
    with pytest.raises(ConfigError) as info:
        config_from_dict({"run": {"stacks": ["mine"], "pythons": ["3.12", "3.13"]},
                          "scenarios": {"clients": {"levels": [1]}},
                          "stacks": {"mine": {"command": ["gunicorn", "app:app"],
                                              "paradigm": "sync"}}})
    assert str(info.value).startswith("[stacks.mine] command = ['gunicorn', 'app:app']: does "
                                      "not run {python}")
