"""Workload axes on real servers: handler CPU work, upstream profiles, errors and quotas.

Each test starts the mock upstream and one app on 127.0.0.1 (ports chosen by the OS)
through the harness's own ``running_stack``, which stops and reaps both.
"""

from __future__ import annotations

import dataclasses
import math
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests

from harness.config.catalogue import BUILTIN_STACKS
from harness.config.schema import StackSpec
from harness.config.upstream import Upstream
from harness.targets.local import running_stack, running_upstream
from servers.profiles import Profile

APPS = ("flask-gunicorn", "quart-hypercorn", "fastapi-uvicorn")


def small(name: str, **changes: Any) -> StackSpec:
    return dataclasses.replace(StackSpec(name=name, **BUILTIN_STACKS[name]),
                               workers=2, threads=8, **changes)


def get(url: str) -> requests.Response:
    return requests.get(url, timeout=30)


def stats(upstream_url: str) -> dict[str, Any]:
    body: dict[str, Any] = get(f"{upstream_url}/stats?reset=1").json()
    return body


@pytest.mark.parametrize("name", APPS)
def test_cpu_ms_is_validated_and_burns_the_calibrated_work(name: str) -> None:
    with running_stack(small(name), cpu_iterations_per_ms=1000) as handle:
        bad = get(f"{handle.base_url}/single?delay_ms=0&cpu_ms=ten")
        assert bad.status_code == 400 and bad.json()["param"] == "cpu_ms"
        too_much = get(f"{handle.base_url}/aggregate?n=1&delay_ms=0&cpu_ms=10001")
        assert too_much.status_code == 400 and too_much.json()["param"] == "cpu_ms"
        body = get(f"{handle.base_url}/aggregate?n=2&delay_ms=0&cpu_ms=3").json()
        assert body["calls"] == 2 and body["cpu_ms"] == 3
        assert get(f"{handle.base_url}/single?delay_ms=0").json()["cpu_ms"] == 0


@pytest.mark.parametrize("name", APPS)
def test_apps_keep_within_the_upstream_quota(name: str) -> None:
    quota = 40.0
    with running_stack(small(name), upstream=Upstream(quota_rps=quota)) as handle:
        stats(handle.upstream_url)
        start = time.perf_counter()
        with ThreadPoolExecutor(16) as pool:
            answers = list(pool.map(
                lambda _: get(f"{handle.base_url}/single?delay_ms=1").status_code, range(60)))
        took = time.perf_counter() - start
        counters = stats(handle.upstream_url)
    assert answers == [200] * 60
    assert counters["refused_429"] == 0 and counters["requests"] == 60
    # 60 calls at 40 per second: the first second's worth is not banked by the apps.
    assert took >= (60 - 2) / quota * 0.9


def test_the_upstream_refuses_calls_beyond_its_quota() -> None:
    with running_upstream(upstream=Upstream(quota_rps=10)) as upstream:
        url = upstream.base_url
        with ThreadPoolExecutor(30) as pool:
            start = time.monotonic()
            codes = list(pool.map(lambda _: get(f"{url}/delay?ms=1").status_code, range(30)))
            took = time.monotonic() - start
        counters = stats(url)
    # The bucket holds one second's worth (10) and refills 10 per second while the 30 calls
    # run: a slow machine lets a few more through, never more than that allows.
    served = codes.count(200)
    assert served == counters["requests"] and codes.count(429) == counters["refused_429"]
    assert served + codes.count(429) == 30
    assert 10 <= served <= 10 + math.floor(10 * took) + 1, (served, took)
    assert served < 30  # some were refused (a slow machine above could let all through)


def test_profile_draws_are_recorded_and_errors_become_502() -> None:
    upstream = Upstream(Profile("bimodal", tail_fraction=0.3, tail_factor=3, error_rate=0.3),
                        seed=4)
    with running_stack(small("fastapi-uvicorn"), upstream=upstream) as handle:
        stats(handle.upstream_url)
        with ThreadPoolExecutor(20) as pool:
            codes = list(pool.map(
                lambda _: get(f"{handle.base_url}/single?delay_ms=20").status_code, range(60)))
        counters = stats(handle.upstream_url)
    assert set(codes) == {200, 502}
    assert codes.count(502) == counters["answered_503"] > 5
    served = counters["served_ms"]
    assert served["count"] == 60
    # a late timer on a busy machine adds its overshoot, which the upstream measured
    late = counters["overshoot_ms"]["max"]
    assert 20 <= served["p50"] < 40 and 60 <= served["p99"] <= 60 + late + 1, (served, late)
    assert counters["profile_p99_ms"] == 60.0
