"""A manifest's resolved config rebuilds the very config that wrote it (every shipped
config, sweeps and limits included), and the type errors of a TOML value say which type
was expected."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.config.load import config_from_dict, config_from_resolved, load_config
from harness.config.sweep import Sweep
from harness.errors import ConfigError

CONFIGS = sorted((Path(__file__).resolve().parents[3] / "configs").glob("*.toml"))


@pytest.mark.parametrize("path", CONFIGS, ids=[p.stem for p in CONFIGS])
def test_a_resolved_config_rebuilds_the_same_config(path: Path) -> None:
    config = load_config(path)
    rebuilt = config_from_resolved(config.resolved())
    assert rebuilt == config
    assert rebuilt.digest() == config.digest()


def test_a_sweep_limits_and_durations_survive_the_round_trip() -> None:
    config = config_from_dict({
        "run": {"stacks": ["flask-gunicorn", "quart-hypercorn"], "baseline": "quart-hypercorn"},
        "scenarios": {"rate": {"levels": [10], "duration_s": 2.5}},
        "limits": {"foreign_cpu_max": 0.3, "machine_cpu_max": 0.8},
        "sweep": {"stack": "flask-gunicorn", "param": "threads", "values": [2, 8]},
    })
    rebuilt = config_from_resolved(config.resolved())
    assert rebuilt.sweep == config.sweep and rebuilt.sweep is not None
    assert rebuilt.limits.foreign_cpu_max == 0.3 and rebuilt.limits.machine_cpu_max == 0.8
    assert rebuilt.scenarios[0].duration_s == 2.5
    assert rebuilt.baseline == config.baseline
    assert [s.name for s in rebuilt.stacks] == [s.name for s in config.stacks]


def test_an_incomplete_resolved_config_is_one_line() -> None:
    with pytest.raises(ConfigError, match=r"^resolved config is incomplete or malformed \(KeyError\('stacks'\)\)$"):
        config_from_resolved({"stack_order": ["x"]})


@pytest.mark.parametrize(("run", "expected"), [
    ({"rounds": "3"}, "[run] rounds = '3': expected an integer"),
    ({"rounds": True}, "[run] rounds = True: expected an integer"),
    ({"confidence": "high"}, "[run] confidence = 'high': expected an integer or a number"),
    ({"stacks": "flask-gunicorn"}, "[run] stacks = 'flask-gunicorn': expected a list"),
    ({"placement": 3}, "[run] placement = 3: expected a string or a table"),
    ({"baseline": 1}, "[run] baseline = 1: expected a string"),
])
def test_a_value_of_the_wrong_type_names_the_type_expected(run: dict[str, Any],
                                                          expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"run": run, "scenarios": {"fanout": {"levels": [1]}}})
    assert str(info.value) == expected


def test_a_stack_flag_of_the_wrong_type_says_true_or_false() -> None:
    with pytest.raises(ConfigError, match=r"^\[stacks\.quart-hypercorn\] cpu_offload = 1: expected true or false$"):
        config_from_dict({"run": {"stacks": ["quart-hypercorn"]},
                          "stacks": {"quart-hypercorn": {"cpu_offload": 1}},
                          "scenarios": {"fanout": {"levels": [1]}}})


def test_a_two_axis_sweep_survives_the_round_trip() -> None:
    config = config_from_dict({
        "run": {"stacks": ["flask-gunicorn", "quart-hypercorn"],
                "baseline": "quart-hypercorn"},
        "scenarios": {"fanout": {"levels": [1]}},
        "sweep": {"stack": "flask-gunicorn", "param": "threads", "values": [2, 8],
                  "second": {"param": "cpu_ms", "values": [0, 5]}},
    })
    assert config.sweep is not None and config.sweep.second is not None
    rebuilt = config_from_resolved(config.resolved())
    assert rebuilt.sweep == config.sweep
    assert rebuilt.sweep is not None and rebuilt.sweep.second is not None
    assert (rebuilt.sweep.second.param, rebuilt.sweep.second.values,
            rebuilt.sweep.second.stack) == ("cpu_ms", (0, 5), None)
    assert [s.name for s in rebuilt.stacks] == [s.name for s in config.stacks]
    assert [s.name for s in config.stacks] == [
        "flask-gunicorn[threads=2,cpu_ms=0]", "flask-gunicorn[threads=2,cpu_ms=5]",
        "flask-gunicorn[threads=8,cpu_ms=0]", "flask-gunicorn[threads=8,cpu_ms=5]",
        "quart-hypercorn[cpu_ms=0]", "quart-hypercorn[cpu_ms=5]"]
    # Each variant against the baseline at the same workload, before and after.
    assert rebuilt.baseline_for("flask-gunicorn[threads=8,cpu_ms=5]") == "quart-hypercorn[cpu_ms=5]"
    assert rebuilt.baseline_for("flask-gunicorn[threads=2,cpu_ms=0]") == "quart-hypercorn[cpu_ms=0]"
    for spec in config.stacks:
        assert rebuilt.baseline_for(spec.name) == config.baseline_for(spec.name)


def test_a_sweep_records_each_variants_baseline_and_names_one_axis_variants() -> None:
    config = config_from_dict({
        "run": {"stacks": ["flask-gunicorn", "quart-hypercorn"], "baseline": "quart-hypercorn"},
        "scenarios": {"fanout": {"levels": [1]}},
        "sweep": {"param": "cpu_ms", "values": [0, 5]},
    })
    assert config.sweep is not None
    assert config.sweep.resolved()["baselines"] == {
        "flask-gunicorn[cpu_ms=0]": "quart-hypercorn[cpu_ms=0]",
        "flask-gunicorn[cpu_ms=5]": "quart-hypercorn[cpu_ms=5]",
        "quart-hypercorn[cpu_ms=0]": "quart-hypercorn[cpu_ms=0]",
        "quart-hypercorn[cpu_ms=5]": "quart-hypercorn[cpu_ms=5]"}
    assert config.sweep.baseline_of("nobody") == "quart-hypercorn"  # not a variant: the baseline
    stack_sweep = Sweep("threads", (2, 8), stack="flask-gunicorn")
    assert stack_sweep.variant(4) == "flask-gunicorn[threads=4]"
    assert stack_sweep.baseline_of("flask-gunicorn[threads=2]") is None  # no baseline named yet


def test_a_second_axis_on_a_stack_keeps_its_stack_through_the_round_trip() -> None:
    config = config_from_dict({
        "run": {"stacks": ["flask-gunicorn", "quart-hypercorn"], "baseline": "quart-hypercorn"},
        "scenarios": {"fanout": {"levels": [1]}},
        "sweep": {"param": "cpu_ms", "values": [0, 5],
                  "second": {"stack": "flask-gunicorn", "param": "threads", "values": [2, 8]}},
    })
    assert config.sweep is not None and config.sweep.second is not None
    assert config.sweep.resolved()["second"] == {"stack": "flask-gunicorn", "param": "threads",
                                                 "values": [2, 8]}
    rebuilt = config_from_resolved(config.resolved())
    assert rebuilt.sweep == config.sweep
    assert rebuilt.sweep is not None and rebuilt.sweep.second is not None
    assert rebuilt.sweep.second.stack == "flask-gunicorn"
