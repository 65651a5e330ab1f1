"""[run.arrival]: read, validated with the bad key named, recorded, swept, read back from a
trial's params (including records made before arrivals were stated)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.config.arrival import Arrival, TrialArrival
from harness.config.load import config_from_dict, config_from_resolved
from harness.errors import ConfigError
from harness.measure.plan import plan_round, trial_params

STACKS = ["flask-gunicorn", "quart-hypercorn"]


def config(arrival: dict[str, Any] | None = None, **extra: Any) -> Any:
    run: dict[str, Any] = {"stacks": STACKS, "bursts_per_trial": 3}
    if arrival is not None:
        run["arrival"] = arrival
    return config_from_dict({"run": run, "scenarios": {"clients": {"levels": [20]}}, **extra})


def test_the_default_is_back_to_back_bursts_at_once_on_keep_alive() -> None:
    got = config().arrival
    assert got == Arrival()
    assert (got.mode, got.gap_ms, got.connection, got.ramp_ms) == ("bursts", 0, "keep-alive", 0)


def test_a_stated_arrival_reaches_every_clients_trial() -> None:
    cfg = config({"gap_ms": 650, "connection": "close", "ramp_ms": 200})
    assert trial_params(cfg, "clients", 20, "flask-gunicorn")["arrival"] == {
        "mode": "bursts", "bursts": 3, "gap_ms": 650, "connection": "close", "ramp_ms": 200}
    assert "arrival" not in trial_params(cfg, "fanout", 5, "flask-gunicorn")
    sustained = config({"mode": "sustained", "duration_s": 5, "warmup_s": 0.5})
    assert trial_params(sustained, "clients", 20)["arrival"] == {
        "mode": "sustained", "duration_s": 5, "warmup_s": 0.5}


@pytest.mark.parametrize(("arrival", "message"), [
    ({"mode": "burst"}, "[run.arrival] mode = 'burst': must be one of bursts, sustained"),
    ({"gap_ms": -1}, "[run.arrival] gap_ms = -1: must be an integer in 0..600000"),
    ({"gap_ms": 1.5}, "[run.arrival] gap_ms = 1.5: expected an integer"),
    ({"connection": "Close"}, "[run.arrival] connection = 'Close': must be one of keep-alive, close"),
    ({"ramp_ms": 600_001}, "[run.arrival] ramp_ms = 600001: must be an integer in 0..600000"),
    ({"mode": "sustained", "duration_s": 0.5},
     "[run.arrival] duration_s = 0.5: must be a number of seconds in 1..3600"),
    ({"mode": "sustained", "duration_s": 5, "warmup_s": 5},
     "[run.arrival] warmup_s = 5: must be a number of seconds in [0, duration_s)"),
    ({"pause_ms": 5}, "[run.arrival] pause_ms = 5: unknown key; known keys: connection, "
                      "duration_s, gap_ms, mode, ramp_ms, warmup_s"),
    ({"mode": "sustained", "gap_ms": 650},
     "[run.arrival] gap_ms = 650: applies to mode = \"bursts\" only (mode is 'sustained')"),
    ({"duration_s": 5}, "[run.arrival] duration_s = 5: applies to mode = \"sustained\" only "
                        "(mode is 'bursts')"),
])
def test_bad_arrivals_name_the_key_and_value(arrival: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        config(arrival)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_an_arrival_table_must_be_a_table() -> None:
    with pytest.raises(ConfigError, match=r"\[run\] arrival = 'bursts': expected a table"):
        config_from_dict({"run": {"arrival": "bursts"}})


def test_the_arrival_is_recorded_and_read_back_and_the_default_keeps_old_digests() -> None:
    plain, stated = config(), config({"mode": "bursts"})
    assert plain.resolved()["arrival"] == {"mode": "bursts", "gap_ms": 0,
                                           "connection": "keep-alive", "ramp_ms": 0,
                                           "duration_s": 10.0, "warmup_s": 1.0}
    assert plain.digest() == stated.digest()  # the arrival every earlier run had
    other = config({"gap_ms": 650})
    assert other.digest() != plain.digest()
    assert config_from_resolved(other.resolved()).arrival == other.arrival
    old = plain.resolved()
    del old["arrival"]  # a manifest written before arrivals were stated
    assert config_from_resolved(old).arrival == Arrival()
    with pytest.raises(ConfigError, match="resolved config is incomplete or malformed"):
        config_from_resolved({**plain.resolved(), "arrival": {"gap": 1}})


def sweep(param: str, values: list[Any], second: dict[str, Any] | None = None) -> Any:
    table: dict[str, Any] = {"param": param, "values": values}
    if second:
        table["second"] = second
    return config(None, sweep=table)


def test_arrival_keys_are_swept_like_workload_parameters() -> None:
    cfg = sweep("gap_ms", [0, 650], {"param": "connection", "values": ["keep-alive", "close"]})
    names = [s.name for s in cfg.stacks]
    assert "flask-gunicorn[gap_ms=650,connection=close]" in names
    assert len(names) == 8
    variant = "quart-hypercorn[gap_ms=650,connection=close]"
    assert cfg.baseline_for(variant) == "flask-gunicorn[gap_ms=650,connection=close]"
    params = trial_params(cfg, "clients", 20, variant)
    assert params["arrival"]["gap_ms"] == 650 and params["arrival"]["connection"] == "close"
    assert "gap_ms" not in params and "connection" not in params  # only inside arrival
    ids = {t.stack: t.params["arrival"] for t in plan_round(cfg, 1)}
    assert ids["flask-gunicorn[gap_ms=0,connection=keep-alive]"]["gap_ms"] == 0
    modes = sweep("mode", ["bursts", "sustained"])
    assert modes.arrival_for("quart-hypercorn[mode=sustained]").mode == "sustained"


@pytest.mark.parametrize(("param", "values", "message"), [
    ("connection", ["keep-alive", "closed"],
     "[sweep] values = ['keep-alive', 'closed']: [run.arrival] connection = 'closed'"),
    ("connection", ["keep-alive", 1], "every value of connection must be a word"),
    ("mode", ["bursts", "wrk"], "[run.arrival] mode = 'wrk': must be one of bursts, sustained"),
    ("gap_ms", [0, 0.5], "[sweep] values = [0, 0.5]: every value must be an integer"),
    ("gap_ms", [0, -5], "[run.arrival] gap_ms = -5"),
    ("gap_ms", [0, "650"], "every value must be an integer"),
])
def test_bad_arrival_sweeps_name_the_value(param: str, values: list[Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        sweep(param, values)
    assert message in str(caught.value)


def test_a_mode_sweep_lets_the_table_state_both_modes_keys() -> None:
    cfg = config({"gap_ms": 200, "duration_s": 2, "warmup_s": 0.5},
                 sweep={"param": "mode", "values": ["bursts", "sustained"]})
    assert trial_params(cfg, "clients", 20, "flask-gunicorn[mode=bursts]")["arrival"][
        "gap_ms"] == 200
    assert trial_params(cfg, "clients", 20, "flask-gunicorn[mode=sustained]")["arrival"] == {
        "mode": "sustained", "duration_s": 2, "warmup_s": 0.5}


def test_a_swept_value_must_fit_the_rest_of_the_arrival() -> None:
    with pytest.raises(ConfigError, match=r"\[sweep\] flask-gunicorn\[warmup_s=20\]: "
                                          r"\[run.arrival\] warmup_s = 20"):
        config_from_dict({"run": {"stacks": STACKS, "arrival": {"mode": "sustained"}},
                          "scenarios": {"clients": {"levels": [20]}},
                          "sweep": {"param": "warmup_s", "values": [1, 20]}})


def test_a_trial_arrival_is_read_from_params_old_and_new() -> None:
    new = TrialArrival.from_params({"arrival": {"mode": "bursts", "bursts": 4, "gap_ms": 650,
                                                "connection": "close", "ramp_ms": 0}})
    assert new == TrialArrival(Arrival(gap_ms=650, connection="close"), 4)
    # Before arrivals were stated: bursts at once, back to back, keep-alive.
    assert TrialArrival.from_params({"bursts": 3}) == TrialArrival(Arrival(), 3)
    assert TrialArrival.from_params({}) == TrialArrival(Arrival(), 1)
    sustained = TrialArrival.from_params({"arrival": {"mode": "sustained", "duration_s": 3,
                                                      "warmup_s": 1}})
    assert sustained.arrival.duration_s == 3


@pytest.mark.parametrize(("params", "message"), [
    ({"arrival": "bursts"}, "params arrival = 'bursts': must be a table"),
    ({"arrival": {"mode": "bursts", "gap": 1}}, "params arrival gap = 1: unknown key"),
    ({"arrival": {"mode": "bursts", "bursts": 0}},
     "params arrival bursts = 0: must be an integer in 1..100"),
    ({"arrival": {"mode": "bursts", "bursts": True}}, "params arrival bursts = True"),
    ({"bursts": "3"}, "params bursts = '3': must be an integer in 1..100"),
    ({"arrival": {"mode": "sustained", "duration_s": float("nan")}},
     "[run.arrival] duration_s = nan"),
])
def test_a_hostile_trial_arrival_is_one_line(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        TrialArrival.from_params(params)
    assert message in str(caught.value)
