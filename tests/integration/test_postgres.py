"""PostgreSQL as the upstream, against a PostgreSQL the harness starts itself.

Every database app honours the contract; a failing query is a 502 JSON answer; the
server process and its folder are gone after the run, also after SIGINT, and the server
dies with a harness killed by SIGKILL (it runs as another user under the guard); and with a
pool of 10 connections, 100 concurrent clients get no more than the pool model allows
(pool_size / query_time), async or not.  Skipped, with the reason, where no PostgreSQL
binaries are installed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.config.catalogue import DB_BUILTIN_STACKS
from harness.config.schema import StackSpec
from harness.config.upstream import Upstream
from harness.errors import TargetError
from harness.loadgen.drivers import ScenarioResult, client_session, run_clients, warm_up
from harness.paths import PROJECT_ROOT, child_environment
from harness.targets.argv import database_environment
from harness.targets.contract import check_contract
from harness.targets.local import running_db_stack, running_server
from harness.targets.postgres import PostgresEndpoint, find_bin_dir, running_postgres
from harness.targets.probe import fetch_json
from harness.targets.process import ChildProcess
from tests.integration.test_lifecycle import gone

DB_STACKS = list(DB_BUILTIN_STACKS)
ASYNC_STACKS = [n for n in DB_STACKS if DB_BUILTIN_STACKS[n]["app"] != "flask-pg"]


def _binaries_or_skip() -> None:
    try:
        find_bin_dir()
    except TargetError as exc:
        pytest.skip(str(exc))


def spec(name: str, **changes: object) -> StackSpec:
    fields = dict(DB_BUILTIN_STACKS[name])
    fields.update(changes)
    return StackSpec(name=name, **fields)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def database() -> Iterator[PostgresEndpoint]:
    """One seeded PostgreSQL for the module's app tests, room for every pool they open."""
    _binaries_or_skip()
    with running_postgres(max_connections=60) as db:
        yield db


def serve(db: PostgresEndpoint, stack: StackSpec, query: str,
          **env: str) -> contextlib.AbstractContextManager[ChildProcess]:
    environment = database_environment(stack, db.url, query, db.schema, child_environment())
    environment.update(env)
    return running_server(stack, db.url, env=environment)




@pytest.mark.parametrize("query", ["sleep", "read"])
@pytest.mark.parametrize("name", DB_STACKS)
def test_every_database_app_honours_the_contract(database: PostgresEndpoint, name: str,
                                                 query: str) -> None:
    stack = spec(name, workers=1, pool_size=3, threads=3)
    with serve(database, stack, query) as server:
        results = check_contract(server.base_url, name)
        status, body, _ = fetch_json(server.base_url + "/aggregate?n=4&delay_ms=5")
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert status == 200
    assert body["calls"] == 4 and body["query"] == query
    assert body["pool_wait_ms"] >= 0
    # pg_sleep returns one row; a customer of the seeded set has about ten orders.
    assert body["rows"] == 4 if query == "sleep" else body["rows"] >= 4 * 5


@pytest.mark.parametrize("name", DB_STACKS)
def test_a_failing_query_is_a_502_json_answer(database: PostgresEndpoint, name: str) -> None:
    stack = spec(name, workers=1, pool_size=2, threads=2)
    # A 0.3 s statement timeout cancels a 2 s pg_sleep on the server: a real query error.
    with serve(database, stack, "sleep", ASYNCBENCH_UPSTREAM_TIMEOUT_S="0.3") as server:
        status, body, _ = fetch_json(server.base_url + "/aggregate?n=2&delay_ms=2000", 10)
        after, fine, _ = fetch_json(server.base_url + "/single?delay_ms=1", 10)
    assert status == 502, body
    assert "statement timeout" in body["error"]
    assert body["calls_attempted"] >= 1 and body["calls_succeeded"] == 0
    assert after == 200 and fine["calls"] == 1  # the pool recovered its connections


def test_the_database_and_its_folder_are_gone_after_the_run() -> None:
    _binaries_or_skip()
    stack = spec("fastapi-uvicorn-asyncpg", workers=1, pool_size=2)
    with running_db_stack(stack, Upstream(kind="postgres", query="read")) as handle:
        results = check_contract(handle.base_url, stack.name)
        assert isinstance(handle.upstream, PostgresEndpoint)
        data = Path(handle.upstream.command[handle.upstream.command.index("-D") + 1])
        assert data.is_dir()
        pids = handle.pids()
    assert all(r.ok for r in results), [r for r in results if not r.ok]
    assert len(handle.upstream.known_pids) >= 2  # the postmaster and its helpers
    assert gone(pids) == []
    assert not data.parent.exists()


SIGINT_SCRIPT = """
import json, sys, time
from harness.targets.postgres import running_postgres
try:
    with running_postgres(max_connections=10) as db:
        print(json.dumps({"pids": sorted(db.known_pids), "command": db.command,
                          "pid": db.child.pid, "log": str(db.child.log_path)}), flush=True)
        time.sleep(60)
except KeyboardInterrupt:
    sys.exit(130)
"""


def _database_in_a_child(sig: signal.Signals) -> tuple[int | None, set[int], Path, dict[str, Any]]:
    """Start a harness process holding a database, send it ``sig`` once the database is up;
    its exit code (None if it had to be killed), the server's pids, data folder and what
    the child printed."""
    with subprocess.Popen([sys.executable, "-c", SIGINT_SCRIPT], stdout=subprocess.PIPE,
                          env=child_environment(), cwd=PROJECT_ROOT, text=True) as proc:
        try:
            assert proc.stdout is not None
            started = json.loads(proc.stdout.readline())
            pids = set(started["pids"])
            data = Path(started["command"][started["command"].index("-D") + 1])
            assert data.is_dir() and gone(pids)
            postmaster = psutil.Process(int(started["pid"]))
            assert postmaster.name() == "postgres"
            if os.geteuid() == 0:  # the server is not root's, yet ends with the harness
                assert postmaster.uids().real != 0
            os.kill(proc.pid, sig)
            code: int | None = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
                code = None
    return code, pids, data, started


def test_sigint_stops_the_database_and_removes_its_folder() -> None:
    _binaries_or_skip()
    code, pids, data, _ = _database_in_a_child(signal.SIGINT)
    assert code == 130
    assert gone(pids) == []
    assert not data.parent.exists()


def test_a_killed_harness_takes_the_database_with_it() -> None:
    """SIGKILL unwinds nothing: the guard (the harness's user) kills the server's group,
    although the server runs as another user when the harness is root."""
    _binaries_or_skip()
    _, pids, data, started = _database_in_a_child(signal.SIGKILL)
    try:
        deadline = time.monotonic() + 15
        while gone(pids) and time.monotonic() < deadline:
            for pid in pids:  # orphans this test process adopted as a subreaper
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
            time.sleep(0.1)
        assert gone(pids) == []
    finally:
        for folder in (data.parent, Path(started["log"]).parent):  # nothing unwound them
            shutil.rmtree(folder, ignore_errors=True)


CLIENTS = 100
POOL = 10
QUERY_MS = 100


async def _clients_run(base_url: str) -> ScenarioResult:
    async with client_session(CLIENTS) as session:
        single = f"{base_url}/single?delay_ms={QUERY_MS}"
        await warm_up(session, single, None, 2 * POOL, 30)
        return await run_clients(session, single, CLIENTS, 30)


@pytest.mark.parametrize("name", DB_STACKS)
def test_the_pool_bounds_throughput_at_100_clients(database: PostgresEndpoint,
                                                   name: str) -> None:
    # One worker with 10 connections: at most 10 queries of 100 ms at once, so 100
    # clients take at least 1 s, whatever the framework: 100 requests/s at most.
    stack = spec(name, workers=1, pool_size=POOL, threads=POOL)
    with serve(database, stack, "sleep") as server:
        result = asyncio.run(_clients_run(server.base_url))
    assert result.first_error() is None
    model_rps = POOL / (QUERY_MS / 1000)
    throughput = result.metrics["throughput_rps"]
    assert throughput <= model_rps * 1.02, (throughput, model_rps)
    # ... and it reaches a good part of the line: the pool, nothing else, is the limit.
    assert throughput >= model_rps * 0.4, (throughput, model_rps)
    waits = result.pool_waits_ms()
    assert len(waits) == CLIENTS
    if name in ASYNC_STACKS:
        # An async app takes every request at once; the last tenth wait 9 rounds for the pool.
        assert max(waits) >= 500, max(waits)
    else:
        # Flask's 10 threads hold a request each: the queue is the server's, not the pool's.
        assert max(waits) < 100, max(waits)
