"""Reliability, part 2: faults. The run records what happened, keeps every earlier
line, and stops or continues as configured, with a clear message."""

from __future__ import annotations

import json
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.config.catalogue import BUILTIN_STACKS
from harness.config.load import config_from_dict
from harness.config.schema import StackSpec
from harness.errors import StackStartError
from harness.measure.plan import plan_round
from harness.measure.runner import SilentProgress, start_run
from harness.measure.trial import run_trial
from harness.paths import PROJECT_ROOT
from harness.targets.argv import upstream_command
from harness.targets.local import running_stack
from harness.targets.process import managed_process
from tests.procs import living_children

TINY = {
    "run": {"stacks": ["flask-gunicorn", "quart-hypercorn"], "rounds": 1, "delay_ms": 10,
            "warmup_requests": 1, "seed": 2},
    "scenarios": {"fanout": {"levels": [2]}, "clients": {"levels": [4]}},
    "stacks": {"flask-gunicorn": {"workers": 1}, "quart-hypercorn": {"workers": 1}},
}


def spec(name: str) -> StackSpec:
    return StackSpec(name=name, **dict(BUILTIN_STACKS[name], workers=1))  # type: ignore[arg-type]


def test_port_already_taken_is_a_clear_start_error(tmp_path: Path) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = dict(os.environ, PYTHONPATH=str(PROJECT_ROOT))
        command = upstream_command(sys.executable, "127.0.0.1", port)
        with pytest.raises(StackStartError) as info, \
                managed_process("upstream", command, env, "127.0.0.1", port=port,
                                health_timeout_s=10, log_dir=tmp_path):
            pass
    message = str(info.value)
    assert "upstream exited with code" in message and "before it was ready" in message
    assert "in use" in message.lower() or "errno 98" in message.lower(), message


@pytest.mark.parametrize("name", ["flask-gunicorn", "quart-hypercorn"])
def test_upstream_answering_500_fails_the_trial_with_its_reason(name: str) -> None:
    config = config_from_dict(TINY)
    trial = next(t for t in plan_round(config, 1) if t.stack == name and t.scenario == "clients")
    with running_stack(spec(name), upstream_fail_status=500) as handle:
        record = run_trial(config, "run", handle, trial)
    assert record["status"] == "failed"
    assert record["requests"]["http_status"] == 4 and record["requests"]["ok"] == 0
    assert "4 of 4 requests failed (4 http_status; first: HTTP 502" in record["error"]


def test_upstream_down_fails_the_trial_and_names_it() -> None:
    config = config_from_dict(TINY)
    trial = next(t for t in plan_round(config, 1)
                 if t.stack == "quart-hypercorn" and t.scenario == "fanout")
    with running_stack(spec("quart-hypercorn")) as handle:
        os.kill(handle.upstream.pid, signal.SIGKILL)
        handle.upstream.popen.wait()
        record = run_trial(config, "run", handle, trial)
    assert record["status"] == "failed"
    assert "upstream exited with code -9 while running" in record["error"]


def test_a_stack_that_cannot_start_fails_its_trials_and_the_run_goes_on(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import harness.targets.local

    real = harness.targets.local.server_command

    def broken(python: str, stack: StackSpec, host: str, port: int = 0,
               upstream_url: str = "") -> list[str]:
        if stack.name == "flask-gunicorn":  # a server that dies at start, with a message
            return [python, "-c", "import sys; sys.exit('worker failed to boot: injected')"]
        return real(python, stack, host, port, upstream_url)

    monkeypatch.setattr(harness.targets.local, "server_command", broken)
    outcome = start_run(config_from_dict(TINY), tmp_path, SilentProgress(), argv=["run"])
    records = [json.loads(x) for x in (outcome.run_dir / "trials.jsonl").read_text().splitlines()]
    flask = [r for r in records if r["stack"] == "flask-gunicorn"]
    quart = [r for r in records if r["stack"] == "quart-hypercorn"]
    assert [r["status"] for r in quart] == ["ok", "ok"]
    assert [r["status"] for r in flask] == ["failed", "failed"]  # one start attempt per trial
    for r in flask:
        assert "flask-gunicorn exited with code 1 before it was ready" in r["error"]
        assert "worker failed to boot: injected" in r["error"]
    assert outcome.counts == {"ok": 2, "failed": 2, "invalid": 0}
    assert not living_children()


def test_on_failure_stop_ends_the_run_with_the_reason(tmp_path: Path, capsys: Any) -> None:
    config_path = tmp_path / "stop.toml"
    config_path.write_text("""
[run]
stacks = ["flask-gunicorn", "quart-hypercorn"]
rounds = 2
delay_ms = 10
warmup_requests = 0
on_failure = "stop"
request_timeout_s = 0.05

[scenarios.fanout]
levels = [20]

[stacks.flask-gunicorn]
workers = 1

[stacks.quart-hypercorn]
workers = 1
""")
    code = main(["run", "--config", str(config_path), "--out", str(tmp_path), "--no-report"])
    captured = capsys.readouterr()
    out = captured.out
    # The stopped trial's arm has no ok trial: the run fails, naming it on its last line.
    assert code == 1
    last = captured.err.strip().splitlines()[-1]
    assert last.startswith("asyncbench: error: no ok trial in "), last
    assert "flask-gunicorn at fanout N=20 (last error: 1 of 1 requests failed (1 timeout" in last
    run_dir = next(tmp_path.glob("*/manifest.json")).parent
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stop_reason"].startswith("stopped on failure (on_failure = stop): trial r001-")
    records = [json.loads(x) for x in (run_dir / "trials.jsonl").read_text().splitlines()]
    # flask needs 20 x 10 ms > 50 ms and times out; the run stops at its first trial
    assert records[-1]["status"] == "failed" and "timeout" in records[-1]["error"]
    assert "stopped: stopped on failure" in out
    assert not living_children()
