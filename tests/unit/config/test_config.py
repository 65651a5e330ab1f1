"""Config: the shipped files load, and every kind of mistake names file, key and value."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.duration import duration_words, parse_duration
from harness.config.load import config_from_dict, config_from_resolved, load_config, with_overrides
from harness.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
MINIMAL = {"run": {"stacks": ["flask-gunicorn", "quart-hypercorn"]},
           "scenarios": {"fanout": {"levels": [1, 5]}}}


@pytest.mark.parametrize("name", sorted(p.name for p in (ROOT / "configs").glob("*.toml")))
def test_shipped_configs_load(name: str) -> None:
    config = load_config(ROOT / "configs" / name)
    assert config.baseline in [s.name for s in config.stacks]
    assert len(config.digest()) == 64


def test_digest_is_stable_and_ignores_source() -> None:
    a = config_from_dict(MINIMAL, source="a.toml")
    b = config_from_dict(MINIMAL, source="b.toml")
    assert a.digest() == b.digest()
    assert with_overrides(a, seed=2).digest() != a.digest()


def test_derived_stack_settings() -> None:
    config = config_from_dict(MINIMAL)
    gthread = config.stack("flask-gunicorn")
    assert (gthread.workers, gthread.threads, gthread.concurrency_slots) == (4, 2, 8)
    assert gthread.fanout_mode == "sequential"
    hyper = config.stack("quart-hypercorn")
    assert hyper.fanout_mode == "concurrent"
    assert hyper.concurrency_slots == 4 * hyper.pool_size  # capped by the client pools only
    resolved = config.resolved()
    assert resolved["stacks"]["flask-gunicorn"]["concurrency_slots"] == 8
    assert resolved["scenarios"] == {"fanout": {"levels": [1, 5], "duration_s": 5.0}}


def test_stack_override_and_new_stack() -> None:
    data = {"run": {"stacks": ["flask-gunicorn", "my-flask"]},
            "scenarios": {"clients": {"levels": [10]}},
            "stacks": {"flask-gunicorn": {"threads": 32},
                       "my-flask": {"app": "flask", "server": "gunicorn", "worker_class": "sync",
                                    "workers": 2}}}
    config = config_from_dict(data)
    assert config.stack("flask-gunicorn").concurrency_slots == 4 * 10  # pool caps 4 x 32
    assert config.stack("my-flask").concurrency_slots == 2


BAD = [
    ({"run": {"roundz": 3}}, "[run] roundz = 3: unknown key"),
    ({"run": {"rounds": "three"}}, "[run] rounds = 'three': expected an integer"),
    ({"run": {"rounds": -1}}, "[run] rounds = -1: must be an integer in 1..10000"),
    ({"run": {"rounds": True}}, "[run] rounds = True: expected an integer"),
    ({"run": {"stacks": []}}, "[run] stacks = []: must name at least one stack"),
    ({"run": {"stacks": ["nope"]}}, "unknown stack 'nope'"),
    ({"run": {"stacks": ["quart-hypercorn"]}}, "[run] baseline = 'flask-gunicorn': must be one of"),
    ({"run": {"delay_ms": 70000}}, "[run] delay_ms = 70000"),
    ({"run": {"equivalence_pct": 0}}, "[run] equivalence_pct = 0: must be a number in (0, 100)"),
    ({"run": {"equivalence_pct": "5"}}, "equivalence_pct"),
    ({"scenarios": {"fanout": {"levels": []}}}, "[scenarios.fanout] levels = []: must not be empty"),
    ({"scenarios": {"fanout": {"levels": [0]}}}, "[scenarios.fanout] levels = [0]"),
    ({"scenarios": {"fanout": {"levels": [1, 1]}}}, "levels must be distinct"),
    ({"scenarios": {"warp": {"levels": [1]}}}, "[scenarios] warp = 'warp': unknown scenario"),
    ({"stacks": {"flask-gunicorn": {"workers": 0}}}, "[stacks.flask-gunicorn] workers = 0"),
    ({"stacks": {"flask-gunicorn": {"worker_class": "uvloop"}}}, "worker_class = 'uvloop'"),
    ({"stacks": {"flask-gunicorn": {"wrokers": 2}}}, "[stacks.flask-gunicorn] wrokers = 2: unknown key"),
    ({"stacks": {"orphan": {"app": "flask"}}}, "[stacks.orphan]: defined but not listed"),
    ({"limits": {"loadgen_cpu_max": -1}}, "[limits] loadgen_cpu_max = -1"),
    ({"extra": {}}, "extra: unknown table"),
    ({"run": {"cpu_ms": -1}}, "[run] cpu_ms = -1: must be an integer in 0..10000"),
    ({"upstream": {"profile": "pareto"}}, "[upstream] profile must be one of fixed, uniform"),
    ({"upstream": {"profile": "lognormal", "median_ms": 80}},
     "[upstream] lognormal needs 0 < median_ms < p99_ms, got median_ms = 80"),
    ({"upstream": {"error_rate": 2}}, "[upstream] error_rate must be a number in 0..1, got 2"),
    ({"upstream": {"quota_rps": 0}}, "[upstream] quota_rps = 0: must be a number in (0"),
    ({"upstream": {"error_rate": 0.1}, "scenarios": {"rate": {"levels": [50]}}},
     "[upstream] error_rate = 0.1: not measured in the rate scenario yet"),
    ({"upstream": {"quota_rps": True}}, "[upstream] quota_rps = True: expected"),
    ({"upstream": {"profle": "fixed"}}, "[upstream] profle = 'fixed': unknown key"),
    ({"stacks": {"flask-gunicorn": {"cpu_offload": True}}},
     "[stacks.flask-gunicorn] cpu_offload = True: only an async app"),
    ({"stacks": {"quart-hypercorn": {"cpu_offload": 1}}},
     "[stacks.quart-hypercorn] cpu_offload = 1: expected true or false"),
    ({"run": {"allocation": "greedy"}}, "[run] allocation = 'greedy': must be one of fixed, "
     "adaptive"),
    ({"run": {"allocation": "adaptive"}}, "[run] allocation = 'adaptive': needs [run] "
     "target_ci > 0"),
    ({"run": {"budget": "10 minutes"}}, "[run] budget = '10 minutes': '10 minutes' is not a "
     "duration (e.g. 90s, 10m, 1h, 1h30m)"),
    ({"run": {"budget": 0.5}}, "[run] budget = 0.5: must be a duration between 1 s and a week"),
    ({"run": {"budget": "8d"}}, "[run] budget = '8d': '8d' is not a duration"),
    ({"run": {"budget": "200h"}}, "[run] budget = '200h': '200h' is not a duration between 1 s "
     "and a week"),
    ({"run": {"budget": True}}, "[run] budget = True: expected a string or an integer"),
    ({"run": {"min_rounds": 4, "rounds": 5}}, "[run] min_rounds = 4: the same setting as "
     "rounds = 5; give one of them"),
]


@pytest.mark.parametrize(("patch", "message"), BAD)
def test_bad_config_names_key_and_value(tmp_path: Path, patch: dict[str, object],
                                        message: str) -> None:
    data: dict[str, dict[str, object]] = {
        "run": dict(MINIMAL["run"]), "scenarios": dict(MINIMAL["scenarios"])}
    for table, values in patch.items():
        assert isinstance(values, dict)
        data.setdefault(table, {}).update(values)
    path = tmp_path / "bad.toml"
    path.write_text(_to_toml(data))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    text = str(info.value)
    assert text.startswith(str(path) + ": ")
    assert message in text
    assert "\n" not in text


def test_unreadable_and_invalid_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config"):
        load_config(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\nrounds = 3\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(bad)


def test_overrides_are_validated() -> None:
    config = config_from_dict(MINIMAL)
    assert with_overrides(config, rounds=5, seed=None).rounds == 5
    with pytest.raises(ConfigError, match=r"command line: .*rounds = 0"):
        with_overrides(config, rounds=0)


def _to_toml(data: dict[str, dict[str, object]]) -> str:
    """A tiny TOML writer for nested tables of scalars and lists (enough for these tests)."""
    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return '"' + v + '"'
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines: list[str] = []

    def table(prefix: str, body: dict[str, object]) -> None:
        scalars = {k: v for k, v in body.items() if not isinstance(v, dict)}
        lines.append(f"[{prefix}]")
        lines.extend(f'"{k}" = {value(v)}' for k, v in scalars.items())
        for k, v in body.items():
            if isinstance(v, dict):
                table(f'{prefix}."{k}"', v)

    for name, body in data.items():
        table(name, body)
    return "\n".join(lines) + "\n"


def test_sweep_expands_the_stack_into_variants() -> None:
    data = {"run": {"stacks": ["flask-gunicorn", "quart-hypercorn"], "baseline": "quart-hypercorn"},
            "scenarios": {"clients": {"levels": [10]}},
            "sweep": {"stack": "flask-gunicorn", "param": "threads", "values": [2, 8, 32]}}
    config = config_from_dict(data)
    names = [s.name for s in config.stacks]
    assert names == ["flask-gunicorn[threads=2]", "flask-gunicorn[threads=8]",
                     "flask-gunicorn[threads=32]", "quart-hypercorn"]
    assert [s.threads for s in config.stacks[:3]] == [2, 8, 32]
    assert config.resolved()["sweep"]["variants"]["flask-gunicorn[threads=8]"] == {"threads": 8}
    assert config.baseline_for("flask-gunicorn[threads=8]") == "quart-hypercorn"
    assert config.workload("flask-gunicorn[threads=8]") == {}


def test_a_variant_named_by_its_settings_is_compared_with_the_baselines_twin() -> None:
    """``quart[workers=1]`` against ``flask[workers=1]`` when the run has it: like with like."""
    twin = {"app": "flask", "server": "gunicorn", "worker_class": "gthread", "workers": 1,
            "threads": 2}
    own = {"app": "quart", "server": "hypercorn", "worker_class": "asyncio", "workers": 1}
    data = {"run": {"stacks": ["flask-gunicorn", "flask-gunicorn[workers=1]", "quart-hypercorn",
                               "quart-hypercorn[workers=1]", "fastapi-uvicorn[workers=1]"],
                    "baseline": "flask-gunicorn"},
            "scenarios": {"clients": {"levels": [10]}},
            "stacks": {"flask-gunicorn[workers=1]": twin, "quart-hypercorn[workers=1]": own,
                       "fastapi-uvicorn[workers=1]": {"app": "fastapi", "server": "uvicorn",
                                                      "worker_class": "asyncio", "workers": 1}}}
    config = config_from_dict(data)
    assert config.baseline_for("quart-hypercorn[workers=1]") == "flask-gunicorn[workers=1]"
    assert config.baseline_for("fastapi-uvicorn[workers=1]") == "flask-gunicorn[workers=1]"
    assert config.baseline_for("flask-gunicorn[workers=1]") == "flask-gunicorn"
    assert config.baseline_for("quart-hypercorn") == "flask-gunicorn"
    assert config.resolved()["baselines"] == {
        "quart-hypercorn[workers=1]": "flask-gunicorn[workers=1]",
        "fastapi-uvicorn[workers=1]": "flask-gunicorn[workers=1]"}
    # Without the twin, every stack is compared with the baseline, and nothing is recorded.
    data["run"]["stacks"].remove("flask-gunicorn[workers=1]")
    del data["stacks"]["flask-gunicorn[workers=1]"]
    config = config_from_dict(data)
    assert config.baseline_for("quart-hypercorn[workers=1]") == "flask-gunicorn"
    assert "baselines" not in config.resolved()


@pytest.mark.parametrize(("sweep", "message"), [
    ({"stack": "flask-gunicorn", "param": "colour", "values": [1, 2]}, "[sweep] param = 'colour'"),
    ({"stack": "flask-gunicorn", "param": "threads", "values": [2]}, "at least two values"),
    ({"stack": "nope", "param": "threads", "values": [2, 4]}, "[sweep] stack = 'nope'"),
    ({"stack": "flask-gunicorn", "param": "threads"}, "[sweep] values: missing"),
    ({"stack": "quart-hypercorn", "param": "threads", "values": [1, 2]},
     "[run] baseline = 'flask-gunicorn': this stack is swept"),
])
def test_bad_sweeps(sweep: dict[str, object], message: str) -> None:
    data = {"run": {"stacks": ["flask-gunicorn", "quart-hypercorn"]},
            "scenarios": {"clients": {"levels": [10]}}, "sweep": sweep}
    if sweep.get("stack") == "flask-gunicorn":
        data["run"]["baseline"] = "quart-hypercorn"  # type: ignore[index]
    else:
        data["run"]["baseline"] = "flask-gunicorn"  # type: ignore[index]
        data["sweep"] = dict(sweep, stack="flask-gunicorn") if sweep["stack"] == "quart-hypercorn" \
            else sweep
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert message in str(info.value)


def test_upstream_table_round_trips_through_the_manifest() -> None:
    data = {**MINIMAL, "run": {**MINIMAL["run"], "cpu_ms": 4},
            "upstream": {"profile": "lognormal", "median_ms": 80, "p99_ms": 400,
                         "error_rate": 0.01, "quota_rps": 50}}
    config = config_from_dict(data)
    assert config.cpu_ms == 4
    assert config.upstream.profile.kind == "lognormal" and config.upstream.quota_rps == 50
    rebuilt = config_from_resolved(config.resolved())
    assert rebuilt == config and rebuilt.digest() == config.digest()
    # A default upstream leaves the resolved config as it was.
    assert "upstream" not in config_from_dict(MINIMAL).resolved()


def test_allocation_budget_and_min_rounds() -> None:
    data = {"run": {**MINIMAL["run"], "allocation": "adaptive", "target_ci": 0.05,
                    "min_rounds": 3, "max_rounds": 12, "budget": "1h30m"},
            "scenarios": MINIMAL["scenarios"]}
    config = config_from_dict(data)
    assert (config.allocation, config.rounds, config.max_rounds) == ("adaptive", 3, 12)
    assert config.budget_s == 5400.0
    assert config_from_dict({**data, "run": {**data["run"], "budget": 90}}).budget_s == 90.0
    resolved = config.resolved()
    assert resolved["allocation"] == "adaptive" and resolved["budget_s"] == 5400.0
    rebuilt = config_from_resolved(resolved)
    assert rebuilt == config and rebuilt.digest() == config.digest()
    # At their defaults they are not part of the resolved config: older digests hold.
    plain = config_from_dict(MINIMAL).resolved()
    assert "allocation" not in plain and "budget_s" not in plain
    assert with_overrides(config, budget_s=60.0, allocation="fixed").budget_s == 60.0
    with pytest.raises(ConfigError, match=r"command line: .*needs \[run\] target_ci > 0"):
        with_overrides(config, target_ci=0.0)


@pytest.mark.parametrize(("text", "seconds"), [
    ("90s", 90.0), ("10m", 600.0), ("1h", 3600.0), ("1h30m", 5400.0), ("2.5m", 150.0),
    (" 45 ", 45.0), ("10", 10.0), ("1s", 1.0), ("168h", 604800.0)])
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "0s", "0.5s", "168h1s", "10x", "1m10", "-5m",
                                  "nan", "inf", "1e9"])
def test_bad_durations(text: str) -> None:
    with pytest.raises(ValueError, match="is not a duration"):
        parse_duration(text)


def test_duration_words() -> None:
    assert [duration_words(s) for s in (0.4, 42, 61, 600, 3600, 3725)] == [
        "0s", "42s", "1m1s", "10m0s", "1h0m", "1h2m5s"]
