"""Server command lines are built from the stack record alone, never through a shell."""

from __future__ import annotations

import itertools

from harness.config.catalogue import BUILTIN_STACKS
from harness.config.schema import StackSpec
from harness.config.upstream import Upstream
from harness.targets.argv import app_environment, server_command, upstream_command
from servers.profiles import Profile


def spec(name: str) -> StackSpec:
    return StackSpec(name=name, **BUILTIN_STACKS[name])


def test_gunicorn_gthread_states_every_setting() -> None:
    argv = server_command("py", spec("flask-gunicorn"), "127.0.0.1")
    assert argv[:3] == ["py", "-m", "gunicorn"]
    assert "--no-control-socket" in argv
    pairs = dict(itertools.pairwise(argv))
    assert pairs["--bind"] == "127.0.0.1:0"
    assert pairs["--workers"] == "4"
    assert pairs["--threads"] == "2"
    assert pairs["--worker-class"] == "gthread"
    assert pairs["--backlog"] == "2048"
    assert argv[-1] == "servers.flask_app:app"


def test_hypercorn_backlog_above_default() -> None:
    argv = server_command("py", spec("quart-hypercorn"), "127.0.0.1", 8000)
    pairs = dict(itertools.pairwise(argv))
    assert pairs["--bind"] == "127.0.0.1:8000"
    assert int(pairs["--backlog"]) > 100
    assert pairs["--worker-class"] == "asyncio"
    assert argv[-1] == "servers.quart_app:app"


def test_uvicorn_and_dev_and_ipv6() -> None:
    argv = server_command("py", spec("fastapi-uvicorn"), "::1")
    pairs = dict(itertools.pairwise(argv))
    assert pairs["--host"] == "::1" and pairs["--port"] == "0" and pairs["--loop"] == "asyncio"
    assert server_command("py", spec("flask-dev"), "127.0.0.1") == [
        "py", "-m", "servers.flask_app", "--host", "127.0.0.1", "--port", "0"]
    gunicorn6 = server_command("py", spec("flask-gunicorn"), "::1")
    assert "[::1]:0" in gunicorn6


def test_gevent_and_asgi_workers_state_connections() -> None:
    for name in ("flask-gunicorn-gevent", "quart-gunicorn-asgi"):
        argv = server_command("py", spec(name), "127.0.0.1")
        assert "--worker-connections" in argv and "--threads" not in argv


def test_hostile_names_stay_single_arguments() -> None:
    s = StackSpec(name="x; rm -rf /", app="flask", server="gunicorn", worker_class="gthread")
    argv = server_command("py", s, "127.0.0.1")
    assert all(";" not in a for a in argv)  # the name never reaches the command line
    env = app_environment(s, "http://127.0.0.1:1", {"KEEP": "1"})
    assert env["ASYNCBENCH_STACK"] == "x; rm -rf /"
    assert env["KEEP"] == "1"
    assert env["ASYNCBENCH_POOL_SIZE"] == "100"


def test_upstream_command() -> None:
    assert upstream_command("py", "127.0.0.1", 0, 4096, 500) == [
        "py", "-m", "servers.upstream", "--host", "127.0.0.1", "--port", "0",
        "--backlog", "4096", "--fail-status", "500"]


def test_upstream_command_carries_the_profile_and_quota() -> None:
    plain = upstream_command("py", "127.0.0.1", 0, 4096, upstream=Upstream(), seed=3)
    assert "--profile" not in plain
    profile = Upstream(Profile("bimodal", tail_fraction=0.05, tail_factor=10), quota_rps=50)
    argv = upstream_command("py", "127.0.0.1", 0, 4096, upstream=profile, seed=3)
    pairs = dict(zip(argv[9::2], argv[10::2], strict=True))
    assert pairs == {"--profile": "bimodal", "--seed": "3", "--jitter-ms": "0.0",
                     "--median-ms": "0.0", "--p99-ms": "0.0", "--tail-fraction": "0.05",
                     "--tail-factor": "10.0", "--error-rate": "0.0", "--quota-rps": "50.0"}
    seeded = upstream_command("py", "h", 0, 1, upstream=Upstream(Profile("uniform"), seed=9))
    assert seeded[seeded.index("--seed") + 1] == "9"


def test_app_environment_shares_the_quota_and_states_the_cpu_work() -> None:
    quart = StackSpec(name="q", **{**BUILTIN_STACKS["quart-hypercorn"], "cpu_offload": True})
    env = app_environment(quart, "http://127.0.0.1:1", cpu_iterations_per_ms=5000,
                          quota_rps=100.0)
    assert env["ASYNCBENCH_QUOTA_RPS"] == "25.0"  # 4 workers share the quota
    assert env["ASYNCBENCH_CPU_ITERS_PER_MS"] == "5000"
    assert env["ASYNCBENCH_CPU_OFFLOAD"] == "1"
    plain = app_environment(spec("flask-gunicorn"), "http://127.0.0.1:1")
    assert not {k for k in plain if "QUOTA" in k or "CPU" in k}
