"""A stack that cannot start, as a new user meets it in ``run``: the line that explains
(a traceback's exception line, not gunicorn's closing bracket) and the log's path; a run
with a headline arm without an ok trial ends non-zero naming the arm; and a stack that
failed to start twice in a row is not started again in later rounds unless asked."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.measure.runner import RETRY_FLAG
from tests.behaviour import LIMITS_OFF
from tests.procs import living_children

# What gunicorn prints when its worker class cannot load: the traceback inside brackets,
# so the last line of the output is "]".
BROKEN = '''
import sys, traceback
open(sys.argv[1], "a").write("x")
print("[2026-01-01 00:00:00 +0000] [1] [INFO] Starting gunicorn 23.0.0", file=sys.stderr)
try:
    raise RuntimeError("gevent worker requires gevent 24.10.1 or higher")
except RuntimeError:
    print("Error: class uri 'gevent' invalid or not found: \\n\\n[%s]"
          % traceback.format_exc(), file=sys.stderr)
sys.exit(1)
'''

GOOD = '''
import json, os, urllib.request

UPSTREAM = os.environ["ASYNCBENCH_UPSTREAM_URL"]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps({"calls": 0}).encode()})
'''

CONFIG = '''
[run]
stacks = ["good", "broken"]
baseline = "good"
rounds = 3
warmup_requests = 0
health_timeout_s = 20
quiet_wait_s = 0  # what is tested is the harness's behaviour, not a measurement

[scenarios.clients]
levels = [1, 2]

[stacks.good]
command = ["{python}", "-m", "uvicorn", "--host", "{host}", "--port", "{port}",
           "--no-access-log", "good:app"]
cwd = "app"
paradigm = "async"
paths = { single = "/x" }

[stacks.broken]
command = ["{python}", "broken.py", "ATTEMPTS"]
cwd = "app"
paradigm = "sync"
paths = { single = "/x" }
''' + LIMITS_OFF


@pytest.fixture
def project(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "broken.py").write_text(textwrap.dedent(BROKEN))
    (app / "good.py").write_text(textwrap.dedent(GOOD))
    (tmp_path / "asyncbench.toml").write_text(
        CONFIG.replace("ATTEMPTS", str(tmp_path / "attempts")))
    return tmp_path


def _run(project: Path, capsys: Any, *extra: str) -> tuple[int, str, str, Path]:
    code = main(["run", "--config", str(project / "asyncbench.toml"), "--no-report",
                 "--out", str(project / "results"), *extra])
    captured = capsys.readouterr()
    run_dir = Path(captured.out.split("run folder: ")[1].splitlines()[0])
    return code, captured.out, captured.err, run_dir


def test_a_stack_that_cannot_start_is_explained_given_up_and_fails_the_run(
        project: Path, capsys: Any) -> None:
    code, out, err, run_dir = _run(project, capsys)
    log = run_dir / "logs" / "broken.log"
    explained = "RuntimeError: gevent worker requires gevent 24.10.1 or higher"
    # The run's own lines carry the explaining line and the log, never the bracket.
    assert explained in err and f"log: {log}" in err
    assert "(])" not in err and "last output: ]" not in err
    records = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    broken = [r for r in records if r["stack"] == "broken"]
    assert len(broken) == 3 * 2 and all(r["status"] == "failed" for r in broken)
    assert explained in broken[0]["error"] and str(log) in broken[0]["error"]
    # Two failed starts in round 1, then never started again: its later trials say why.
    assert (project / "attempts").read_text() == "xx"
    later = [r for r in broken if r["round"] > 1]
    assert all(r["error"].startswith("not started: broken failed to start 2 times in a row")
               and RETRY_FLAG in r["error"] for r in later)
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert list(manifest["stacks_given_up"]) == ["broken"]
    # The baseline was measured; the broken arms make the run fail, named on the last line.
    assert all(r["status"] == "ok" for r in records if r["stack"] == "good")
    assert code == 1
    last = err.strip().splitlines()[-1]
    assert last.startswith("asyncbench: error: no ok trial in 2 headline arms: broken at "
                           "clients C=1, clients C=2"), last
    assert explained in last
    assert "trials: " in out and "Traceback" not in err
    assert living_children() == []


def test_the_flag_starts_a_failing_stack_again_every_round(project: Path, capsys: Any) -> None:
    code, _, err, run_dir = _run(project, capsys, "--rounds", "2", RETRY_FLAG)
    assert code == 1 and "no ok trial in 2 headline arms: broken" in err
    assert (project / "attempts").read_text() == "xxxx"  # two starts in each of two rounds
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["stacks_given_up"] == {}
    assert living_children() == []


def test_a_run_whose_every_arm_has_an_ok_trial_ends_zero(project: Path, capsys: Any) -> None:
    code, _, err, run_dir = _run(project, capsys, "--rounds", "1", "--stacks", "good",
                                 "--run-id", "first-contact")
    assert code == 0, err
    assert "no ok trial" not in err
    assert run_dir == project / "results" / "first-contact"
    assert json.loads((run_dir / "manifest.json").read_text())["run_id"] == "first-contact"
    # The same name again is refused before anything starts, in one line.
    assert main(["run", "--config", str(project / "asyncbench.toml"), "--stacks", "good",
                 "--out", str(project / "results"), "--run-id", "first-contact"]) == 2
    again = capsys.readouterr().err
    assert again.count("\n") == 1 and "already exists; choose another --run-id" in again


def test_an_adaptive_run_gives_up_the_stack_and_plans_it_no_more(project: Path,
                                                                  capsys: Any) -> None:
    code, out, err, run_dir = _run(project, capsys, "--allocation", "adaptive",
                                   "--min-rounds", "2", "--max-rounds", "6",
                                   "--target-ci", "0.5", "--run-id", "adaptive-given-up")
    assert run_dir == project / "results" / "adaptive-given-up"
    assert (project / "attempts").read_text() == "xx"  # two failed starts, then none
    records = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    # Two full rounds; the adaptive rounds that follow have no cell left to give trials.
    assert {r["round"] for r in records} == {1, 2}
    assert all(r["status"] == "ok" for r in records if r["stack"] == "good")
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert list(manifest["stacks_given_up"]) == ["broken"]
    assert manifest["stop_reason"].startswith("no trial left to plan after 2 rounds: broken not "
                                              "started again; 0 of 2 headline intervals")
    assert "rounds" not in manifest["allocation"]
    assert [c["why"] for c in manifest["allocation"]["cells"]] == ["broken not started again"] * 2
    assert code == 1
    assert err.strip().splitlines()[-1].startswith(
        "asyncbench: error: no ok trial in 2 headline arms: broken at clients C=1, clients C=2")
    assert "stopped: no trial left to plan" in out
    assert living_children() == []
