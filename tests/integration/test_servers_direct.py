"""The servers on their own: the mock upstream, and each app under its production server.

Every process runs in its own session on a port the OS chose, and is killed with
its whole process group in a ``finally``.  Worker counts are kept small so the
file stays well under a minute; the full harness command lines are exercised by
the harness's own contract test.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
import pytest
import requests

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PY = sys.executable
START_DEADLINE_S = 40.0
UPSTREAM_TIMEOUT_S = 0.5
LINE = re.compile(r"listening on (http://127\.0\.0\.1:(\d+))")


# ---- process helpers -----------------------------------------------------------------


@dataclass
class Proc:
    popen: subprocess.Popen[bytes]
    log: Path

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


def _kill_group(proc: Proc, sig: int = signal.SIGTERM) -> int:
    """Signal the whole process group, reap the leader; SIGKILL it if it lingers."""
    with suppress(ProcessLookupError):
        os.killpg(proc.popen.pid, sig)
    try:
        return proc.popen.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.popen.pid, signal.SIGKILL)
        return proc.popen.wait(timeout=10)


@contextmanager
def spawned(cmd: list[str], log: Path, env: dict[str, str] | None = None) -> Iterator[Proc]:
    """Run ``cmd`` from the project root in a new session; kill its group on exit."""
    with log.open("wb") as out:
        popen = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    proc = Proc(popen, log)
    try:
        yield proc
    finally:
        _kill_group(proc)
        # a server's workers may outlive their leader for a moment
        with suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)


def _deadline_passed(proc: Proc, deadline: float, what: str) -> None:
    if proc.popen.poll() is not None:
        pytest.fail(f"{what} exited with {proc.popen.returncode}:\n{proc.tail()}")
    if time.monotonic() > deadline:
        pytest.fail(f"{what} not ready after {START_DEADLINE_S} s:\n{proc.tail()}")
    time.sleep(0.05)


@contextmanager
def upstream(tmp_path: Path, *args: str, port: int = 0) -> Iterator[tuple[Proc, str]]:
    """The mock upstream; yields it and the URL from its ``listening on`` line."""
    log = tmp_path / f"upstream-{time.monotonic_ns()}.log"
    cmd = [PY, "-m", "servers.upstream", "--host", "127.0.0.1", "--port", str(port), *args]
    with spawned(cmd, log) as proc:
        deadline = time.monotonic() + START_DEADLINE_S
        while (match := LINE.match(log.read_text())) is None:
            _deadline_passed(proc, deadline, "upstream")
        yield proc, match.group(1)


def listening_ports(pid: int) -> set[int]:
    """TCP ports in LISTEN held by ``pid`` or any of its descendants."""
    ports: set[int] = set()
    try:
        leader = psutil.Process(pid)
        procs = [leader, *leader.children(recursive=True)]
    except psutil.NoSuchProcess:
        return ports
    for process in procs:
        try:
            conns = process.net_connections(kind="tcp")
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        ports.update(c.laddr.port for c in conns if c.status == psutil.CONN_LISTEN)
    return ports


@contextmanager
def app_server(
    tmp_path: Path, cmd: list[str], upstream_url: str, stack: str
) -> Iterator[tuple[Proc, str]]:
    """An app under its server; yields it and its base URL once /health answers 200."""
    env = {
        "ASYNCBENCH_STACK": stack,
        "ASYNCBENCH_UPSTREAM_URL": upstream_url,
        "ASYNCBENCH_POOL_SIZE": "10",
        "ASYNCBENCH_UPSTREAM_TIMEOUT_S": str(UPSTREAM_TIMEOUT_S),
    }
    with spawned([PY, "-m", *cmd], tmp_path / f"{stack}.log", env) as proc:
        deadline = time.monotonic() + START_DEADLINE_S
        while True:
            ports = listening_ports(proc.popen.pid)
            if len(ports) == 1:
                base = f"http://127.0.0.1:{ports.pop()}"
                try:
                    if requests.get(base + "/health", timeout=5).status_code == 200:
                        break
                except requests.RequestException:
                    pass
            _deadline_passed(proc, deadline, stack)
        yield proc, base


def get_json(url: str, method: str = "GET") -> tuple[int, Any]:
    response = requests.request(method, url, timeout=10)
    assert response.headers["Content-Type"].startswith("application/json"), response.text[:500]
    return response.status_code, response.json()


# ---- the upstream --------------------------------------------------------------------


def test_upstream_delay_stats_and_errors(tmp_path: Path) -> None:
    with upstream(tmp_path) as (proc, url):
        assert get_json(url + "/health")[1]["status"] == "ok"
        assert get_json(url + "/health")[1]["service"] == "upstream"
        get_json(url + "/stats?reset=1")

        status, body = get_json(url + "/delay?ms=50")
        assert status == 200
        assert body["requested_ms"] == 50
        assert 50.0 <= body["served_ms"] < 1000.0

        with ThreadPoolExecutor(3) as pool:
            bodies = list(pool.map(lambda _: get_json(url + "/delay?ms=300")[1], range(3)))
        assert [b["requested_ms"] for b in bodies] == [300, 300, 300]

        for query in ("", "?ms=", "?ms=-1", "?ms=60001", "?ms=1.5", "?ms=abc", "?ms=1e3"):
            status, body = get_json(url + "/delay" + query)
            assert (status, body["param"]) == (400, "ms"), query
            assert isinstance(body["error"], str)

        status, stats = get_json(url + "/stats?reset=1")
        assert status == 200
        assert stats["requests"] == 4
        assert stats["in_flight"] == 0
        assert stats["max_in_flight"] == 3
        assert stats["bad_requests"] == 7
        assert stats["overshoot_ms"]["count"] == 4
        assert stats["overshoot_ms"]["max"] >= stats["overshoot_ms"]["mean"] >= 0.0
        assert stats["overshoot_ms"]["p99"] is not None

        after = get_json(url + "/stats")[1]
        assert (after["requests"], after["bad_requests"], after["max_in_flight"]) == (0, 0, 0)
        assert after["overshoot_ms"]["count"] == 0
        assert after["overshoot_ms"]["p99"] is None

        assert get_json(url + "/nope")[0] == 404
        assert get_json(url + "/delay?ms=1", method="POST")[0] == 405
        assert _kill_group(proc) == 0, proc.tail()


def test_upstream_fault_mode_answers_every_delay_with_the_status(tmp_path: Path) -> None:
    with upstream(tmp_path, "--fail-status", "503", "--loop", "asyncio") as (proc, url):
        status, body = get_json(url + "/delay?ms=1")
        assert status == 503
        assert "fault" in body["error"]
        assert get_json(url + "/delay?ms=x")[0] == 400  # validation still comes first
        health = get_json(url + "/health")[1]
        assert (health["fail_status"], health["loop"], health["backlog"]) == (503, "asyncio", 2048)
        stats = get_json(url + "/stats")[1]
        assert (stats["failed"], stats["requests"], stats["bad_requests"]) == (1, 0, 1)
        assert _kill_group(proc, signal.SIGINT) == 0, proc.tail()


# ---- the apps ------------------------------------------------------------------------

# stack -> (server command after "python -m", app name, /aggregate mode); fewer workers
# than the harness uses, to keep startup short
STACKS: dict[str, tuple[str, str, str]] = {
    "flask-gunicorn-gthread": (
        "gunicorn --no-control-socket -b 127.0.0.1:0 -w 2 --threads 2 -k gthread"
        " --backlog 2048 servers.flask_app:app",
        "flask",
        "sequential",
    ),
    "flask-gunicorn-threadpool": (
        "gunicorn --no-control-socket -b 127.0.0.1:0 -w 2 --threads 2 -k gthread"
        " --backlog 2048 servers.flask_threadpool_app:app",
        "flask",
        "threadpool",
    ),
    "flask-gunicorn-gevent": (
        "gunicorn --no-control-socket -b 127.0.0.1:0 -w 1 -k gevent --worker-connections 1000"
        " servers.flask_app:app",
        "flask",
        "sequential",
    ),
    "quart-hypercorn": (
        "hypercorn -b 127.0.0.1:0 -w 1 -k uvloop --backlog 2048 servers.quart_app:app",
        "quart",
        "concurrent",
    ),
    "quart-gunicorn-asgi": (
        "gunicorn --no-control-socket -b 127.0.0.1:0 -w 1 -k asgi --backlog 2048"
        " servers.quart_app:app",
        "quart",
        "concurrent",
    ),
    "fastapi-uvicorn": (
        "uvicorn --host 127.0.0.1 --port 0 --workers 2 --backlog 2048 --no-access-log"
        " servers.fastapi_app:app",
        "fastapi",
        "concurrent",
    ),
    # one Rust server for both paradigms: WSGI on blocking threads, ASGI with its lifespan
    "flask-granian": (
        "granian --interface wsgi --host 127.0.0.1 --port 0 --workers 2 --blocking-threads 2"
        " --backlog 2048 --log-level warning servers.flask_app:app",
        "flask",
        "sequential",
    ),
    "quart-granian": (
        "granian --interface asgi --host 127.0.0.1 --port 0 --workers 1 --loop asyncio"
        " --backlog 2048 --log-level warning servers.quart_app:app",
        "quart",
        "concurrent",
    ),
    "fastapi-granian": (
        "granian --interface asgi --host 127.0.0.1 --port 0 --workers 1 --loop uvloop"
        " --backlog 2048 --log-level warning servers.fastapi_app:app",
        "fastapi",
        "concurrent",
    ),
}

BAD_PARAMS = [
    ("/aggregate?delay_ms=5", "n"),
    ("/aggregate?n=0", "n"),
    ("/aggregate?n=1001", "n"),
    ("/aggregate?n=abc&delay_ms=5", "n"),
    ("/aggregate?n=1.5", "n"),
    ("/aggregate?n=2&delay_ms=-1", "delay_ms"),
    ("/aggregate?n=1000&delay_ms=29999", "n"),  # N x delay over 120 s: 8 hours of a thread
    ("/aggregate?n=3&delay_ms=40001", "n"),
    ("/single?delay_ms=60001", "delay_ms"),
    ("/single?delay_ms=1e3", "delay_ms"),
    ("/single?delay_ms=", "delay_ms"),
]


@pytest.mark.parametrize("stack", list(STACKS))
def test_app_contract_under_its_production_server(tmp_path: Path, stack: str) -> None:
    cmd, app_name, mode = STACKS[stack]
    with upstream(tmp_path) as (up, up_url):
        port = int(up_url.rsplit(":", 1)[1])
        with app_server(tmp_path, cmd.split(), up_url, stack) as (server, base):
            status, health = get_json(base + "/health")
            assert status == 200
            assert health["status"] == "ok"
            assert (health["stack"], health["app"]) == (stack, app_name)
            assert isinstance(health["pid"], int)
            assert psutil.pid_exists(health["pid"])

            get_json(up_url + "/stats?reset=1")
            status, single = get_json(base + "/single?delay_ms=20")
            assert status == 200, single
            assert single["calls"] == 1
            assert len(single["served_ms"]) == 1 and single["served_ms"][0] >= 20.0

            status, agg = get_json(base + "/aggregate?n=3&delay_ms=150")
            assert status == 200, agg
            assert (agg["calls"], agg["mode"], len(agg["served_ms"])) == (3, mode, 3)
            assert all(served >= 150.0 for served in agg["served_ms"])
            stats = get_json(up_url + "/stats?reset=1")[1]
            assert stats["requests"] == 4  # 1 + 3: the upstream saw every call
            # sequential calls never overlap at the upstream; concurrent ones all do
            assert stats["max_in_flight"] == (1 if mode == "sequential" else 3)

            for path, param in BAD_PARAMS:
                status, body = get_json(base + path)
                assert (status, body.get("param")) == (400, param), (path, body)
                assert isinstance(body["error"], str)
            assert get_json(base + "/no/such/route")[0] == 404
            assert get_json(base + "/single", method="POST")[0] == 405

            # the upstream answers too late
            status, body = get_json(base + "/single?delay_ms=3000")
            assert status == 502, body
            assert body["upstream_status"] is None
            assert "timed out" in body["error"]

            # the upstream is gone
            assert _kill_group(up) == 0, up.tail()
            for path in ("/single?delay_ms=5", "/aggregate?n=3&delay_ms=5"):
                status, body = get_json(base + path)
                assert status == 502, (path, body)
                assert body["upstream_status"] is None
                assert body["calls_succeeded"] == 0

            # the upstream is back on the same port, failing every call with 503
            with upstream(tmp_path, "--fail-status", "503", port=port):
                status, body = get_json(base + "/aggregate?n=2&delay_ms=5")
                assert status == 502, body
                assert body["upstream_status"] == 503

            assert server.popen.poll() is None, server.tail()
            log = server.tail(200)
            assert "Traceback" not in log, log
