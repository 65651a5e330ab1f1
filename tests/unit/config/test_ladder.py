"""``[scenarios.capacity]``: the ladder's keys validated with the bad key in one line, no
levels, a manifest round trip, and ``max_duration_s`` for open-loop scenarios."""

from __future__ import annotations

from typing import Any

import pytest

from harness.config.load import config_from_dict, config_from_resolved, with_selection
from harness.errors import ConfigError


def load(capacity: dict[str, Any], **run: Any) -> Any:
    return config_from_dict({"run": run, "scenarios": {"capacity": capacity}})


def test_defaults_and_a_round_trip_through_the_manifest() -> None:
    config = load({})
    spec = config.scenario("capacity")
    assert spec.levels == () and spec.max_duration_s == 30.0
    ladder = spec.ladder
    assert (ladder.step, ladder.start, ladder.max_steps, ladder.p99_multiple,
            ladder.served_min) == (1.5, 0.5, 8, 2.0, 0.95)
    assert ladder.bound_ms(100, 0) == 200.0 and ladder.bound_ms(100, 8) == 216.0
    assert config_from_resolved(config.resolved()) == config
    stated = load({"unloaded_ms": 150, "step": 2})
    assert stated.scenario("capacity").ladder.bound_ms(100, 0) == 300.0
    assert config_from_resolved(stated.resolved()) == stated


@pytest.mark.parametrize(("table", "words"), [
    ({"levels": [10]}, "[scenarios.capacity] levels = [10]: unknown key"),
    ({"step": 1.0}, "[scenarios.capacity] step = 1.0: must be a number in (1, 10]"),
    ({"step": "1.5"}, "[scenarios.capacity] step = '1.5': expected an integer or a number"),
    ({"start": 0}, "[scenarios.capacity] start = 0: must be a number in (0, 100]"),
    ({"max_steps": 1}, "[scenarios.capacity] max_steps = 1: must be an integer in 2..50"),
    ({"p99_multiple": 1}, "[scenarios.capacity] p99_multiple = 1: must be a number in (1, 1000]"),
    ({"served_min": 1.2}, "[scenarios.capacity] served_min = 1.2: must be a number in (0, 1]"),
    ({"unloaded_ms": 0}, "[scenarios.capacity] unloaded_ms = 0: must be a number"),
    ({"duration_s": 5, "max_duration_s": 4},
     "[scenarios.capacity] max_duration_s = 4: must be a number in 5..600"),
    ({"cpu_ms_per_request": -1}, "[scenarios.capacity] cpu_ms_per_request = -1: must be"),
])
def test_a_bad_key_is_named_with_its_value(table: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load(table)
    assert str(caught.value).startswith(words), str(caught.value)


def test_a_bound_needs_an_unloaded_latency() -> None:
    with pytest.raises(ConfigError, match="unloaded_ms = None: required when"):
        load({}, delay_ms=0)
    assert load({"unloaded_ms": 5}, delay_ms=0).scenario("capacity").ladder.bound_ms(0, 0) == 10


def test_the_capacity_sweep_takes_no_levels_from_the_command_line() -> None:
    with pytest.raises(ConfigError, match=r"command line: .*chooses its own rates"):
        with_selection(load({}), levels={"capacity": [100]})


def test_rate_trials_may_run_longer_for_their_p99() -> None:
    config = config_from_dict({"scenarios": {"rate": {"levels": [40], "duration_s": 4,
                                                      "max_duration_s": 25}}})
    assert config.scenario("rate").longest_s == 25
    assert config_from_resolved(config.resolved()) == config
    # Without it, nothing changes: the resolved config (and its digest) as before.
    plain = config_from_dict({"scenarios": {"rate": {"levels": [40], "duration_s": 4}}})
    assert plain.resolved()["scenarios"]["rate"] == {"levels": [40], "duration_s": 4}
    with pytest.raises(ConfigError, match=r"\[scenarios.clients\] max_duration_s = 9: unknown"):
        config_from_dict({"scenarios": {"clients": {"levels": [1], "max_duration_s": 9}}})
