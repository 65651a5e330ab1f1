"""An app the harness does not ship, defined in a config by its command line only: a
tiny WSGI app on gunicorn and a tiny ASGI app on uvicorn, written into a temporary
folder, with their own ready path, request paths and call-count field."""

from __future__ import annotations

import dataclasses
import json
import shutil
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.config.load import config_from_dict, load_config
from harness.config.schema import External
from harness.errors import StackStartError
from harness.measure.runner import SilentProgress, start_run
from harness.targets import target_details
from harness.targets.local import running_server, running_stack, running_upstream
from tests.procs import living_children

SYNC_APP = '''
"""A WSGI app: /ready, /item?wait=D (one upstream call), /report?count=N&wait=D."""
import json, os, urllib.parse, urllib.request

UPSTREAM = os.environ["ASYNCBENCH_UPSTREAM_URL"]


def call(wait):
    with urllib.request.urlopen(f"{UPSTREAM}/delay?ms={wait}", timeout=10) as resp:
        resp.read()


def app(environ, start_response):
    query = dict(urllib.parse.parse_qsl(environ.get("QUERY_STRING", "")))
    path = environ["PATH_INFO"]
    if path == "/ready":
        body = {"ready": True}
    elif path == "/item":
        call(int(query["wait"]))
        body = {"upstream_calls": 1}
    elif path == "/report":
        for _ in range(int(query["count"])):
            call(int(query["wait"]))
        body = {"upstream_calls": int(query["count"])}
    else:
        start_response("404 Not Found", [("Content-Type", "application/json")])
        return [b"{}"]
    start_response("200 OK", [("Content-Type", "application/json")])
    return [json.dumps(body).encode()]
'''

ASYNC_APP = '''
"""An ASGI app with the same routes, making its calls concurrently with aiohttp."""
import asyncio, json, os, urllib.parse

import aiohttp

UPSTREAM = os.environ["ASYNCBENCH_UPSTREAM_URL"]


async def call(session, wait):
    async with session.get(f"{UPSTREAM}/delay?ms={wait}") as resp:
        await resp.read()


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    query = dict(urllib.parse.parse_qsl(scope["query_string"].decode()))
    status, body = 200, {"ready": True}
    if scope["path"] in ("/item", "/report"):
        count = 1 if scope["path"] == "/item" else int(query["count"])
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(call(session, int(query["wait"])) for _ in range(count)))
        body = {"upstream_calls": count}
    elif scope["path"] != "/ready":
        status, body = 404, {}
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})
'''

CONFIG = '''
[run]
stacks = ["mine-sync", "mine-async"]
baseline = "mine-sync"
delay_ms = 20
warmup_requests = 2
health_timeout_s = 30

[scenarios.fanout]
levels = [1, 4]

[scenarios.clients]
levels = [1, 4]

[stacks.mine-sync]
command = ["{python}", "-m", "gunicorn", "--no-control-socket", "--bind", "{host}:{port}",
           "--workers", "{workers}", "--threads", "{threads}", "mine_sync:app"]
cwd = "app"
workers = 1
threads = 4
paradigm = "sync"
ready_path = "/ready"
paths = { single = "/item?wait={delay_ms}", aggregate = "/report?count={n}&wait={delay_ms}" }
expect = { calls_field = "upstream_calls" }

[stacks.mine-async]
command = ["{python}", "-m", "uvicorn", "--host", "{host}", "--port", "{port}",
           "--workers", "{workers}", "--no-access-log", "mine_async:app"]
cwd = "app"
paradigm = "async"
ready_path = "/ready"
paths = { single = "/item?wait={delay_ms}", aggregate = "/report?count={n}&wait={delay_ms}" }
expect = { calls_field = "upstream_calls" }
'''


@pytest.fixture
def project(tmp_path: Path) -> Path:
    app = tmp_path / "app"
    app.mkdir()
    (app / "mine_sync.py").write_text(textwrap.dedent(SYNC_APP))
    (app / "mine_async.py").write_text(textwrap.dedent(ASYNC_APP))
    (tmp_path / "asyncbench.toml").write_text(CONFIG)
    return tmp_path


def test_own_apps_are_measured_like_builtin_ones(project: Path, capsys: Any) -> None:
    code = main(["run", "--config", str(project / "asyncbench.toml"), "--rounds", "2",
                 "--out", str(project / "results")])
    out = capsys.readouterr().out
    assert code == 0, out
    run_dir = Path(out.split("run folder: ")[1].splitlines()[0])
    records = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    records = [r for r in records if not r.get("retried")]  # a disturbed attempt is kept and run again
    assert len(records) == 2 * 2 * 4  # rounds x stacks x levels
    for r in records:
        assert r["status"] in ("ok", "invalid"), r["error"]
        assert r["requests"]["ok"] == r["requests"]["total"]
        # The harness saw the process trees: CPU and memory are measured, not blank.
        assert r["resources"]["cpu_s"] is not None, r["resources"]
        assert r["resources"]["peak_rss_mb"] and r["resources"]["processes"] >= 1
    four = {r["stack"]: r["metrics"]["duration_s"] for r in records
            if r["scenario"] == "fanout" and r["level"] == 4}
    assert four["mine-sync"] >= 0.080  # four 20 ms calls one after another
    assert four["mine-async"] < 0.080  # four at once
    manifest = json.loads((run_dir / "manifest.json").read_text())
    stack = manifest["config"]["stacks"]["mine-sync"]
    assert stack["paradigm"] == "sync" and stack["concurrency_slots"] == 4
    assert stack["command"][-1] == "mine_sync:app" and stack["cwd"].endswith("app")
    assert manifest["skipped"] == []
    assert (run_dir / "logs" / "mine-async.log").is_file()
    report = (run_dir / "report.md").read_text()
    assert "| Metric | mine-sync (baseline) | mine-async |" in report
    assert "| Server CPU per request |" in report and "| Paradigm | sync | async |" in report
    assert living_children() == []


def test_a_command_that_exits_at_once_names_the_stack_and_its_log(
        project: Path, tmp_path: Path) -> None:
    config = load_config(project / "asyncbench.toml")
    spec = config.stack("mine-sync")
    broken = type(spec)(**{**spec.__dict__, "command": ("{python}", "-c", "raise SystemExit(3)")})
    logs = tmp_path / "logs"
    with pytest.raises(StackStartError) as info, running_stack(broken, log_dir=logs):
        pass
    message = str(info.value)
    assert "\n" not in message
    assert "mine-sync exited with code 3" in message
    assert f"log: {logs / 'mine-sync.log'}" in message
    assert living_children() == []


def test_without_a_log_folder_the_log_a_failed_start_names_is_kept(project: Path) -> None:
    """A temporary log folder is removed on the way out, but not after a failed start: the
    error names the log in it (a started stack's folder still goes)."""
    config = load_config(project / "asyncbench.toml")
    spec = config.stack("mine-sync")
    broken = type(spec)(**{**spec.__dict__, "command": (
        "{python}", "-c", "print('no module named myapp'); raise SystemExit(3)")})
    with pytest.raises(StackStartError) as info, running_stack(broken):
        pass
    log = Path(str(info.value).split("log: ")[1].rstrip("]"))
    try:
        assert "no module named myapp" in log.read_text()
    finally:
        shutil.rmtree(log.parent)
    with running_stack(config.stack("mine-sync")) as handle:
        logs = handle.server.log_path.parent  # type: ignore[attr-defined]
        assert logs.is_dir()
    assert not logs.exists()
    assert living_children() == []


def test_a_server_that_never_answers_its_ready_path_names_the_stack_and_its_log(
        project: Path, tmp_path: Path) -> None:
    config = load_config(project / "asyncbench.toml")
    spec = config.stack("mine-async")
    # http.server answers 404 on /ready: it listens, but is never ready.
    silent = type(spec)(**{**spec.__dict__, "command": (
        "{python}", "-m", "http.server", "--bind", "{host}", "{port}")})
    logs = tmp_path / "logs"
    with pytest.raises(StackStartError) as info, running_stack(
            silent, log_dir=logs, health_timeout_s=2):
        pass
    message = str(info.value)
    assert "\n" not in message
    assert "mine-async was not healthy within 2 s" in message and "GET /ready" in message
    assert f"log: {logs / 'mine-async.log'}" in message
    assert living_children() == []


def test_check_runs_what_can_be_checked_of_an_own_app(project: Path, capsys: Any) -> None:
    code = main(["check", "--config", str(project / "asyncbench.toml")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "2/2 stacks passed" in out


def test_check_names_a_log_that_is_still_there_when_a_stack_fails(project: Path,
                                                                  capsys: Any) -> None:
    config_path = project / "broken.toml"
    config_path.write_text(
        '[run]\nstacks = ["broken"]\nbaseline = "broken"\n'
        '[scenarios.clients]\nlevels = [1]\n'
        '[stacks.broken]\nparadigm = "sync"\npaths = { single = "/x" }\n'
        'command = ["{python}", "-c", "import sys; print(\'no module named myapp\', '
        'file=sys.stderr); sys.exit(3)"]\n')
    code = main(["check", "--config", str(config_path)])
    out = capsys.readouterr().out
    assert code == 1, out
    log = Path(out.split("log: ")[1].split("]")[0])
    assert "no module named myapp" in log.read_text()  # the file it names, after the command
    assert f"logs: {log.parent}" in out
    shutil.rmtree(log.parent)


def test_the_interpreter_placeholder_is_this_python(project: Path) -> None:
    config = load_config(project / "asyncbench.toml")
    with running_stack(config.stack("mine-async")) as handle:
        assert handle.server.command[0] == sys.executable  # type: ignore[attr-defined]
        assert handle.server.command[6] == handle.server.base_url.rsplit(":", 1)[1]  # type: ignore[attr-defined]


def test_an_own_app_started_elsewhere_passes_the_external_target_checks(project: Path) -> None:
    config = load_config(project / "asyncbench.toml")
    spec = config.stack("mine-async")
    with running_upstream() as upstream, running_server(spec, upstream.base_url) as server:
        external = dataclasses.replace(
            config, stacks=(spec,), baseline=spec.name, target="external",
            external=External(upstream_url=upstream.base_url,
                              stacks=((spec.name, server.base_url),)))
        details = target_details(external)
    assert details["target"] == "external"
    assert details["target_endpoints"][1] == f"mine-async {server.base_url}"


def test_a_run_gives_up_a_stack_that_never_starts_after_two_attempts(tmp_path: Path) -> None:
    attempts = tmp_path / "attempts"
    count = "import sys; open(sys.argv[1], 'a').write('x'); raise SystemExit(3)"
    config = config_from_dict({
        "run": {"stacks": ["broken"], "baseline": "broken", "rounds": 1, "warmup_requests": 0},
        "scenarios": {"fanout": {"levels": [1, 2, 3]}, "clients": {"levels": [1]}},
        "stacks": {"broken": {"command": ["{python}", "-c", count, str(attempts)],
                              "paradigm": "sync"}}})
    outcome = start_run(config, tmp_path, SilentProgress(), argv=["run"])
    records = [json.loads(line) for line in
               (outcome.run_dir / "trials.jsonl").read_text().splitlines()]
    assert [r["status"] for r in records] == ["failed"] * 4
    assert attempts.read_text() == "xx"  # two starts, then the round's other trials failed
    log = outcome.run_dir / "logs" / "broken.log"
    assert all("broken exited with code 3" in r["error"] and str(log) in r["error"]
               for r in records)
    assert living_children() == []
