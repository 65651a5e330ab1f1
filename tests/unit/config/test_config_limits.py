"""Every numeric range of the config, each end just inside and just outside, through the
path a TOML file takes (``config_from_dict``): outside is a ``ConfigError`` naming the key
and the value, inside builds. ``confidence`` lies in [0.5, 1): 1.0 would ask for an
interval of infinite width, below 0.5 for one narrower than the point's own coin toss."""

from __future__ import annotations

from typing import Any

import pytest

from harness.config.load import config_from_dict
from harness.errors import ConfigError

STACK = "flask-gunicorn"


def build(table: str, key: str, value: Any) -> None:
    data: dict[str, Any] = {"run": {"stacks": [STACK]}, "scenarios": {"fanout": {"levels": [1]}}}
    if table == "run":
        data["run"][key] = value
    elif table == "stack":
        data["stacks"] = {STACK: {key: value}}
    elif table == "limits":
        data["limits"] = {key: value}
    elif table.startswith("scenarios."):
        name = table.split(".", 1)[1]
        data["scenarios"] = {name: {"levels": [1], key: value}}
    config_from_dict(data)


# (table, key, inside values, outside values, the key as the message names it)
RANGES: list[tuple[str, str, list[Any], list[Any], str]] = [
    ("run", "confidence", [0.5, 0.999], [0.4999, 1.0, 0.4, 1.5], "[run] confidence"),
    ("run", "rounds", [1, 10_000], [0, 10_001], "[run] rounds"),
    ("run", "target_ci", [0, 0.999], [-0.001, 1.0], "[run] target_ci"),
    ("run", "warmup_requests", [0, 10_000], [-1, 10_001], "[run] warmup_requests"),
    ("run", "seed", [0, 2**63 - 1], [-1, 2**63], "[run] seed"),
    ("run", "delay_ms", [0, 60_000], [-1, 60_001], "[run] delay_ms"),
    ("run", "cpu_ms", [0, 10_000], [-1, 10_001], "[run] cpu_ms"),
    ("run", "request_timeout_s", [0.001, 120], [0, 120.001], "[run] request_timeout_s"),
    ("run", "model_min_efficiency", [0.001, 1], [0, 1.001], "[run] model_min_efficiency"),
    ("run", "equivalence_pct", [0.001, 99.999], [0, 100], "[run] equivalence_pct"),
    ("run", "upstream_backlog", [1, 65_535], [0, 65_536], "[run] upstream_backlog"),
    ("run", "health_timeout_s", [1, 600], [0.999, 600.001], "[run] health_timeout_s"),
    ("run", "quiet_wait_s", [0, 3600], [-0.001, 3600.001], "[run] quiet_wait_s"),
    ("run", "bursts_per_trial", [1, 100], [0, 101], "[run] bursts_per_trial"),
    ("stack", "upstream_timeout_s", [0.001, 600], [0, 600.001, -1], f"[stacks.{STACK}] upstream_timeout_s"),
    ("stack", "workers", [1, 64], [0, 65], f"[stacks.{STACK}] workers"),
    ("stack", "threads", [1, 1024], [0, 1025], f"[stacks.{STACK}] threads"),
    ("stack", "backlog", [1, 65_535], [0, 65_536], f"[stacks.{STACK}] backlog"),
    ("stack", "keepalive_s", [0, 3600], [-1, 3601], f"[stacks.{STACK}] keepalive_s"),
    ("stack", "pool_size", [1, 100_000], [0, 100_001], f"[stacks.{STACK}] pool_size"),
    ("scenarios.fanout", "duration_s", [0.5, 600], [0.499, 600.001], "[scenarios.fanout] duration_s"),
    ("limits", "foreign_cpu_max", [0.001], [0, -0.1], "[limits] foreign_cpu_max"),
    ("limits", "loadgen_cpu_max", [0.001], [0], "[limits] loadgen_cpu_max"),
    ("limits", "send_lag_p99_max_ms", [0.001], [0], "[limits] send_lag_p99_max_ms"),
]


@pytest.mark.parametrize(("table", "key", "value"),
                         [(t, k, v) for t, k, inside, _, _ in RANGES for v in inside])
def test_a_value_at_either_end_of_its_range_is_accepted(table: str, key: str, value: Any) -> None:
    build(table, key, value)


@pytest.mark.parametrize(("table", "key", "value", "named"),
                         [(t, k, v, n) for t, k, _, outside, n in RANGES for v in outside])
def test_a_value_just_beyond_its_range_is_an_error_naming_the_key(table: str, key: str,
                                                                  value: Any, named: str) -> None:
    with pytest.raises(ConfigError) as info:
        build(table, key, value)
    message = str(info.value)
    assert message.startswith(f"{named} = {value!r}: "), message
    assert "\n" not in message


def test_levels_have_their_scenarios_ranges() -> None:
    for scenario, top in (("fanout", 1000), ("clients", 10_000), ("rate", 100_000)):
        config_from_dict({"run": {"stacks": [STACK]},
                          "scenarios": {scenario: {"levels": [1, top]}}})
        for bad in (0, top + 1):
            with pytest.raises(ConfigError, match=rf"\[scenarios\.{scenario}\] levels = "
                                                  rf"\[{bad}\]: every level must be an "
                                                  rf"integer in 1\.\.{top}"):
                config_from_dict({"run": {"stacks": [STACK]},
                                  "scenarios": {scenario: {"levels": [bad]}}})


def test_max_rounds_may_not_be_below_rounds() -> None:
    config_from_dict({"run": {"stacks": [STACK], "rounds": 3, "max_rounds": 3},
                      "scenarios": {"fanout": {"levels": [1]}}})
    with pytest.raises(ConfigError, match=r"\[run\] max_rounds = 2: must be an integer in 3\.\.10000"):
        config_from_dict({"run": {"stacks": [STACK], "rounds": 3, "max_rounds": 2},
                          "scenarios": {"fanout": {"levels": [1]}}})
