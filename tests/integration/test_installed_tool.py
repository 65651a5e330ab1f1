"""The harness installed as a tool, the way a user measuring their own service gets it: a
wheel built with ``uv build``, installed into a fresh virtual environment outside the
repository (from the uv cache, offline: the files ``uv.lock`` pins), runs ``asyncbench
stacks`` and a two-round run of a tiny app's config from the user's own folder, with the
config's relative paths resolved from the config's folder and the results written under
the current folder; the run publishes, its bundle carrying the tool's lock file.

Skipped, with the reason, where no ``uv`` can be found (``$ASYNCBENCH_UV``, ``uv`` on
PATH, or the project's ``.tools/bin/uv`` that ``make`` installs).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.behaviour import LIMITS_OFF

ROOT = Path(__file__).resolve().parents[2]

APP = '''
"""A tiny ASGI app: /ready, and /item?wait=D making one upstream call."""
import json, os, urllib.request

UPSTREAM = os.environ["ASYNCBENCH_UPSTREAM_URL"]


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    body = {"calls": 0}
    if scope["path"] == "/item":
        wait = scope["query_string"].decode().partition("=")[2]
        with urllib.request.urlopen(f"{UPSTREAM}/delay?ms={wait}", timeout=10) as resp:
            resp.read()
        body = {"calls": 1}
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})
'''

CONFIG = '''
[run]
stacks = ["tiny-one", "tiny-two"]
baseline = "tiny-one"
rounds = 2
delay_ms = 5
warmup_requests = 2
quiet_wait_s = 0  # what is tested is the installation, not a measurement

[scenarios.clients]
levels = [1, 4]

[stacks.tiny-one]
command = ["{python}", "-m", "uvicorn", "--host", "{host}", "--port", "{port}",
           "--no-access-log", "tiny:app"]
cwd = "../app"                      # relative to this file, not to where the tool runs
paradigm = "async"
ready_path = "/ready"
paths = { single = "/item?wait={delay_ms}" }

[stacks.tiny-two]
command = ["{python}", "-m", "uvicorn", "--host", "{host}", "--port", "{port}",
           "--workers", "{workers}", "--no-access-log", "tiny:app"]
cwd = "../app"
workers = 2
paradigm = "async"
ready_path = "/ready"
paths = { single = "/item?wait={delay_ms}" }
''' + LIMITS_OFF


def find_uv() -> str:
    for candidate in (os.environ.get("ASYNCBENCH_UV"), shutil.which("uv"),
                      str(ROOT / ".tools" / "bin" / "uv")):
        if candidate and Path(candidate).is_file() and os.access(candidate, os.X_OK):
            return candidate
    pytest.skip("no uv found ($ASYNCBENCH_UV, uv on PATH or .tools/bin/uv): `make dev` "
                "installs it")


def run(argv: list[str], cwd: Path, env: dict[str, str],
        timeout: float = 600) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, f"{' '.join(argv)}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.fixture(scope="module")
def tool(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh environment outside the repository with the built wheel installed; its
    ``bin`` folder."""
    uv = find_uv()
    where = tmp_path_factory.mktemp("tool")
    env = {k: v for k, v in os.environ.items()
           if k not in ("PYTHONPATH", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}
    dist = where / "dist"
    run([uv, "build", "--wheel", "--offline", "--out-dir", str(dist), str(ROOT)], where, env)
    [wheel] = dist.glob("asyncbench-*.whl")
    # The lock's own files (a PEP 751 lock names each one), so the cache serves them offline.
    pins = where / "pylock.toml"
    exported = run([uv, "export", "--frozen", "--no-dev", "--no-emit-project",
                    "--format", "pylock.toml", "--project", str(ROOT)], where, env)
    pins.write_text(exported.stdout)
    venv = where / "venv"
    python = str(venv / "bin" / "python")
    run([uv, "venv", "--offline", "--python", sys.executable, str(venv)], where, env)
    run([uv, "pip", "install", "--offline", "--python", python, "-r", str(pins)], where, env)
    run([uv, "pip", "install", "--offline", "--no-deps", "--python", python, str(wheel)],
        where, env)
    return venv / "bin"


@pytest.fixture
def user_env() -> dict[str, str]:
    """The environment of a user's shell: nothing points at the repository."""
    return {k: v for k, v in os.environ.items()
            if k not in ("PYTHONPATH", "VIRTUAL_ENV", "UV_PROJECT_ENVIRONMENT")}


def test_the_installed_tool_imports_itself_not_the_checkout(tool: Path,
                                                            user_env: dict[str, str],
                                                            tmp_path: Path) -> None:
    done = run([str(tool / "python"), "-c",
                "import harness, servers, harness.paths as p; "
                "print(harness.__file__, servers.__file__, p.SOURCE_CHECKOUT, p.TEMPLATES, "
                "p.LOCK_FILE.is_file(), (p.CONFIGS / 'quick.toml').is_file())"],
               tmp_path, user_env)
    harness_file, servers_file, checkout, templates, lock, quick = done.stdout.split()
    venv = str(tool.parent)
    assert harness_file.startswith(venv) and servers_file.startswith(venv)
    assert (checkout, lock, quick) == ("False", "True", "True")
    assert templates.startswith(venv) and Path(templates, "report.md.j2").is_file()


def test_stacks_and_a_two_round_run_from_the_users_own_folder(
        tool: Path, user_env: dict[str, str], tmp_path: Path) -> None:
    project = tmp_path / "myproject"
    (project / "app").mkdir(parents=True)
    (project / "bench").mkdir()
    (project / "app" / "tiny.py").write_text(textwrap.dedent(APP))
    (project / "bench" / "asyncbench.toml").write_text(CONFIG)
    asyncbench = str(tool / "asyncbench")

    listed = run([asyncbench, "stacks", "--config", "bench/asyncbench.toml"], project, user_env)
    assert "flask-gunicorn" in listed.stdout and "tiny-two" in listed.stdout

    done = run([asyncbench, "run", "--config", "bench/asyncbench.toml"], project, user_env)
    assert "Traceback" not in done.stderr
    run_dir = Path(done.stdout.split("run folder: ")[1].splitlines()[0])
    if not run_dir.is_absolute():
        run_dir = project / run_dir
    assert run_dir.parent == project / "results"  # under the current folder
    records = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    assert len(records) == 2 * 2 * 2 and all(r["status"] == "ok" for r in records), [
        r["error"] for r in records if r["status"] != "ok"]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["stacks"]["tiny-one"]["cwd"] == str(project / "app")
    assert manifest["lock_hash"]  # the tool's own lock file, found as shared data
    assert (run_dir / "report.md").is_file() and (run_dir / "report.html").is_file()
    assert "Headline findings" in (run_dir / "report.md").read_text()

    published = run([asyncbench, "publish", str(run_dir.relative_to(project))], project,
                    user_env)
    assert "bundle: " in published.stdout
    checked = run([asyncbench, "verify", f"results/{run_dir.name}.tar.gz"], project, user_env)
    assert "ok: " in checked.stdout
