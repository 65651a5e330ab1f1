"""Reliability, part 1 (continued): bad HTTP input to every app and to the upstream.

A property test sends arbitrary query strings; whatever arrives, the answer is JSON
with 200 (valid) or 400 naming the parameter, never a traceback page or a 500.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from urllib.parse import urlencode

import pytest
import requests
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from harness.config.catalogue import BUILTIN_STACKS
from harness.config.schema import StackSpec
from harness.targets.local import running_server, running_upstream

APPS = ["flask-gunicorn", "quart-hypercorn", "fastapi-uvicorn"]
MAX_DELAY_MS = 30  # valid examples must stay fast


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, str]]:
    with contextlib.ExitStack() as stack:
        upstream = stack.enter_context(running_upstream())
        urls = {"upstream": upstream.base_url}
        for name in APPS:
            spec = StackSpec(name=name, **dict(BUILTIN_STACKS[name], workers=1))  # type: ignore[arg-type]
            urls[name] = stack.enter_context(running_server(spec, upstream.base_url)).base_url
        yield urls


def _as_int(text: str | None) -> int | None:
    if text is None or not text.isascii() or not text.isdigit():
        return None
    return int(text)


values = st.one_of(st.none(), st.text(max_size=12),
                   st.integers(-10**6, 10**6).map(str),
                   st.sampled_from(["", " 5", "5 ", "1e3", "0x10", "1.5", "-0", "٣", "NaN",
                                    "9" * 40, "%00", "5;6", "5&n=6"]))
queries = st.fixed_dictionaries({}, optional={"n": values, "delay_ms": values,
                                              "cpu_ms": values, st.text(max_size=6): values})


def _query(params: dict[str, str | None]) -> str:
    return urlencode({k: v for k, v in params.items() if v is not None})


def _check(resp: requests.Response, params: dict[str, str | None], needs_n: bool) -> None:
    assert resp.headers["content-type"].startswith("application/json"), resp.text[:200]
    body = resp.json()
    n = _as_int(params.get("n"))
    delay = params.get("delay_ms")
    delay_ok = delay is None or (_as_int(delay) is not None and _as_int(delay) <= 60000)
    cpu = params.get("cpu_ms")
    cpu_ok = cpu is None or (_as_int(cpu) is not None and _as_int(cpu) <= 10000)
    n_ok = not needs_n or (n is not None and 1 <= n <= 1000)
    if resp.status_code == 200:
        assert n_ok and delay_ok and cpu_ok, (params, body)
        assert body["calls"] == (n if needs_n else 1)
    else:
        assert resp.status_code == 400, (params, resp.status_code, body)
        assert body["param"] in ("n", "delay_ms", "cpu_ms") and body["error"]
        assert not (n_ok and delay_ok and cpu_ok), (params, body)


@pytest.mark.parametrize("app", APPS)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(params=queries)
def test_apps_answer_any_query_with_json(servers: dict[str, str], app: str,
                                         params: dict[str, str | None]) -> None:
    delay = _as_int(params.get("delay_ms"))
    assume(delay is None or delay <= MAX_DELAY_MS or delay > 60000)
    n = _as_int(params.get("n"))
    assume(n is None or n <= 20 or n > 1000)
    cpu = _as_int(params.get("cpu_ms"))
    assume(cpu is None or cpu <= 5 or cpu > 10000)  # valid but long work would slow the search
    if params.get("delay_ms") is None:
        params = {**params, "delay_ms": "0"}  # the default delay would slow the search
    query = _query(params)
    for path, needs_n in (("/aggregate", True), ("/single", False)):
        resp = requests.get(f"{servers[app]}{path}?{query}", timeout=10)
        _check(resp, params, needs_n)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ms=values)
def test_upstream_answers_any_delay_with_json(servers: dict[str, str], ms: str | None) -> None:
    value = _as_int(ms)
    assume(value is None or value <= MAX_DELAY_MS or value > 60000)
    resp = requests.get(f"{servers['upstream']}/delay?{_query({'ms': ms})}", timeout=10)
    body = resp.json()
    if value is not None and value <= 60000:
        assert resp.status_code == 200 and body["requested_ms"] == value
    else:
        assert resp.status_code == 400 and body["param"] == "ms", (ms, body)


@pytest.mark.parametrize("app", APPS)
@pytest.mark.parametrize("path", ["/nope", "/aggregate/extra", "/%ff%fe", "/" + "a" * 2000])
def test_unknown_paths_are_json(servers: dict[str, str], app: str, path: str) -> None:
    resp = requests.get(servers[app] + path, timeout=10)
    assert resp.status_code in (404, 414)
    if resp.status_code == 404:
        assert resp.json()["error"]


@pytest.mark.parametrize("app", APPS)
def test_wrong_method_is_json(servers: dict[str, str], app: str) -> None:
    resp = requests.post(servers[app] + "/single?delay_ms=1", data=b"x", timeout=10)
    assert resp.status_code == 405 and resp.json()["error"]
