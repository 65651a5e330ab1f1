"""The servers' pure parts: query-parameter validation, error bodies, settings, upstream stats.

No sockets, no frameworks: these run in milliseconds.
"""

from __future__ import annotations

import math
from collections import deque

import pytest
from hypothesis import given
from hypothesis import strategies as st

from servers.errors import ParamError, SettingsError, UpstreamError, describe_cause
from servers.params import (
    DEFAULT_DELAY_MS,
    MAX_DELAY_MS,
    MAX_N,
    http_error_body,
    internal_error_body,
    param_error_body,
    parse_aggregate,
    parse_delay_ms,
    parse_int,
    parse_ms,
    parse_n,
    parse_served_ms,
    upstream_error_body,
)
from servers.settings import Settings
from servers.upstream_stats import UpstreamStats, percentile

REJECTED = [
    "",
    " ",
    " 5",
    "5 ",
    "5\n",
    "+5",
    "-1",
    "-0",
    "1.5",
    "1.0",
    "1e3",
    "0x10",
    "1_000",
    "abc",
    "5a",
    "٣",  # ARABIC-INDIC DIGIT THREE: int() accepts it, the parser must not
    "５",  # FULLWIDTH DIGIT FIVE
    "9" * 13,
    "9" * 5000,  # int() would refuse it only above 4300 digits, and slowly
    "NaN",
    "inf",
    "None",
]


# ---- parse_n -------------------------------------------------------------------------


@pytest.mark.parametrize(("raw", "expected"), [("1", 1), ("3", 3), ("1000", 1000), ("007", 7)])
def test_parse_n_accepts_plain_integers_in_range(raw: str, expected: int) -> None:
    assert parse_n(raw) == expected


@pytest.mark.parametrize("raw", ["0", "1001", "000", "999999999999", *REJECTED])
def test_parse_n_rejects_anything_else_naming_n(raw: str) -> None:
    with pytest.raises(ParamError) as info:
        parse_n(raw)
    assert info.value.param == "n"
    assert "1..1000" in info.value.message
    assert "\n" not in info.value.message


def test_parse_n_is_required() -> None:
    with pytest.raises(ParamError, match="n is required") as info:
        parse_n(None)
    assert info.value.param == "n"


# ---- parse_delay_ms / parse_ms -------------------------------------------------------


def test_parse_delay_ms_defaults_to_100_when_absent() -> None:
    assert parse_delay_ms(None) == DEFAULT_DELAY_MS == 100


@pytest.mark.parametrize(("raw", "expected"), [("0", 0), ("100", 100), ("60000", 60_000)])
def test_parse_delay_ms_accepts_the_whole_range(raw: str, expected: int) -> None:
    assert parse_delay_ms(raw) == expected


@pytest.mark.parametrize("raw", ["60001", "100000", *REJECTED])
def test_parse_delay_ms_rejects_naming_delay_ms(raw: str) -> None:
    with pytest.raises(ParamError) as info:
        parse_delay_ms(raw)
    assert info.value.param == "delay_ms"


def test_parse_ms_is_required_and_names_ms() -> None:
    assert parse_ms("0") == 0
    assert parse_ms("60000") == MAX_DELAY_MS
    for raw in (None, "60001", "-5", "1.5"):
        with pytest.raises(ParamError) as info:
            parse_ms(raw)
        assert info.value.param == "ms"


def test_a_huge_value_is_shown_truncated_in_the_message() -> None:
    with pytest.raises(ParamError) as info:
        parse_n("x" * 10_000)
    assert len(info.value.message) < 200
    assert "10000 chars" in info.value.message


@given(st.one_of(st.none(), st.text()))
def test_parse_n_any_string_parses_in_range_or_raises_param_error(raw: str | None) -> None:
    try:
        value = parse_n(raw)
    except ParamError as error:
        assert error.param == "n"
        return
    assert type(value) is int
    assert 1 <= value <= MAX_N
    assert raw is not None
    assert raw.isascii() and raw.isdigit()


@given(st.one_of(st.none(), st.text(), st.from_regex(r"\A[-+ ]?[0-9]{1,7}\Z")))
def test_parse_delay_ms_any_string_parses_in_range_or_raises_param_error(raw: str | None) -> None:
    try:
        value = parse_delay_ms(raw)
    except ParamError as error:
        assert error.param == "delay_ms"
        return
    assert type(value) is int
    assert 0 <= value <= MAX_DELAY_MS
    assert raw is None or int(raw) == value


@given(st.integers(min_value=-(10**15), max_value=10**15))
def test_parse_int_round_trips_every_integer_in_range(value: int) -> None:
    try:
        parsed = parse_int("x", str(value), 0, 10**12)
    except ParamError:
        assert not 0 <= value <= 10**12
    else:
        assert parsed == value


# ---- error bodies --------------------------------------------------------------------


def test_param_error_body_names_the_param() -> None:
    body = param_error_body(ParamError("n", "n must be in 1..1000, got 0"))
    assert body == {"error": "n must be in 1..1000, got 0", "param": "n"}


def test_upstream_error_body_carries_status_or_null() -> None:
    refused = upstream_error_body(UpstreamError("upstream unreachable", None))
    assert refused["upstream_status"] is None
    assert refused["error"] == "upstream unreachable"
    failed = upstream_error_body(UpstreamError("upstream answered 503", 503, attempted=3))
    assert failed == {
        "error": "upstream answered 503",
        "upstream_status": 503,
        "calls_attempted": 3,
        "calls_succeeded": 0,
    }


def test_http_and_internal_error_bodies() -> None:
    assert http_error_body(404, "Not Found") == {"error": "Not Found", "status": 404}
    body = internal_error_body(KeyError("secret detail"))
    assert body == {"error": "internal error: KeyError", "status": 500}


@pytest.mark.parametrize(
    ("body", "expected"), [({"served_ms": 12.5}, 12.5), ({"served_ms": 3, "x": 1}, 3.0)]
)
def test_parse_served_ms_reads_the_upstream_body(body: object, expected: float) -> None:
    assert parse_served_ms(body) == expected


@pytest.mark.parametrize("body", [None, [], "12", {}, {"served_ms": "12"}, {"served_ms": True}])
def test_parse_served_ms_rejects_malformed_bodies_as_upstream_errors(body: object) -> None:
    with pytest.raises(UpstreamError) as info:
        parse_served_ms(body)
    assert info.value.status == 200


def test_describe_cause_digs_out_the_innermost_exception() -> None:
    try:
        try:
            raise ConnectionRefusedError(111, "Connection refused")
        except OSError as inner:
            raise RuntimeError("wrapped\nover two lines") from inner
    except RuntimeError as outer:
        assert describe_cause(outer) == "ConnectionRefusedError: [Errno 111] Connection refused"
    assert describe_cause(ValueError("x" * 500), limit=50).endswith("...")


# ---- settings ------------------------------------------------------------------------

URL = "http://127.0.0.1:41234"


def test_settings_defaults() -> None:
    settings = Settings.from_env({"ASYNCBENCH_UPSTREAM_URL": URL + "/"})
    assert settings == Settings(upstream_url=URL)
    assert (settings.stack, settings.pool_size, settings.upstream_timeout_s) == ("unnamed", 100, 30)
    assert settings.delay_url == URL + "/delay"


def test_settings_read_every_variable() -> None:
    settings = Settings.from_env(
        {
            "ASYNCBENCH_STACK": "flask-gthread",
            "ASYNCBENCH_UPSTREAM_URL": URL,
            "ASYNCBENCH_POOL_SIZE": "8",
            "ASYNCBENCH_UPSTREAM_TIMEOUT_S": "2.5",
        }
    )
    assert settings == Settings(URL, "flask-gthread", 8, 2.5)


@pytest.mark.parametrize(
    ("env", "named"),
    [
        ({}, "ASYNCBENCH_UPSTREAM_URL"),
        ({"ASYNCBENCH_UPSTREAM_URL": "127.0.0.1:41234"}, "ASYNCBENCH_UPSTREAM_URL"),
        ({"ASYNCBENCH_UPSTREAM_URL": "ftp://127.0.0.1:1"}, "ASYNCBENCH_UPSTREAM_URL"),
        ({"ASYNCBENCH_UPSTREAM_URL": URL + "/api"}, "ASYNCBENCH_UPSTREAM_URL"),
        ({"ASYNCBENCH_UPSTREAM_URL": "http://127.0.0.1:x"}, "ASYNCBENCH_UPSTREAM_URL"),
        ({"ASYNCBENCH_UPSTREAM_URL": URL, "ASYNCBENCH_POOL_SIZE": "0"}, "ASYNCBENCH_POOL_SIZE"),
        ({"ASYNCBENCH_UPSTREAM_URL": URL, "ASYNCBENCH_POOL_SIZE": "1.5"}, "ASYNCBENCH_POOL_SIZE"),
        (
            {"ASYNCBENCH_UPSTREAM_URL": URL, "ASYNCBENCH_UPSTREAM_TIMEOUT_S": "0"},
            "ASYNCBENCH_UPSTREAM_TIMEOUT_S",
        ),
        (
            {"ASYNCBENCH_UPSTREAM_URL": URL, "ASYNCBENCH_UPSTREAM_TIMEOUT_S": "nan"},
            "ASYNCBENCH_UPSTREAM_TIMEOUT_S",
        ),
        (
            {"ASYNCBENCH_UPSTREAM_URL": URL, "ASYNCBENCH_UPSTREAM_TIMEOUT_S": "soon"},
            "ASYNCBENCH_UPSTREAM_TIMEOUT_S",
        ),
        ({"ASYNCBENCH_UPSTREAM_URL": URL, "ASYNCBENCH_STACK": " "}, "ASYNCBENCH_STACK"),
    ],
)
def test_settings_errors_are_one_line_and_name_the_variable(
    env: dict[str, str], named: str
) -> None:
    with pytest.raises(SettingsError) as info:
        Settings.from_env(env)
    message = str(info.value)
    assert message.startswith(named)
    assert "\n" not in message


# ---- upstream stats ------------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_stats_count_overshoots_and_reset_atomically() -> None:
    clock = FakeClock()
    stats = UpstreamStats(window=3, clock=clock)
    for requested, served in [(10, 11.0), (10, 10.5), (20, 22.0), (0, 0.5)]:
        stats.enter()
        stats.leave()
        stats.served(requested, served)
    stats.enter()  # one still in flight
    stats.bad_request()
    clock.now = 102.5
    snap = stats.snapshot(reset=True)
    assert snap["requests"] == 4
    assert (snap["in_flight"], snap["max_in_flight"], snap["bad_requests"]) == (1, 1, 1)
    assert snap["since_s"] == 2.5
    over = snap["overshoot_ms"]
    assert over["count"] == 4
    assert over["mean"] == pytest.approx((1.0 + 0.5 + 2.0 + 0.5) / 4)
    assert over["max"] == 2.0
    assert over["p99"] == 2.0  # over the last 3 only: 0.5, 2.0, 0.5
    assert over["p99_window"] == 3
    after = stats.snapshot()
    assert after["requests"] == 0 and after["bad_requests"] == 0
    assert after["in_flight"] == 1 and after["max_in_flight"] == 1  # a level survives a reset
    assert after["overshoot_ms"] == {
        "count": 0,
        "mean": None,
        "max": None,
        "p99": None,
        "p99_window": 0,
    }


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 99.0) == 99.0
    assert percentile(values, 100.0) == 100.0
    assert percentile(deque([5.0]), 99.0) == 5.0
    assert percentile([3.0, 1.0, 2.0], 0.0) == 1.0
    with pytest.raises(ValueError, match="no values"):
        percentile([], 99.0)
    with pytest.raises(ValueError, match="pct"):
        percentile([1.0], 101.0)
    assert not math.isnan(percentile([1.0, 2.0], 50.0))


def test_upstream_stats_keep_the_worst_loop_lag_until_reset() -> None:
    from servers.upstream_stats import UpstreamStats

    stats = UpstreamStats(clock=lambda: 0.0)
    assert stats.snapshot()["loop_lag_ms"] == {"max": None, "beats": 0}
    for lag in (0.2, 950.0, 1.5):
        stats.loop_lag(lag)
    assert stats.snapshot(reset=True)["loop_lag_ms"] == {"max": 950.0, "beats": 3}
    assert stats.snapshot()["loop_lag_ms"] == {"max": None, "beats": 0}


@pytest.mark.parametrize(("n", "delay", "ok"), [
    ("1000", "120", True), ("1000", "121", False), ("2", "60000", True), ("3", "40001", False),
    ("1000", "29999", False), ("1", "60000", True)])
def test_aggregate_caps_n_times_delay(n: str, delay: str, ok: bool) -> None:
    if ok:
        assert parse_aggregate(n, delay) == (int(n), int(delay))
    else:
        with pytest.raises(ParamError, match=r"n x delay_ms must be at most 120000 ms") as info:
            parse_aggregate(n, delay)
        assert info.value.param == "n"
