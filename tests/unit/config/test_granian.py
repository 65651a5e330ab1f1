"""The Granian stacks: one server for both paradigms, every setting stated and sweepable."""

from __future__ import annotations

from typing import Any

import pytest

from harness.config.catalogue import BUILTIN_STACKS
from harness.config.load import config_from_dict
from harness.config.schema import StackSpec
from harness.errors import ConfigError
from harness.targets.argv import server_command

GRANIAN = ("flask-granian", "quart-granian", "fastapi-granian")


def spec(name: str, **changes: Any) -> StackSpec:
    return StackSpec(name=name, **{**BUILTIN_STACKS[name], **changes})


def option(argv: list[str], name: str) -> str:
    return argv[argv.index(name) + 1]


def test_flask_on_granian_has_the_slots_of_gthread_4x2() -> None:
    flask = spec("flask-granian")
    gthread = spec("flask-gunicorn")
    assert flask.paradigm == "sync" and flask.fanout_mode == "sequential"
    assert flask.concurrency_slots == gthread.concurrency_slots == 8
    argv = server_command("py", flask, "127.0.0.1")
    assert argv[:3] == ["py", "-m", "granian"]
    assert (option(argv, "--interface"), option(argv, "--workers"),
            option(argv, "--blocking-threads")) == ("wsgi", "4", "2")
    assert "--loop" not in argv  # a WSGI worker runs no event loop
    assert argv[-1] == "servers.flask_app:app"


@pytest.mark.parametrize("name", ["quart-granian", "fastapi-granian"])
def test_async_apps_run_asgi_with_its_lifespan_on_a_stated_loop(name: str) -> None:
    s = spec(name)
    argv = server_command("py", s, "127.0.0.1")
    # "asgi" runs the lifespan, where the apps open their upstream session ("asginl" would not)
    assert option(argv, "--interface") == "asgi"
    assert (option(argv, "--loop"), option(argv, "--blocking-threads")) == ("asyncio", "1")
    assert s.paradigm == "async" and s.concurrency_slots == 4 * 1000


@pytest.mark.parametrize("name", GRANIAN)
def test_no_default_that_shapes_a_result_is_left_to_granian(name: str) -> None:
    argv = server_command("py", spec(name), "127.0.0.1", 0)
    stated = {"--host": "127.0.0.1", "--port": "0", "--workers": "4", "--backlog": "2048",
              "--backpressure": "1000", "--runtime-threads": "1", "--runtime-mode": "mt",
              "--http": "1", "--http1-header-read-timeout": "5000",
              "--workers-kill-timeout": "5"}
    assert {key: option(argv, key) for key in stated} == stated
    assert "--http1-keep-alive" in argv and "--no-ws" in argv


def test_blocking_threads_backpressure_and_keep_alive_reach_the_command_and_the_model() -> None:
    s = spec("flask-granian", threads=6, worker_connections=3, keepalive_s=2, backlog=128)
    argv = server_command("py", s, "127.0.0.1")
    assert (option(argv, "--blocking-threads"), option(argv, "--backpressure"),
            option(argv, "--http1-header-read-timeout"), option(argv, "--backlog")) == (
        "6", "3", "2000", "128")
    assert s.concurrency_slots == 4 * 3  # backpressure caps the blocking threads


def test_blocking_threads_are_sweepable_like_any_stack_setting() -> None:
    config = config_from_dict({
        "run": {"stacks": ["flask-gunicorn", "flask-granian"], "baseline": "flask-gunicorn"},
        "scenarios": {"clients": {"levels": [10]}},
        "sweep": {"stack": "flask-granian", "param": "threads", "values": [2, 8]}})
    names = [s.name for s in config.stacks]
    assert names == ["flask-gunicorn", "flask-granian[threads=2]", "flask-granian[threads=8]"]
    argv = server_command("py", config.stack("flask-granian[threads=8]"), "127.0.0.1")
    assert option(argv, "--blocking-threads") == "8"


@pytest.mark.parametrize(("name", "change", "message"), [
    ("flask-granian", {"keepalive_s": 0}, "[stacks.flask-granian] keepalive_s = 0: must be an "
                                          "integer in 1..60 on granian"),
    ("flask-granian", {"keepalive_s": 61}, "[stacks.flask-granian] keepalive_s = 61: must be "
                                           "an integer in 1..60"),
    ("quart-granian", {"backlog": 127}, "[stacks.quart-granian] backlog = 127: granian refuses "
                                        "a backlog below 128"),
    ("quart-granian", {"threads": 2}, "[stacks.quart-granian] threads = 2: granian runs an ASGI "
                                      "app on one blocking thread per worker"),
    ("flask-granian", {"worker_class": "asyncio"}, "[stacks.flask-granian] worker_class = "
                                                   "'asyncio': a WSGI app (flask) needs a sync"),
    ("quart-granian", {"worker_class": "wsgi"}, "[stacks.quart-granian] worker_class = 'wsgi': "
                                                "an ASGI app (quart) needs an async worker"),
])
def test_granian_limits_are_refused_with_the_key_and_value(name: str, change: dict[str, Any],
                                                           message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"run": {"stacks": [name], "baseline": name},
                          "scenarios": {"clients": {"levels": [1]}},
                          "stacks": {name: change}})
    assert str(info.value).startswith(message), str(info.value)


def test_granian_limits_just_inside_are_accepted() -> None:
    assert spec("flask-granian", keepalive_s=1).keepalive_s == 1
    assert spec("flask-granian", keepalive_s=60).keepalive_s == 60
    assert spec("quart-granian", backlog=128).backlog == 128
