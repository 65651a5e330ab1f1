"""The [hosts] table and per-role CPUs: valid tables load, and every mistake names the key
and the value on one line."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.config.load import config_from_dict, config_from_resolved, load_config
from harness.config.placement import Placement
from harness.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
MINIMAL: dict[str, Any] = {"run": {"stacks": ["flask-gunicorn", "quart-hypercorn"]},
                           "scenarios": {"fanout": {"levels": [1, 5]}}}
EXTERNAL = {"upstream_url": "http://10.0.0.5:18000",
            "stacks": {"flask-gunicorn": "http://10.0.0.5:18001",
                       "quart-hypercorn": "http://10.0.0.5:18002"}}


def with_hosts(hosts: dict[str, Any], **run: Any) -> dict[str, Any]:
    return {**MINIMAL, "run": {**MINIMAL["run"], **run}, "hosts": hosts}


def test_absent_table_is_every_role_local_and_keeps_the_digest() -> None:
    plain = config_from_dict(MINIMAL)
    assert (plain.hosts.stack, plain.hosts.upstream, plain.hosts.load) == ("local",) * 3
    assert plain.hosts.namespaced() == ()
    assert "hosts" not in plain.resolved()
    stated = config_from_dict(with_hosts({"stack": "local"}))
    assert stated.digest() == plain.digest()


def test_namespaces_are_recorded_and_rebuilt_from_the_manifest() -> None:
    config = config_from_dict(with_hosts({"stack": "netns", "upstream": "netns",
                                          "prefix": "ab7"}))
    assert config.hosts.namespaced() == ("stack", "upstream")
    assert config.resolved()["hosts"] == {"stack": "netns", "upstream": "netns",
                                          "load": "local", "upstream_url": None, "prefix": "ab7"}
    rebuilt = config_from_resolved(config.resolved())
    assert rebuilt.hosts == config.hosts and rebuilt.digest() == config.digest()
    assert config.digest() != config_from_dict(MINIMAL).digest()


def test_remote_upstream_url_loses_its_trailing_slash() -> None:
    config = config_from_dict(with_hosts({"upstream": "remote",
                                          "upstream_url": "http://10.0.0.5:18000/"}))
    assert config.hosts.upstream_url == "http://10.0.0.5:18000"


@pytest.mark.parametrize("prefix", ["ab", "a123456", "x9"])
def test_prefix_just_inside_its_limits(prefix: str) -> None:
    assert config_from_dict(with_hosts({"stack": "netns", "prefix": prefix})).hosts.prefix == prefix


BAD: list[tuple[dict[str, Any], dict[str, Any], str]] = [
    ({"stack": "container"}, {}, "[hosts] stack = 'container': must be one of local, netns, remote"),
    ({"load": "elsewhere"}, {}, "[hosts] load = 'elsewhere': must be one of"),
    ({"rack": "local"}, {}, "[hosts] rack = 'local': unknown key"),
    ({"stack": 1}, {}, "[hosts] stack = 1: expected a string"),
    ({"prefix": "a"}, {}, "[hosts] prefix = 'a': must be 2 to 7 lowercase letters"),  # 1 char
    ({"prefix": "a1234567"}, {}, "[hosts] prefix = 'a1234567': must be 2 to 7"),  # 8 chars
    ({"prefix": "Ab"}, {}, "[hosts] prefix = 'Ab': must be 2 to 7 lowercase"),
    ({"prefix": "1ab"}, {}, "starting with a letter"),
    ({"prefix": "ab-c"}, {}, "[hosts] prefix = 'ab-c'"),
    ({"upstream": "remote"}, {}, "[hosts] upstream_url = None: required with upstream = \"remote\""),
    ({"upstream": "remote", "upstream_url": "10.0.0.5:18000"}, {},
     "[hosts] upstream_url = '10.0.0.5:18000': must look like http://HOST:PORT"),
    ({"upstream_url": "http://10.0.0.5:18000"}, {},
     "[hosts] upstream_url = 'http://10.0.0.5:18000': only with upstream = \"remote\""),
    ({"stack": "netns", "upstream": "remote", "upstream_url": "http://10.0.0.5:1"}, {},
     "[hosts] stack = 'netns': a stack in a network namespace reaches only this machine's"),
    ({"stack": "remote"}, {}, "[hosts] stack = 'remote': a stack on another host is the "
     "\"external\" target"),
    ({"load": "netns"}, {}, "[hosts] load = 'netns': needs load-generator workers"),
    ({"load": "remote"}, {}, "[hosts] load = 'remote': needs load-generator workers"),
    ({"stack": "netns"}, {"target": "compose"}, "[hosts] stack = 'netns': target \"compose\""),
    ({"upstream": "netns"}, {"target": "compose"}, "[hosts] upstream = 'netns': target"),
]


@pytest.mark.parametrize(("hosts", "run", "message"), BAD)
def test_bad_tables_name_the_key(hosts: dict[str, Any], run: dict[str, Any],
                                 message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(with_hosts(hosts, **run))
    assert message in str(info.value) and "\n" not in str(info.value)


def test_external_target_takes_no_namespace_and_no_second_upstream_url() -> None:
    data = {**with_hosts({"stack": "remote", "upstream": "remote"}, target="external"),
            "external": EXTERNAL}
    assert config_from_dict(data).hosts.stack == "remote"
    data["hosts"] = {"stack": "netns"}
    with pytest.raises(ConfigError, match=r"\[hosts\] stack = 'netns': target \"external\""):
        config_from_dict(data)
    data["hosts"] = {"upstream": "remote", "upstream_url": "http://10.0.0.5:1"}
    with pytest.raises(ConfigError, match=r"\[hosts\] upstream_url = .*\[external\] upstream_url"):
        config_from_dict(data)


def test_postgres_upstream_in_a_namespace_but_not_remote() -> None:
    data: dict[str, Any] = {"run": {"stacks": ["flask-gunicorn-pg"]},
                            "scenarios": {"fanout": {"levels": [1]}},
                            "upstream": {"kind": "postgres"},
                            "hosts": {"stack": "netns", "upstream": "netns"}}
    assert config_from_dict(data).hosts.namespaced() == ("stack", "upstream")
    data["hosts"] = {"upstream": "remote", "upstream_url": "http://10.0.0.5:1"}
    with pytest.raises(ConfigError, match=r"\[upstream\] database_url"):
        config_from_dict(data)


def test_upstream_cpus_in_an_explicit_placement() -> None:
    placement = Placement.from_value({"stack": [1], "harness": [0], "upstream": [2]})
    assert placement.resolve({0, 1, 2}) == (frozenset({1}), frozenset({0}))
    assert placement.resolve_upstream({0, 1, 2}) == frozenset({2})
    assert placement.resolved() == {"mode": "explicit", "stack": [1], "harness": [0],
                                    "upstream": [2]}
    assert Placement.from_value(placement.resolved()) == placement
    shared = Placement.from_value({"stack": [1], "harness": [0], "upstream": [0]})
    assert shared.resolve_upstream({0, 1}) == frozenset({0})
    # Without an upstream list the upstream shares the harness's CPUs, as before.
    plain = Placement.from_value({"stack": [1], "harness": [0]})
    assert plain.resolve_upstream({0, 1}) is None and "upstream" not in plain.resolved()
    assert Placement("split").resolve_upstream({0, 1}) is None


@pytest.mark.parametrize(("value", "message"), [
    ({"stack": [1], "harness": [0], "upstream": [1]}, "stack [1] and upstream [1] share CPUs"),
    ({"stack": [1], "harness": [0], "upstream": ["2"]}, "placement upstream = ['2']"),
    ({"stack": [1], "harness": [0], "upstream": 2}, "must be lists of CPU numbers"),
    ({"stack": [1], "upstream": [2]}, "a table needs the keys stack and harness"),
    ({"stack": [1], "harness": [0], "load": [2]}, "a table needs the keys stack and harness"),
])
def test_bad_upstream_cpus(value: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")):
        Placement.from_value(value)


def test_upstream_cpu_that_is_not_available() -> None:
    placement = Placement.from_value({"stack": [1], "harness": [0], "upstream": [3]})
    with pytest.raises(ConfigError, match=r"CPUs \[3\] are not available"):
        placement.resolve_upstream({0, 1})


def test_the_namespace_twin_differs_only_in_its_hosts() -> None:
    one_box = load_config(ROOT / "configs" / "many-clients.toml").resolved()
    netns = load_config(ROOT / "configs" / "many-clients-netns.toml").resolved()
    assert netns.pop("hosts")["stack"] == "netns" and "hosts" not in one_box
    assert {k: v for k, v in netns.items() if k != "source"} == {
        k: v for k, v in one_box.items() if k != "source"}


def with_load(load: str, loadgen: dict[str, Any], **run: Any) -> dict[str, Any]:
    return {**with_hosts({"stack": "netns", "upstream": "netns", "load": load}, **run),
            "loadgen": loadgen}


def test_the_load_in_a_namespace_is_locust_workers() -> None:
    config = config_from_dict(with_load("netns", {"engine": "locust", "workers": 2}))
    assert config.hosts.namespaced() == ("stack", "upstream", "load")
    assert config_from_dict(with_load("netns", {"engine": "locust", "workers": "auto"}))
    remote = config_from_dict(with_load("remote", {
        "engine": "locust", "workers": 0, "expect_workers": 1, "master_bind": "10.0.0.1",
        "allow_workers": ["10.0.0.0/24"]}))
    assert remote.hosts.load == "remote"
    rebuilt = config_from_resolved(config.resolved())
    assert rebuilt.hosts == config.hosts and rebuilt.loadgen == config.loadgen


REMOTE = {"engine": "locust", "expect_workers": 1, "master_bind": "10.0.0.1",
          "allow_workers": ["10.0.0.0/24"]}


@pytest.mark.parametrize(("load", "loadgen", "run", "message"), [
    ("netns", {}, {}, "[hosts] load = 'netns': needs load-generator workers that run apart"),
    ("netns", {"engine": "locust", "workers": 0, **{k: v for k, v in REMOTE.items()
                                                    if k != "engine"}}, {},
     "[hosts] load = 'netns': runs the local Locust workers in a namespace: set [loadgen] "
     "workers"),
    ("netns", {**REMOTE, "workers": 1}, {},
     "[hosts] load = 'netns': with the workers in a namespace, the master listens on the"),
    ("remote", {"engine": "locust", "workers": 2}, {},
     "[hosts] load = 'remote': is remote workers only: set [loadgen] expect_workers"),
    ("remote", {**REMOTE, "workers": 1}, {},  # one local worker too many: just outside
     "[hosts] load = 'remote': is remote workers only"),
    ("remote", {}, {}, "[hosts] load = 'remote': needs load-generator workers"),
])
def test_bad_load_roles(load: str, loadgen: dict[str, Any], run: dict[str, Any],
                        message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict(with_load(load, loadgen, **run))
    assert message in str(info.value)


def test_load_in_a_namespace_needs_the_local_target() -> None:
    data = {**with_hosts({"load": "netns"}, target="external"), "external": EXTERNAL,
            "loadgen": {"engine": "locust", "workers": 1}}
    with pytest.raises(ConfigError, match=r"\[hosts\] load = 'netns': a namespace reaches only "
                       r"this machine's bridge, not target 'external'"):
        config_from_dict(data)
