"""The locust engine on 127.0.0.1: a Locust master and worker processes carrying every
scenario, a worker lost mid-trial, a worker from an address that is not allowed, and no
process left behind after success, failure or SIGINT."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import msgpack
import psutil
import pytest
import zmq

from harness.cli.main import main
from harness.config.load import config_from_dict
from harness.config.loadgen import LoadgenSettings
from harness.errors import LoadGeneratorError
from harness.loadgen import locust_engine
from harness.loadgen.engines import open_engine
from harness.loadgen.locust_engine import LocustEngine
from harness.loadgen.scenario import Job
from harness.measure.runner import start_run
from harness.targets.local import running_upstream
from tests.procs import living_children

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]
LOCUST = {"engine": "locust", "workers": 2}
CONFIG = """
[run]
stacks = ["flask-gunicorn", "quart-hypercorn"]
rounds = 1
seed = 3
delay_ms = 20
warmup_requests = 4
request_timeout_s = 30
bursts_per_trial = 2
quiet_wait_s = 0

[stacks.flask-gunicorn]
workers = 2

[stacks.quart-hypercorn]
workers = 2

[scenarios.fanout]
levels = [5]

[scenarios.clients]
levels = [20]

[scenarios.rate]
levels = [60]
duration_s = 1

[loadgen]
engine = "locust"
workers = 2
"""


def records(run_dir: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]


def not_by_workers(record: dict[str, Any]) -> bool:
    """An ok trial, or one the busy shared machine disturbed (never the engine's fault)."""
    return record["status"] == "ok" or (
        record["status"] == "invalid" and not str(record["error"]).startswith("worker"))


def test_every_scenario_runs_on_two_locust_workers(tmp_path: Path, capsys: Any) -> None:
    config = tmp_path / "locust.toml"
    config.write_text(CONFIG)
    code = main(["run", "--config", str(config), "--out", str(tmp_path), "--no-report"])
    out = capsys.readouterr().out
    assert code == 0, out
    run_dir = Path(out.split("run folder: ")[1].splitlines()[0])
    found = records(run_dir)
    assert sorted((r["stack"], r["scenario"]) for r in found) == sorted(
        (s, c) for s in ("flask-gunicorn", "quart-hypercorn") for c in ("fanout", "clients", "rate"))
    for r in found:
        assert not_by_workers(r), r["error"]
        workers = r["checks"]["workers"]
        if r["scenario"] == "fanout":
            assert r["requests"]["total"] == r["requests"]["ok"] == 1
            assert [w["worker"] for w in workers] == [0]  # one request: one worker
        elif r["scenario"] == "clients":  # 20 clients split 10 + 10, two bursts each
            assert r["requests"]["ok"] == r["requests"]["total"] == 40
            assert sorted(w["requests"] for w in workers) == [20, 20]
            assert [b["ok"] for b in r["bursts"]] == [20, 20]
            assert r["metrics"]["throughput_rps"] == pytest.approx(
                20 / r["metrics"]["duration_s"], rel=1e-4)
        else:  # 60 sends, dealt 30 + 30
            assert r["requests"]["ok"] == r["requests"]["total"] == 60
            assert r["params"]["processes"] == 2 and r["checks"]["loadgen_processes"] == 2
            assert all(w["send_lag_p99_ms"] is not None for w in workers)
        assert all(w["pid"] and w["cpu"] is not None for w in workers)
        assert r["checks"]["loadgen_cpu"] == max(w["cpu"] for w in workers)
    fanout = {r["stack"]: r for r in found if r["scenario"] == "fanout"}
    assert fanout["flask-gunicorn"]["metrics"]["duration_s"] >= 0.100  # 5 x 20 ms in a row
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["loadgen"]["engine"] == "locust"
    assert manifest["loadgen"]["local_workers"] == 2
    assert manifest["config"]["loadgen"]["workers"] == 2
    assert living_children() == []


def rate_job(url: str, rate: int = 40, seconds: float = 3.0) -> Job:
    return Job("rate", f"{url}/delay?ms=10", {"rate_rps": rate, "duration_s": seconds,
                                              "timeout_s": 10}, calls_field=None)


async def drive(engine: Any, job: Job) -> Any:
    async with engine.prepared(job) as load:
        return await load.run()


def test_a_worker_killed_mid_trial_makes_it_invalid_and_the_next_runs(tmp_path: Path) -> None:
    with running_upstream(log_dir=tmp_path) as upstream, \
            open_engine(LoadgenSettings(**LOCUST), None, tmp_path) as engine:
        assert isinstance(engine, LocustEngine)
        victim = engine.children[1]
        assert victim is not None
        timer = threading.Timer(1.0, os.kill, (victim.pid, signal.SIGKILL))
        timer.start()
        result = asyncio.run(drive(engine, rate_job(upstream.base_url)))
        timer.join()
        assert result.disturbed is not None
        # Workers are numbered in the order they joined the master, not started here.
        assert result.disturbed.startswith("worker lost: worker "), result.disturbed
        assert len(result.workers) == 1  # the survivor's part is kept
        assert result.workers[0]["pid"] != victim.pid
        again = asyncio.run(drive(engine, rate_job(upstream.base_url, seconds=1.0)))
        assert again.disturbed is None
        assert again.request_counts["ok"] == 40 and len(again.workers) == 2
        assert engine.notes() == ["started 1 lost local Locust worker(s) again"]
    assert living_children() == []


class Counting:
    """A Progress that kills a local worker one second into the second trial."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.notes: list[str] = []

    def start(self, total: int) -> None: ...
    def extend(self, total: int) -> None: ...

    def advance(self, record: dict[str, Any]) -> None:
        self.seen.append(record)
        if len(self.seen) == 1:
            workers = [p for p in psutil.Process().children(recursive=True)
                       if "--master" in p.cmdline() and not any(
                           a.endswith("guard.py") for a in p.cmdline())]
            threading.Timer(1.0, os.kill, (workers[0].pid, signal.SIGKILL)).start()

    def note(self, message: str) -> None:
        self.notes.append(message)


def test_the_run_goes_on_after_a_lost_worker(tmp_path: Path) -> None:
    config = config_from_dict({
        "run": {"stacks": ["quart-hypercorn"], "baseline": "quart-hypercorn", "rounds": 1,
                "warmup_requests": 0,
                "quiet_wait_s": 0, "delay_ms": 10},
        "scenarios": {"rate": {"levels": [20, 30, 40], "duration_s": 3}},
        "loadgen": LOCUST}, source=str(tmp_path / "kill.toml"))
    progress = Counting()
    outcome = start_run(config, tmp_path, progress, argv=[])
    assert [r["status"] for r in progress.seen][1] == "invalid"
    assert str(progress.seen[1]["error"]).startswith("worker lost: worker ")
    assert not_by_workers(progress.seen[0]) and not_by_workers(progress.seen[2])
    assert progress.seen[2]["requests"]["ok"] == progress.seen[2]["level"] * 3
    assert outcome.stop_reason == "fixed rounds: 1 completed"
    assert "started 1 lost local Locust worker(s) again" in progress.notes
    assert living_children() == []


def client_ready(port: int, source: str, node: str) -> zmq.Socket[Any]:
    """A raw worker socket saying hello from ``source`` (what Locust's worker sends first)."""
    sock = zmq.Context.instance().socket(zmq.DEALER)
    sock.setsockopt(zmq.IDENTITY, node.encode())
    sock.setsockopt(zmq.LINGER, 0)
    sock.connect(f"tcp://{source}:0;127.0.0.1:{port}")
    sock.send(msgpack.dumps(("client_ready", "2.47.0", node)))
    return sock


def test_a_worker_from_an_address_not_allowed_is_refused(tmp_path: Path) -> None:
    settings = LoadgenSettings(engine="locust", workers=1)
    with open_engine(settings, None, tmp_path) as engine:
        assert isinstance(engine, LocustEngine)
        stranger = client_ready(engine.port, "127.0.0.2", "stranger")
        friend = client_ready(engine.port, "127.0.0.1", "friend")
        try:
            time.sleep(1.0)
            reply = engine.request({"op": "workers", "want": 3, "timeout_s": 2}, 2)
            assert "127.0.0.2" in reply["refused"]
            assert "friend" in reply["workers"] and "stranger" not in reply["workers"]
            assert len(reply["workers"]) == 2
        finally:
            stranger.close()
            friend.close()
        assert engine.master.startswith("127.0.0.1:")
    master_log = (tmp_path / "locust-master.log").read_text()
    assert "refused a worker connecting from 127.0.0.2" in master_log


def tokens(run_dir: Path) -> set[str]:
    return {json.loads(line)["token"] for line in (run_dir / "pids.jsonl").read_text().splitlines()}


def carrying(wanted: set[str]) -> list[psutil.Process]:
    left = []
    for proc in psutil.process_iter():
        try:
            if proc.environ().get("ASYNCBENCH_GUARD") in wanted:
                left.append(proc)
        except psutil.Error:
            continue
    return left


def test_no_process_left_after_sigint_or_a_failed_stack(tmp_path: Path) -> None:
    config = tmp_path / "locust.toml"
    config.write_text(CONFIG.replace("rounds = 1", "rounds = 3"))
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    out = tmp_path / "results"
    proc = subprocess.Popen([sys.executable, "-m", "harness", "run", "--config", str(config),
                             "--out", str(out), "--no-report"], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    run_dir = None
    while time.monotonic() < deadline:
        found = list(out.glob("*/trials.jsonl"))
        if found and found[0].read_text():
            run_dir = found[0].parent
            break
        time.sleep(0.2)
    assert run_dir is not None, proc.communicate(timeout=60)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert err.strip().splitlines()[-1] == "asyncbench: interrupted"
    assert carrying(tokens(run_dir)) == []

    broken = tmp_path / "broken.toml"
    broken.write_text("""
[run]
stacks = ["mine"]
baseline = "mine"
rounds = 1
warmup_requests = 2
quiet_wait_s = 0

[stacks.mine]
command = ["python", "-c", "import sys; sys.exit(3)"]
paradigm = "async"

[scenarios.clients]
levels = [4]

[loadgen]
engine = "locust"
workers = 2
""")
    done = subprocess.run([sys.executable, "-m", "harness", "run", "--config", str(broken),
                           "--out", str(out), "--no-report"], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    failed_dir = sorted(p.parent for p in out.glob("*/trials.jsonl"))[-1]
    assert failed_dir != run_dir, done.stderr
    assert {r["status"] for r in records(failed_dir)} == {"failed"}
    assert carrying(tokens(failed_dir)) == []


class Rogue(threading.Thread):
    """A worker speaking Locust's protocol from 127.0.0.1 (an allowed address) that answers
    each order with what ``answer(trial)`` says: a list of messages to send."""

    def __init__(self, port: int, answer: Any) -> None:
        super().__init__(daemon=True)
        self.sock = client_ready(port, "127.0.0.1", "rogue")
        self.answer = answer
        self.stop = threading.Event()

    def send(self, kind: str, data: Any) -> None:
        self.sock.send(msgpack.dumps((kind, data, "rogue")))

    def run(self) -> None:
        poller = zmq.Poller()
        poller.register(self.sock, zmq.POLLIN)
        beat = 0.0
        while not self.stop.is_set():
            if time.monotonic() - beat > 0.5:
                self.send("heartbeat", {"state": "ready", "current_cpu_usage": 1.0})
                beat = time.monotonic()
            if not poller.poll(50):
                continue
            kind, data, _ = msgpack.loads(self.sock.recv(), raw=False)
            if kind == "asyncbench_order":
                for item in self.answer(data["trial"]):
                    if isinstance(item, bytes):
                        self.sock.send(item)
                    else:
                        self.send(*item)


def test_malformed_messages_invalidate_that_workers_part_and_the_master_carries_on(
        tmp_path: Path) -> None:
    settings = LoadgenSettings(engine="locust", workers=1)
    with running_upstream(log_dir=tmp_path) as upstream, \
            open_engine(settings, None, tmp_path) as engine:
        assert isinstance(engine, LocustEngine)
        job = Job("clients", f"{upstream.base_url}/delay?ms=5", {"clients": 4, "timeout_s": 5},
                  calls_field=None)
        bad_report = {"kind": "closed", "hdr": "x", "counts": {}}
        rogue = Rogue(engine.port, lambda trial: [
            ("asyncbench_ready", {"trial": trial, "burst": 1}),
            ("asyncbench_report", {"trial": trial, "report": bad_report})])
        rogue.start()
        engine.local = 2  # the rogue counts as the second worker to wait for
        try:
            result = asyncio.run(drive(engine, job))
            assert result.disturbed is not None
            assert result.disturbed.startswith("worker 1 sent a malformed report: counts must "
                                               "have exactly the keys"), result.disturbed
            assert result.request_counts["ok"] == 2  # the local worker's share is kept
            rogue.answer = lambda trial: [b"\xc1 not msgpack"]
            result = asyncio.run(drive(engine, job))
            assert (result.disturbed or "").startswith(
                "worker 1 sent a malformed message: a message that does not decode"), \
                result.disturbed
        finally:
            rogue.stop.set()
            rogue.join(5)
            rogue.send("quit", None)  # as a Locust worker leaving says
            time.sleep(0.5)
            rogue.sock.close()
        engine.local = 1
        again = asyncio.run(drive(engine, job))  # the master is still there, and answers
        assert again.disturbed is None and again.request_counts["ok"] == 4


def test_missing_workers_stop_with_one_line_counting_them(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    with open_engine(LoadgenSettings(engine="locust", workers=1), None, tmp_path) as engine:
        assert isinstance(engine, LocustEngine)
        monkeypatch.setattr(locust_engine, "START_TIMEOUT_S", 2.0)
        engine.local = 2  # one more local worker than was started: it never joins
        with pytest.raises(LoadGeneratorError) as info:
            asyncio.run(drive(engine, rate_job("http://127.0.0.1:9")))
        engine.local = 1
    assert str(info.value).startswith("1 of 2 Locust workers missing after 2 s (2 local, 0 "
                                      "remote expected; remote ones join with `asyncbench "
                                      "worker --master 127.0.0.1:")
    assert "\n" not in str(info.value)
    assert living_children() == []
