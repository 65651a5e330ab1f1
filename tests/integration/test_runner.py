"""The runner end to end on real servers: records, failures mid-trial, the CLI."""

from __future__ import annotations

import json
import os
import signal
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import psutil

from harness.cli.main import main
from harness.config.load import config_from_dict
from harness.measure.runner import SilentProgress, start_run
from harness.targets.process import listening_ports
from tests.procs import living_children

ROOT = Path(__file__).resolve().parents[2]
FIELDS = {"schema_version", "run_id", "trial_id", "round", "order", "scenario", "stack", "level",
          "params", "status", "error", "requests", "latency_ms", "metrics", "hdr", "checks",
          "resources"}


def read_lines(run_dir: Path) -> list[dict[str, Any]]:
    """The run's records but a trial's disturbed attempt (kept, and run again)."""
    records = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    return [r for r in records if not r.get("retried")]


def test_quick_config_through_the_cli(tmp_path: Path, capsys: Any) -> None:
    code = main(["run", "--config", str(ROOT / "configs/quick.toml"), "--rounds", "2",
                 "--out", str(tmp_path), "--no-report"])
    out = capsys.readouterr().out
    assert code == 0, out
    run_dir = Path(out.split("run folder: ")[1].splitlines()[0])
    records = read_lines(run_dir)
    assert len(records) == 2 * 3 * 4  # rounds x stacks x (2 fanout + 2 clients levels)
    assert len({r["trial_id"] for r in records}) == len(records)
    for r in records:
        assert set(r) >= FIELDS, FIELDS - set(r)
        assert r["status"] in ("ok", "invalid"), r["error"]
        assert set(r["latency_ms"]) >= {"mean", "p50", "p90", "p99", "max"}
        expected = ({"duration_s", "calls_per_s"} if r["scenario"] == "fanout"
                    else {"duration_s", "mean_response_s", "throughput_rps"})
        assert set(r["metrics"]) == expected
        assert r["requests"]["ok"] == r["requests"]["total"] == r["params"].get("clients", 1)
    fanout5 = [r for r in records if r["scenario"] == "fanout" and r["level"] == 5]
    for r in fanout5:  # sequential flask makes five 20 ms calls; the async apps make them at once
        if r["stack"] == "flask-gunicorn":
            assert r["metrics"]["duration_s"] >= 0.100
        else:
            assert r["metrics"]["duration_s"] < 0.100
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stop_reason"] == "fixed rounds: 2 completed"
    assert manifest["config_hash"] and manifest["environment"]["cpu_count"] >= 1
    assert "Improvement" in out and "x [" in out


def _kill_gunicorn_mid_trial(done: threading.Event, killed: list[int]) -> None:
    """Wait until the upstream has a request in flight, then SIGKILL gunicorn's group."""
    me = psutil.Process()
    deadline = time.monotonic() + 60
    while not done.is_set() and time.monotonic() < deadline:
        commands = {}
        for proc in me.children(recursive=True):
            try:
                commands[proc] = (" ".join(proc.cmdline()), proc.ppid())
            except psutil.Error:  # gone, or a zombie
                continue
        upstream = [p for p, (cmd, _) in commands.items() if "servers.upstream" in cmd]
        gunicorn = [p for p, (cmd, ppid) in commands.items()
                    if "gunicorn" in cmd and ppid == me.pid]
        ports = listening_ports(upstream, "127.0.0.1")
        if ports and gunicorn:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{ports[0]}/stats",
                                            timeout=1) as resp:
                    in_flight = json.load(resp)["in_flight"]
            except OSError:
                in_flight = 0
            if in_flight > 0:
                os.killpg(gunicorn[0].pid, signal.SIGKILL)
                killed.append(gunicorn[0].pid)
                return
        time.sleep(0.02)


def test_server_killed_mid_trial_is_recorded_failed_and_the_run_goes_on(tmp_path: Path) -> None:
    config = config_from_dict({
        "run": {"stacks": ["flask-gunicorn"], "rounds": 2, "delay_ms": 200,
                "warmup_requests": 0, "seed": 3},
        "scenarios": {"fanout": {"levels": [5, 10]}},
        "stacks": {"flask-gunicorn": {"workers": 1, "threads": 1}},
    })
    done, killed = threading.Event(), []
    killer = threading.Thread(target=_kill_gunicorn_mid_trial, args=(done, killed))
    killer.start()
    try:
        outcome = start_run(config, tmp_path, SilentProgress(), argv=["run"])
    finally:
        done.set()
        killer.join()
    assert killed, "the test never found gunicorn serving a request"
    records = read_lines(outcome.run_dir)
    assert [r["status"] for r in records] == ["failed", "ok", "ok", "ok"]
    first = records[0]
    assert "flask-gunicorn exited with code -9 while running" in first["error"]
    assert outcome.counts == {"ok": 3, "failed": 1, "invalid": 0}
    assert not living_children()


def test_adaptive_stopping_adds_rounds_up_to_the_maximum(tmp_path: Path) -> None:
    config = config_from_dict({
        "run": {"stacks": ["flask-gunicorn", "quart-hypercorn"], "rounds": 2, "max_rounds": 3,
                "target_ci": 0.0001, "delay_ms": 10, "warmup_requests": 1, "seed": 4},
        "scenarios": {"fanout": {"levels": [3]}},
        "stacks": {"flask-gunicorn": {"workers": 1}, "quart-hypercorn": {"workers": 1}},
    })
    outcome = start_run(config, tmp_path, SilentProgress(), argv=["run"])
    assert outcome.rounds_completed == 3
    assert outcome.stop_reason.startswith("max rounds reached: 3 rounds, widest headline interval")
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert manifest["stop_reason"] == outcome.stop_reason
    assert manifest["rounds_completed"] == 3
    assert len(read_lines(outcome.run_dir)) == 3 * 2


def test_adaptive_run_on_real_servers(tmp_path: Path) -> None:
    config = config_from_dict({
        "run": {"stacks": ["flask-gunicorn", "quart-hypercorn"], "allocation": "adaptive",
                "min_rounds": 2, "max_rounds": 7, "target_ci": 0.5, "delay_ms": 10,
                "warmup_requests": 1, "seed": 6, "quiet_wait_s": 0},
        "scenarios": {"fanout": {"levels": [1, 3]}},
        # What is tested is which trials run, not the machine: other jobs' load does not
        # make the run wait or invalidate its trials.
        "limits": {"foreign_cpu_max": 8},
        "stacks": {"flask-gunicorn": {"workers": 1}, "quart-hypercorn": {"workers": 1}},
    })
    outcome = start_run(config, tmp_path, SilentProgress(), argv=["run"])
    records = read_lines(outcome.run_dir)
    manifest = json.loads((outcome.run_dir / "manifest.json").read_text())
    assert outcome.stop_reason.startswith(("target reached", "max rounds reached")), \
        outcome.stop_reason
    assert len({r["trial_id"] for r in records}) == len(records)
    # ok, or invalid where the shared machine starved the load generator anyway
    assert all(r["status"] in ("ok", "invalid") for r in records), [r["error"] for r in records]
    assert all(r["elapsed_s"] >= r["wall_s"] > 0 for r in records)  # what each trial cost
    assert sum(r["round"] <= 2 for r in records) == 2 * 4  # two full rounds
    plans = manifest["allocation"]["rounds"]
    assert plans and min(map(int, plans)) == 3  # adaptive rounds followed
    for round_no, entries in plans.items():
        ran = sorted((r["scenario"], r["level"], r["stack"]) for r in records
                     if r["round"] == int(round_no))
        assert ran == sorted((s, lv, st) for s, lv, st, n in entries for _ in range(n))
    cells = manifest["allocation"]["cells"]
    assert {(c["level"], c["stack"]) for c in cells} == {(1, "quart-hypercorn"),
                                                         (3, "quart-hypercorn")}
    assert all(c["why"] for c in cells)
    assert manifest["allocation"]["trial_s"] > 0
    assert not living_children()
