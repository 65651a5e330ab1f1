"""The compose target on this machine's real container engine: the image is built (the
Debian base reused when present), the quick config runs end to end in containers with
their resources measured, and no container or network of the run is left after a normal
end, a Ctrl-C or a failed start.

Skipped, with the reason, where no engine answers or the engine cannot start a container.
The harness runs in a child process, as a user runs it: the network goes at its exit.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.config.catalogue import BUILTIN_STACKS
from harness.config.load import load_config, with_overrides
from harness.config.schema import StackSpec
from harness.errors import TargetError
from harness.paths import engine_environment
from harness.targets import open_stack, podman
from harness.targets.compose import COMPOSE_PROJECT, Engine, require_engine, tear_down_now

# The first test builds the image in its set-up: minutes on a cold machine.
pytestmark = [pytest.mark.containers, pytest.mark.timeout(1800)]

ROOT = Path(__file__).resolve().parents[2]
CPUS = sorted(os.sched_getaffinity(0))
# The upstream on the first CPU, the server on the last (the same one on a 1-CPU machine).
CPUSETS = {"ASYNCBENCH_UPSTREAM_CPUSET": str(CPUS[0]), "ASYNCBENCH_SERVER_CPUSET": str(CPUS[-1])}


IMAGE = "asyncbench:local"
# What an engine says when it cannot create a container at all (cgroups, rlimits, runtime).
CANNOT_RUN = ("OCI runtime", "error running container", "runc create failed")


def _last_line(text: str) -> str:
    return (text.strip().splitlines() or ["no output"])[-1]


def _engine_command(argv: list[str], timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False,
                          env=engine_environment(), stdin=subprocess.DEVNULL)


def _containers(engine: Engine) -> list[str]:
    """Names of the containers running now."""
    return _engine_command([engine.name, "ps", "--format", "{{.Names}}"]).stdout.split()


def _leftovers(engine: Engine) -> list[str]:
    """Containers and networks of the run still known to the engine."""
    if engine.name == "podman":
        label = f"label={podman.PROJECT_LABEL}={COMPOSE_PROJECT}"
        queries = [["podman", "ps", "--all", "--filter", label, "--format", "{{.Names}}"],
                   ["podman", "network", "ls", "--filter", label, "--format", "{{.Name}}"],
                   ["podman", "pod", "ps", "--filter", f"name={COMPOSE_PROJECT}",
                    "--format", "{{.Name}}"]]
    else:
        label = f"label=com.docker.compose.project={COMPOSE_PROJECT}"
        queries = [["docker", "ps", "--all", "--filter", label, "--format", "{{.Names}}"],
                   ["docker", "network", "ls", "--filter", label, "--format", "{{.Name}}"]]
    return [line for argv in queries for line in _engine_command(argv).stdout.split()]


@pytest.fixture(scope="module")
def engine() -> Iterator[Engine]:
    """The engine, the image built on it; skipped with the reason where it cannot run."""
    try:
        found = require_engine()
    except TargetError as exc:
        pytest.skip(f"no container engine to run the compose target on: {exc}")
    started = time.monotonic()
    built = subprocess.run([sys.executable, "scripts/build_image.py", "--engine", found.name],
                           cwd=ROOT, capture_output=True, text=True, timeout=1800, check=False)
    output = built.stdout[-3000:] + built.stderr[-3000:]
    if built.returncode == 3:  # not Debian, not root or no debootstrap: it says which
        pytest.skip(f"cannot build the image here: {_last_line(built.stderr)}")
    if built.returncode != 0 and any(s in output for s in CANNOT_RUN):
        pytest.skip(f"{found.name} answers but cannot run the build's containers here: "
                    f"{_last_line(output)}")
    assert built.returncode == 0, output
    print(f"image built in {time.monotonic() - started:.0f} s")
    probe = _engine_command([found.name, "run", "--rm", IMAGE, "python", "-c", "pass"])
    if probe.returncode != 0:
        pytest.skip(f"{found.name} answers but cannot start a container here: "
                    f"{_last_line(probe.stderr)}")
    yield found
    assert _leftovers(found) == []


def _harness(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "harness", *args], cwd=ROOT, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            env={**os.environ, **CPUSETS, **(env or {})})


def _records(out: Path) -> tuple[dict[str, object], list[dict[str, object]]]:
    (run,) = [p for p in out.iterdir() if (p / "manifest.json").exists()]
    manifest = json.loads((run / "manifest.json").read_text())
    records = [json.loads(line) for line in (run / "trials.jsonl").read_text().splitlines()]
    return manifest, records


def test_the_quick_config_runs_in_containers(engine: Engine, tmp_path: Path) -> None:
    run = _harness("run", "--config", "configs/quick.toml", "--target", "compose",
                   "--out", str(tmp_path))
    output, _ = run.communicate(timeout=900)
    assert run.returncode == 0, output[-3000:]
    manifest, records = _records(tmp_path)
    details = manifest["target_details"]
    assert isinstance(details, dict) and manifest["target"] == "compose"
    assert details["engine"]["engine"] == engine.name and details["engine"]["server_version"]
    assert manifest["image_id"] and details["cpusets"]["upstream"] == CPUSETS[
        "ASYNCBENCH_UPSTREAM_CPUSET"]
    # A trial other processes disturbed is kept as invalid and run again: judge the rest.
    assert records and {r["status"] for r in records if not r.get("retried")} == {"ok"}
    if engine.name == "podman":  # the host sees the containers' processes: measured
        for record in records:
            resources = record["resources"]
            assert isinstance(resources, dict)
            assert resources["processes"] >= 2 and resources["peak_rss_mb"] > 10
            assert resources["cpu_s"] is not None and resources["cpu_s"] > 0
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    for stack in ("flask-gunicorn", "quart-hypercorn", "fastapi-uvicorn"):
        assert (run_dir / "logs" / f"compose-{stack}.log").stat().st_size > 0
    assert _leftovers(engine) == []


def test_a_stack_runs_on_its_cpuset_and_is_removed_after(
        engine: Engine, monkeypatch: pytest.MonkeyPatch) -> None:
    if engine.name != "podman":
        pytest.skip("container names and processes are checked on Podman")
    for key, value in CPUSETS.items():
        monkeypatch.setenv(key, value)
    config = with_overrides(load_config(ROOT / "configs" / "quick.toml"), target="compose")
    spec = StackSpec(name="fastapi-uvicorn", **BUILTIN_STACKS["fastapi-uvicorn"])
    name = podman.container_name(COMPOSE_PROJECT, spec.name)
    with open_stack(config, spec) as handle:
        shown = _engine_command(["podman", "inspect", "--format",
                                 "{{.HostConfig.CpusetCpus}}", name]).stdout.strip()
        assert shown == CPUSETS["ASYNCBENCH_SERVER_CPUSET"]
        assert len(handle.server.tree()) >= 5  # init, uvicorn's master, 4 workers
    assert _engine_command(["podman", "container", "exists", name]).returncode == 1
    tear_down_now()  # the network outlives the stack until the harness exits
    assert _leftovers(engine) == []


def test_ctrl_c_leaves_no_container(engine: Engine, tmp_path: Path) -> None:
    run = _harness("run", "--config", "configs/quick.toml", "--target", "compose",
                   "--out", str(tmp_path))
    deadline = time.monotonic() + 120

    def started() -> bool:
        # A recorded trial proves a round is under way even when `podman ps` is slow or
        # misses a stack's short life between two polls (a warm quick run is about a minute).
        if any(f.stat().st_size > 0 for f in tmp_path.glob("*/trials.jsonl")):
            return True
        return any(n.startswith(COMPOSE_PROJECT) for n in _containers(engine))

    while not started() and time.monotonic() < deadline and run.poll() is None:
        time.sleep(0.2)
    assert run.poll() is None, "the run ended before it could be interrupted"
    time.sleep(1.0)  # inside a round: containers up, trials starting
    run.send_signal(signal.SIGINT)
    output, _ = run.communicate(timeout=120)
    assert run.returncode == 130, output[-3000:]
    assert _leftovers(engine) == []


def test_a_failed_start_leaves_no_container(engine: Engine, tmp_path: Path) -> None:
    config = tmp_path / "one.toml"
    config.write_text('[run]\nstacks = ["flask-gunicorn", "fastapi-uvicorn"]\nrounds = 1\n'
                      'warmup_requests = 1\ndelay_ms = 10\n[scenarios.fanout]\nlevels = [1]\n')
    with socket.socket() as taken:  # the port flask-gunicorn publishes is already in use
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        run = _harness("run", "--config", str(config), "--target", "compose", "--out",
                       str(tmp_path / "out"),
                       env={"ASYNCBENCH_PORT_FLASK_GUNICORN": str(taken.getsockname()[1])})
        output, _ = run.communicate(timeout=600)
    _, records = _records(tmp_path / "out")
    by_stack = {r["stack"]: r for r in records}
    assert by_stack["flask-gunicorn"]["status"] == "failed", output[-3000:]
    assert "flask-gunicorn: podman run failed" in str(by_stack["flask-gunicorn"]["error"]) \
        or engine.name == "docker"
    assert by_stack["fastapi-uvicorn"]["status"] == "ok"
    assert _leftovers(engine) == []


def test_every_production_stack_passes_the_contract_in_its_container(
        engine: Engine, tmp_path: Path) -> None:
    production = [name for name, fields in BUILTIN_STACKS.items()
                  if StackSpec(name=name, **fields).kind == "production"]
    config = tmp_path / "all.toml"
    config.write_text(f'[run]\nstacks = {json.dumps(production)}\ntarget = "compose"\n'
                      '[scenarios.fanout]\nlevels = [1]\n')
    run = _harness("check", "--config", str(config))
    output, _ = run.communicate(timeout=600)
    assert run.returncode == 0, output[-3000:]
    assert f"{len(production)}/{len(production)} stacks passed the contract check" in output
    assert _leftovers(engine) == []
