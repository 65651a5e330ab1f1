"""The external target: the [external] table, remote endpoints, and the checks of servers
someone else started (HTTP answers faked; tests/integration starts real ones)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness import targets
from harness.cli.main import main
from harness.config.catalogue import BUILTIN_STACKS
from harness.config.load import config_from_dict, config_from_resolved, load_config, with_overrides
from harness.config.schema import External, StackSpec
from harness.errors import ConfigError, StackExitedError, TargetError
from harness.targets import external, probe
from harness.targets.handle import RemoteEndpoint

ROOT = Path(__file__).resolve().parents[3]
UP = "http://10.0.0.5:18000"
FLASK = "http://10.0.0.5:18001"
FASTAPI = "http://bench-host.example:18006"


def external_data(**run: Any) -> dict[str, Any]:
    return {
        "run": {"stacks": ["flask-gunicorn", "fastapi-uvicorn"], "target": "external", **run},
        "scenarios": {"fanout": {"levels": [1, 3]}},
        "external": {"upstream_url": UP + "/",
                     "stacks": {"flask-gunicorn": FLASK, "fastapi-uvicorn": FASTAPI,
                                "quart-hypercorn": "http://10.0.0.6:18003"}},
    }


def spec(name: str) -> StackSpec:
    return StackSpec(name=name, **BUILTIN_STACKS[name])


# --- the [external] table ----------------------------------------------------------------

def test_external_table_is_read_normalised_and_rebuilt_exactly() -> None:
    config = config_from_dict(external_data(), source="ext.toml")
    assert config.target == "external"
    assert config.external.upstream_url == UP  # the trailing slash is dropped
    assert config.external.url("fastapi-uvicorn") == FASTAPI
    assert config.external.url("quart-dev") is None
    resolved = config.resolved()
    assert resolved["external"] == {"upstream_url": UP, "stacks": {
        "flask-gunicorn": FLASK, "fastapi-uvicorn": FASTAPI,
        "quart-hypercorn": "http://10.0.0.6:18003"}}
    rebuilt = config_from_resolved(resolved)
    assert rebuilt == config
    assert rebuilt.resolved() == resolved and rebuilt.digest() == config.digest()
    # As a manifest stores it: JSON with sorted keys.
    stored = json.loads(json.dumps(resolved, sort_keys=True))
    assert config_from_resolved(stored) == config


def test_configs_without_the_table_keep_their_resolved_form() -> None:
    config = load_config(ROOT / "configs/quick.toml")
    assert config.external == External() and config.external.empty
    assert "external" not in config.resolved()
    assert config_from_resolved(config.resolved()) == config
    # The table may sit in a local config: --target external then finds it.
    data = external_data()
    data["run"]["target"] = "local"
    local = config_from_dict(data)
    assert config_from_resolved(local.resolved()) == local
    assert with_overrides(local, target="external").target == "external"


@pytest.mark.parametrize(("patch", "message"), [
    ({"upstream_url": "ftp://10.0.0.5:1"}, "[external] upstream_url = 'ftp://10.0.0.5:1': must "
     "look like http://HOST:PORT"),
    ({"upstream_url": "http://10.0.0.5:1/api"}, "[external] upstream_url = "
     "'http://10.0.0.5:1/api': must look like http://HOST:PORT, with no path"),
    ({"upstream_url": "http://h:99999"}, "[external] upstream_url = 'http://h:99999': must look "
     "like http://HOST:PORT (the port is not a number"),
    ({"upstream_url": 5}, "[external] upstream_url = 5: expected a string"),
    ({"stacks": {"flask-gunicorn": 1}}, "[external.stacks] flask-gunicorn = 1: expected a string"),
    ({"stacks": {"flask-gunicorn": "localhost:80"}}, "[external.stacks] flask-gunicorn = "
     "'localhost:80': must look like http://HOST:PORT"),
    ({"hosts": []}, "[external] hosts = []: unknown key; known keys: stacks, upstream_url"),
    ({"stacks": "x"}, "[external] stacks = 'x': expected a table"),
])
def test_bad_external_values_name_key_and_value(patch: dict[str, Any], message: str) -> None:
    data = external_data()
    data["external"].update(patch)
    with pytest.raises(ConfigError) as info:
        config_from_dict(data)
    assert str(info.value).startswith(message), str(info.value)
    assert "\n" not in str(info.value)


def test_the_external_target_needs_every_url() -> None:
    data = external_data()
    del data["external"]["stacks"]["fastapi-uvicorn"]
    with pytest.raises(ConfigError, match=r"^\[external.stacks\] fastapi-uvicorn = None: "
                                          "required with target"):
        config_from_dict(data)
    data = external_data()
    del data["external"]["upstream_url"]
    with pytest.raises(ConfigError, match=r"^\[external\] upstream_url = None: required"):
        config_from_dict(data)
    quick = load_config(ROOT / "configs/quick.toml")
    with pytest.raises(ConfigError, match=r"^command line: \[external\] upstream_url"):
        with_overrides(quick, target="external")


def test_cli_target_option_overrides_the_config(tmp_path: Path,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["run", "--config", str(ROOT / "configs/quick.toml"), "--target", "external",
                 "--out", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err[-1].startswith("asyncbench: config error: command line: [external] upstream_url")
    code = main(["run", "--config", str(ROOT / "configs/quick.toml"), "--target", "cloud"])
    assert code == 2
    assert "invalid choice: 'cloud'" in capsys.readouterr().err


# --- endpoints ------------------------------------------------------------------------------

def test_remote_endpoint_is_an_endpoint_without_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    endpoint = RemoteEndpoint("flask-gunicorn", FLASK, ["external", "flask-gunicorn", FLASK])
    assert endpoint.tree() == [] and endpoint.known_pids == set()
    assert endpoint.tail() == ""
    monkeypatch.setattr(probe, "fetch", lambda url, timeout=3.0: (200, b"{}", ""))
    endpoint.ensure_alive()
    assert endpoint.alive()
    monkeypatch.setattr(probe, "fetch", lambda url, timeout=3.0: (None, b"", "no answer (refused)"))
    with pytest.raises(StackExitedError) as info:
        endpoint.ensure_alive()
    assert str(info.value) == f"flask-gunicorn at {FLASK} is no longer healthy (no answer (refused))"
    assert info.value.command == ["external", "flask-gunicorn", FLASK]


def test_a_stack_must_pass_the_contract_and_call_the_upstream(
        monkeypatch: pytest.MonkeyPatch) -> None:
    served = {"requests": 0}

    def fetch(url: str, timeout: float = 3.0) -> tuple[int | None, Any, str]:
        if url.endswith("/stats?reset=1"):
            return 200, {"requests": 0}, ""
        if url.endswith("/stats"):
            return 200, dict(served), ""
        return 200, {"status": "ok", "stack": "flask-gunicorn"}, ""

    monkeypatch.setattr(external, "fetch_json", fetch)
    monkeypatch.setattr(external, "check_contract", lambda url, name: [])
    problem, health = external.stack_problem("flask-gunicorn", FLASK, UP)
    assert problem == (f"external stack flask-gunicorn at {FLASK} does not call the upstream "
                       f"{UP} (it served 0 of the contract's 4 calls)")
    assert health["stack"] == "flask-gunicorn"
    served["requests"] = 4
    assert external.stack_problem("flask-gunicorn", FLASK, UP)[0] is None

    from harness.targets.contract import CheckResult
    monkeypatch.setattr(external, "check_contract", lambda url, name: [
        CheckResult("health", False, "answers as stack None, expected 'flask-gunicorn'"),
        CheckResult("single", True, "ok")])
    problem, _ = external.stack_problem("flask-gunicorn", FLASK, UP)
    assert problem == (f"external stack flask-gunicorn at {FLASK} fails the app contract "
                       "(health: answers as stack None, expected 'flask-gunicorn')")


def test_external_details_describe_every_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(external, "upstream_problem", lambda url: (None, {"service": "upstream"}))
    monkeypatch.setattr(external, "stack_problem",
                        lambda name, url, up, spec: (None, {"stack": name}))
    details = targets.target_details(config_from_dict(external_data()))
    assert details["target"] == "external" and details["controlled"] is False
    assert details["target_endpoints"] == [f"upstream {UP}", f"flask-gunicorn {FLASK}",
                                           f"fastapi-uvicorn {FASTAPI}"]
    assert details["target_details"]["restarts"] is False
    monkeypatch.setattr(external, "upstream_problem", lambda url: (f"external upstream {url}: "
                                                                  "GET /health answered 503", {}))
    with pytest.raises(TargetError, match=r"^external upstream http://10\.0\.0\.5:18000: GET"):
        targets.target_details(config_from_dict(external_data()))


def test_local_details() -> None:
    config = load_config(ROOT / "configs/quick.toml")
    details = targets.target_details(config)
    local = {"where": "local", "address": "127.0.0.1", "namespace": None, "url": None}
    assert details == {"target": "local", "controlled": True,
                       "hosts": {"stack": local, "upstream": local, "load": local,
                                 "network": None}}
