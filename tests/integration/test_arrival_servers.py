"""Arrivals observed at real servers on 127.0.0.1: keep-alive against Connection: close as
a server sees them, the sustained loop's C connections each carrying many requests, every
worker's share of a burst at a real gunicorn, and a sustained run end to end."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import pytest

from harness.cli.main import main
from harness.config.catalogue import BUILTIN_STACKS
from harness.config.schema import StackSpec
from harness.loadgen.arrival import attach_spread, run_arrival
from harness.loadgen.spread import SpreadSampler
from harness.targets.local import running_stack

BODY = json.dumps({"calls": 1}).encode()


@dataclass
class Connection:
    """One connection as the server saw it."""

    headers: list[str] = field(default_factory=list)  # each request's Connection header
    closed_by_client: bool = False
    opened: float = 0.0  # when the server accepted it (its event loop's clock)


@dataclass
class Server:
    """A small HTTP/1.1 server: answers every request after ``delay(n)`` seconds (n counts
    requests), keeps a connection open unless asked to close it, and notes how many
    connections were open each time it answered."""

    delay: Any
    connections: list[Connection] = field(default_factory=list)
    open_at_answer: list[int] = field(default_factory=list)
    requests: int = 0
    open: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = Connection(opened=asyncio.get_running_loop().time())
        self.connections.append(conn)
        self.open += 1
        try:
            while True:
                try:
                    head = await reader.readuntil(b"\r\n\r\n")
                except (asyncio.IncompleteReadError, ConnectionError):
                    conn.closed_by_client = True
                    return
                lines = head.decode("latin-1").split("\r\n")
                said = next((line.split(":", 1)[1].strip().lower() for line in lines[1:]
                             if line.lower().startswith("connection:")), "")
                conn.headers.append(said)
                index = self.requests
                self.requests += 1
                await asyncio.sleep(self.delay(index))
                close = said == "close"
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: %d\r\n%s\r\n%s"
                             % (len(BODY), b"Connection: close\r\n" if close else b"", BODY))
                await writer.drain()
                self.open_at_answer.append(self.open)
                if close:
                    return
        finally:
            self.open -= 1
            writer.close()


@asynccontextmanager
async def serving(server: Server) -> AsyncIterator[str]:
    listener = await asyncio.start_server(server.handle, "127.0.0.1", 0, backlog=1024)
    port = listener.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}/single"
    finally:
        listener.close()
        await listener.wait_closed()


def bursts(clients: int, count: int, connection: str) -> dict[str, Any]:
    return {"clients": clients, "timeout_s": 10.0,
            "arrival": {"mode": "bursts", "bursts": count, "gap_ms": 0,
                        "connection": connection, "ramp_ms": 0}}


def run_bursts(connection: str) -> Server:
    # In each burst of 5, the k-th request is answered after (k + 1) x 40 ms.
    server = Server(lambda n: 0.04 * (n % 5 + 1))

    async def go() -> None:
        async with serving(server) as url:
            result = await run_arrival(url, bursts(5, 2, connection))
            assert result.first_error() is None

    asyncio.run(go())
    return server


def test_keep_alive_keeps_a_bursts_connections_open_until_its_last_answer() -> None:
    server = run_bursts("keep-alive")
    assert len(server.connections) == 10  # each burst on new connections
    assert all(c.headers == [""] for c in server.connections)  # HTTP/1.1: keep-alive
    assert all(c.closed_by_client for c in server.connections)
    # when the slowest client of a burst is answered, all five are still connected
    assert server.open_at_answer[4] == 5 and server.open_at_answer[9] == 5


def test_close_asks_the_server_to_close_each_connection_after_its_answer() -> None:
    server = run_bursts("close")
    assert len(server.connections) == 10
    assert all(c.headers == ["close"] for c in server.connections)
    assert not any(c.closed_by_client for c in server.connections)  # the server closed them
    # the earlier answers' connections are gone by the time the slowest is answered
    assert server.open_at_answer[4] == 1 and server.open_at_answer[9] == 1


def test_a_ramp_brings_every_client_on_a_connection_of_its_own() -> None:
    server = Server(lambda n: 0.05)  # answers long before the ramp ends

    async def go() -> None:
        async with serving(server) as url:
            result = await run_arrival(url, bursts(6, 1, "keep-alive") | {"arrival": {
                "mode": "bursts", "bursts": 1, "gap_ms": 0, "connection": "keep-alive",
                "ramp_ms": 600}})
            assert result.first_error() is None

    asyncio.run(go())
    # six connections, one request each, arriving about 100 ms apart: a late client never
    # reuses an early one's idle keep-alive connection
    assert len(server.connections) == 6
    assert all(len(c.headers) == 1 for c in server.connections)
    opened = sorted(c.opened for c in server.connections)
    assert 0.4 <= opened[-1] - opened[0] <= 1.5


def test_sustained_keeps_c_connections_each_sending_back_to_back() -> None:
    server = Server(lambda n: 0.05)
    params = {"clients": 3, "timeout_s": 10.0,
              "arrival": {"mode": "sustained", "duration_s": 1.5, "warmup_s": 0.3}}

    async def go() -> Any:
        async with serving(server) as url:
            return await run_arrival(url, params)

    result = asyncio.run(go())
    assert result.first_error() is None
    assert len(server.connections) == 3
    for conn in server.connections:
        assert len(conn.headers) >= 10 and set(conn.headers) == {""}
    # 3 connections x 20 answers a second at most; a busy machine only slows it down
    assert 0.5 * 60 <= result.metrics["throughput_rps"] <= 60 * 1.05
    assert result.window is not None and result.window["requests"] == len(result.steady or [])


def test_each_burst_records_every_gunicorn_workers_share() -> None:
    spec = StackSpec(name="flask-gunicorn", **BUILTIN_STACKS["flask-gunicorn"])
    with running_stack(spec) as handle:
        # 300 ms a request: every burst lasts long enough for several samples at its peak
        url = spec.url(handle.base_url, "clients", {"delay_ms": 300, "cpu_ms": 0})
        workers = sorted(p.pid for p in psutil.Process(handle.server.pid).children())
        results = {}
        for connection in ("keep-alive", "close"):
            with SpreadSampler(handle.server.tree) as sampler:
                result = asyncio.run(run_arrival(url, bursts(12, 2, connection)))
            attach_spread(result, sampler)
            assert result.first_error() is None
            results[connection] = result
    for connection, result in results.items():
        assert len(result.bursts) == 2
        for burst in result.bursts:
            assert [pid for pid, _ in burst["workers"]] == workers, connection
            held = [n for _, n in burst["workers"]]
            assert burst["busiest_worker"] == max(held) >= 3  # 12 clients on 4 workers
            assert burst["connections"] == sum(held) <= 12
    for burst in results["keep-alive"].bursts:
        assert burst["connections"] == 12  # every client held its connection to the end


def run_quart(tmp_path: Path, capsys: pytest.CaptureFixture[str], tables: str) -> Path:
    """Run one round of Quart on 127.0.0.1 (50 ms upstream, no quiet gate) with the
    config's remaining ``[run]`` keys and tables; its run folder."""
    config = tmp_path / "arrival.toml"
    config.write_text('[run]\nstacks = ["quart-hypercorn"]\nbaseline = "quart-hypercorn"\n'
                      "rounds = 1\ndelay_ms = 50\nquiet_wait_s = 0\n" + tables
                      + "\n[limits]\nforeign_cpu_max = 64\n")
    code = main(["run", "--config", str(config), "--out", str(tmp_path / "results")])
    out = capsys.readouterr().out
    assert code == 0, out
    return Path(out.split("run folder: ")[1].splitlines()[0])


def test_a_sustained_run_records_its_arrival_and_window(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = run_quart(tmp_path, capsys, """
warmup_requests = 2

[run.arrival]
mode = "sustained"
duration_s = 2
warmup_s = 0.5

[scenarios.clients]
levels = [4]

""")
    [record] = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    assert record["params"]["arrival"] == {"mode": "sustained", "duration_s": 2,
                                           "warmup_s": 0.5}
    assert "bursts" not in record
    window = record["window"]
    assert window["start_s"] == 0.5 and window["end_s"] == 2
    assert window["connections"] == 4 and len(window["workers"]) == 4
    assert record["metrics"]["throughput_rps"] == pytest.approx(window["requests"] / 1.5,
                                                                rel=1e-3)
    # The closed loop keeps its 4 clients in flight: Little's law holds, and judges it.
    little = record["checks"]["little"]
    assert little["judges"] is True and little["intended"] == 4
    assert little["within"] is True and 0.9 <= little["ratio"] <= 1.1, little
    assert little["measured"] == pytest.approx(
        record["metrics"]["throughput_rps"] * record["metrics"]["mean_response_s"], abs=1e-3)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["arrival"]["mode"] == "sustained"
    assert "4 keep-alive connections sending back to back for 2 s" in (
        run_dir / "report.md").read_text()


def test_each_arrival_runs_alike_on_two_locust_workers(tmp_path: Path,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    """The one driver runs inside Locust workers too: bursts with a gap on closed
    connections, and the sustained loop whose two shares' answers add up."""
    run_dir = run_quart(tmp_path, capsys, """
warmup_requests = 4
bursts_per_trial = 2

[stacks.quart-hypercorn]
workers = 2

[run.arrival]
gap_ms = 300
connection = "close"
duration_s = 2
warmup_s = 0.5

[sweep]
param = "mode"
values = ["bursts", "sustained"]

[scenarios.clients]
levels = [10]

[loadgen]
engine = "locust"
workers = 2
""")
    found = {json.loads(line)["stack"]: json.loads(line)
             for line in (run_dir / "trials.jsonl").read_text().splitlines()}
    bursts = found["quart-hypercorn[mode=bursts]"]
    assert bursts["status"] != "failed", bursts["error"]
    assert bursts["params"]["arrival"]["connection"] == "close"
    assert [b["ok"] for b in bursts["bursts"]] == [10, 10]
    first, second = bursts["bursts"]
    assert second["started_s"] >= first["duration_s"] + 0.3  # the gap, after the first burst
    assert sorted(w["requests"] for w in bursts["checks"]["workers"]) == [10, 10]
    sustained = found["quart-hypercorn[mode=sustained]"]
    assert sustained["status"] != "failed", sustained["error"]
    window = sustained["window"]
    assert window["start_s"] == 0.5 and window["end_s"] == 2
    # both workers' answers in the window, at most 10 connections / 50 ms
    assert 0 < window["requests"] <= 10 / 0.05 * 1.5 * 1.05
    assert sustained["metrics"]["throughput_rps"] == pytest.approx(window["requests"] / 1.5,
                                                                   rel=1e-3)
    assert window["connections"] == 10  # the workers' ten connections, seen at the server
    assert len(sustained["checks"]["workers"]) == 2
