"""The [loadgen] table: validated on construction, one line naming the bad key, recorded in
the resolved config only when it differs from the default (old digests stay valid)."""

from __future__ import annotations

from typing import Any

import pytest

from harness.config.load import config_from_dict, config_from_resolved
from harness.config.loadgen import LoadgenSettings
from harness.errors import ConfigError

BASE: dict[str, Any] = {"scenarios": {"fanout": {"levels": [1]}}}


def config(loadgen: dict[str, Any], **run: Any) -> Any:
    return config_from_dict({**BASE, "loadgen": loadgen, "run": run})


def test_builtin_is_the_default_and_leaves_the_digest_alone() -> None:
    plain = config_from_dict(dict(BASE))
    assert plain.loadgen == LoadgenSettings() and not plain.loadgen.distributed
    assert "loadgen" not in plain.resolved()
    assert config({"engine": "builtin"}).digest() == plain.digest()


def test_locust_settings_are_recorded_and_rebuilt() -> None:
    c = config({"engine": "locust", "workers": "auto", "expect_workers": 2,
                "master_bind": "198.18.0.1", "master_port": 5557,
                "allow_workers": ["198.18.0.0/24"], "expect_timeout_s": 30})
    resolved = c.resolved()["loadgen"]
    assert resolved["workers"] == "auto" and resolved["allow_workers"] == ["198.18.0.0/24"]
    assert config_from_resolved(c.resolved()).loadgen == c.loadgen
    assert c.loadgen.local_workers(3) == 3 and config({"engine": "locust", "workers": 2}
                                                      ).loadgen.local_workers(3) == 2


@pytest.mark.parametrize(("table", "words"), [
    ({"engine": "wrk"}, "[loadgen] engine = 'wrk': must be one of builtin, locust"),
    ({"workers": 2}, "[loadgen] workers = 2: takes effect with engine = \"locust\" only"),
    ({"expect_workers": 1}, "[loadgen] expect_workers = 1: takes effect with engine"),
    ({"engine": "locust", "workers": "many"}, "[loadgen] workers = 'many': must be an integer"),
    ({"engine": "locust", "workers": 257}, "[loadgen] workers = 257: must be an integer in 0..256"),
    ({"engine": "locust", "workers": 0}, "no worker at all"),
    ({"engine": "locust", "workers": True}, "[loadgen] workers = True: expected an integer"),
    ({"engine": "locust", "expect_workers": -1}, "[loadgen] expect_workers = -1"),
    ({"engine": "locust", "expect_timeout_s": 0.5}, "[loadgen] expect_timeout_s = 0.5"),
    ({"engine": "locust", "expect_timeout_s": 3601}, "[loadgen] expect_timeout_s = 3601"),
    ({"engine": "locust", "master_port": 65536}, "[loadgen] master_port = 65536"),
    ({"engine": "locust", "master_bind": "localhost"}, "must be an IP address"),
    ({"engine": "locust", "master_bind": "198.18.0.1"},
     "must be a loopback address unless remote workers are expected"),
    ({"engine": "locust", "allow_workers": ["198.18.0.2"]}, "needs expect_workers > 0"),
    ({"engine": "locust", "expect_workers": 1, "master_bind": "0.0.0.0",
      "allow_workers": ["198.18.0.2"]}, "must name one address, not every interface"),
    ({"engine": "locust", "expect_workers": 1, "master_bind": "198.18.0.1"},
     "[loadgen] allow_workers = []: must list the addresses"),
    ({"engine": "locust", "expect_workers": 1, "master_bind": "198.18.0.1",
      "allow_workers": ["198.18.0.300"]}, "'198.18.0.300' is not an address or network"),
    ({"engine": "locust", "expect_workers": 1, "master_bind": "198.18.0.1",
      "allow_workers": [3]}, "must be a list of addresses or networks"),
    ({"engine": "locust", "web_ui": True}, "[loadgen] web_ui = True: unknown key"),
])
def test_bad_settings_name_the_key(table: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError) as info:
        config(table)
    assert words in str(info.value)


def test_limits_hold_just_inside() -> None:
    assert config({"engine": "locust", "workers": 256}).loadgen.workers == 256
    assert config({"engine": "locust", "expect_timeout_s": 1}).loadgen.expect_timeout_s == 1
    assert config({"engine": "locust", "expect_timeout_s": 3600}).loadgen.expect_timeout_s == 3600
    assert config({"engine": "locust", "master_port": 65535}).loadgen.master_port == 65535
    assert config({"engine": "locust", "workers": 0, "expect_workers": 1,
                   "master_bind": "198.18.0.1", "allow_workers": ["198.18.0.2"]}
                  ).loadgen.expect_workers == 1


def test_the_compose_target_refuses_the_locust_engine() -> None:
    with pytest.raises(ConfigError, match="runs with target"):
        config({"engine": "locust"}, target="compose")
