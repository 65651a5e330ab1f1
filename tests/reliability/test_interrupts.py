"""Reliability, part 3: interrupts. SIGINT and SIGTERM during a run leave intact records, no child process, and --resume finishes the run."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from harness.config.load import load_config
from harness.measure.plan import plan_round, trials_per_round

ROOT = Path(__file__).resolve().parents[2]
CONFIG = """
[run]
stacks = ["flask-gunicorn", "quart-hypercorn"]
rounds = 2
seed = 11
delay_ms = 20
warmup_requests = 2

[scenarios.fanout]
levels = [1, 3]

[scenarios.clients]
levels = [5]

[stacks.flask-gunicorn]
workers = 2

[stacks.quart-hypercorn]
workers = 2
"""


def harness(*args: str) -> subprocess.Popen[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def lines(run_dir: Path) -> list[str]:
    path = run_dir / "trials.jsonl"
    return path.read_text().splitlines() if path.exists() else []


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_mid_run_then_resume(tmp_path: Path, sig: signal.Signals, code: int) -> None:
    config_path = tmp_path / "interrupt.toml"
    config_path.write_text(CONFIG)
    out = tmp_path / "results"
    proc = harness("run", "--config", str(config_path), "--out", str(out), "--no-report")
    seen: set[int] = set()
    run_dir: Path | None = None
    deadline = time.monotonic() + 120
    try:
        while time.monotonic() < deadline:
            seen.update(p.pid for p in psutil.Process(proc.pid).children(recursive=True))
            dirs = list(out.glob("*/trials.jsonl"))
            if dirs:
                run_dir = dirs[0].parent
                if len(lines(run_dir)) >= 3:
                    break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.01)
        assert run_dir is not None
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == code, err
    assert "Traceback" not in err
    assert len(seen) >= 3
    assert [pid for pid in seen if psutil.pid_exists(pid)] == []
    written = lines(run_dir)
    records = [json.loads(line) for line in written]  # every line is complete JSON
    assert 3 <= len(records) < 12
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stop_reason"].startswith(("interrupted", "terminated"))

    resumed = harness("run", "--resume", str(run_dir), "--no-report")
    _out_text, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    final = [json.loads(line) for line in lines(run_dir)]
    assert final[: len(records)] == records  # no earlier line touched
    config = load_config(config_path)
    per_round = trials_per_round(config)
    planned = [t.trial_id for r in (1, 2) for t in plan_round(config, r, (r - 1) * per_round)]
    assert sorted(r["trial_id"] for r in final) == sorted(planned)
    assert sum(r["status"] == "ok" for r in final) == len(planned) == 12
    assert json.loads((run_dir / "manifest.json").read_text())["stop_reason"] == (
        "fixed rounds: 2 completed")


def test_resume_drops_a_truncated_last_line(tmp_path: Path) -> None:
    config_path = tmp_path / "c.toml"
    config_path.write_text(CONFIG.replace("rounds = 2", "rounds = 1"))
    proc = harness("run", "--config", str(config_path), "--out", str(tmp_path), "--no-report")
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    run_dir = next(tmp_path.glob("*/trials.jsonl")).parent
    full = lines(run_dir)
    # Pretend the run died while writing its last trial.
    (run_dir / "trials.jsonl").write_text("\n".join(full[:-1]) + "\n" + full[-1][:40])
    manifest_path = run_dir / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    manifest["stop_reason"] = "interrupted (SIGINT) during round 1"
    manifest_path.write_text(json.dumps(manifest))
    resumed = harness("run", "--resume", str(run_dir), "--no-report")
    _, err = resumed.communicate(timeout=300)
    assert resumed.returncode == 0, err
    assert "dropped an incomplete last line" in err
    after = lines(run_dir)
    assert after[:-1] == full[:-1]
    assert len(after) == len(full)
    assert json.loads(after[-1])["trial_id"] == json.loads(full[-1])["trial_id"]
