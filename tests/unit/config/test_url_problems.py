"""The base URLs the ``external`` target accepts: each way a URL may be wrong, alone."""

from __future__ import annotations

import pytest

from harness.config.catalogue import BUILTIN_STACKS
from harness.config.schema import StackSpec, url_problem


@pytest.mark.parametrize("url", ["http://127.0.0.1:8000", "https://bench.example:443",
                                 "http://[::1]:9000", "http://host"])
def test_a_base_url_is_accepted(url: str) -> None:
    assert url_problem(url) is None


@pytest.mark.parametrize(("url", "problem"), [
    (8000, "must be a string"),
    ("ftp://host:21", "must look like http://HOST:PORT"),
    ("http://:8000", "must look like http://HOST:PORT"),
    ("http://host:99999", "must look like http://HOST:PORT (the port is not a number in 0..65535)"),
    ("http://host:8000/app", "must look like http://HOST:PORT, with no path, query or credentials"),
    ("http://host:8000?x=1", "must look like http://HOST:PORT, with no path, query or credentials"),
    ("http://host:8000#top", "must look like http://HOST:PORT, with no path, query or credentials"),
    ("http://user@host:8000", "must look like http://HOST:PORT, with no path, query or credentials"),
    ("http://:secret@host:8000", "must look like http://HOST:PORT, with no path, query or credentials"),
])
def test_each_way_a_url_is_wrong_is_named(url: object, problem: str) -> None:
    assert url_problem(url) == problem


def test_a_stack_url_fills_its_template_and_an_old_record_asked_for_no_cpu_work() -> None:
    flask = StackSpec(name="flask-gunicorn", **BUILTIN_STACKS["flask-gunicorn"])
    assert flask.url("http://h:1", "fanout", {"n": 3, "delay_ms": 50}) == (
        "http://h:1/aggregate?n=3&delay_ms=50&cpu_ms=0")
    assert flask.url("http://h:1", "clients", {"delay_ms": 50, "cpu_ms": 7}) == (
        "http://h:1/single?delay_ms=50&cpu_ms=7")
    with pytest.raises(KeyError, match="nowhere"):
        flask.url("http://h:1", "nowhere", {})
