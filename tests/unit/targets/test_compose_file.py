"""docker-compose.yml, Dockerfile and .dockerignore: the containers run exactly the stacks the
harness runs locally, CPU-pinned, on loopback ports, from the lock, as a non-root user.

The structural checks read the compose file with the standard library (it is written in
YAML's JSON-compatible flow style) and run everywhere; ``docker-compose config`` validates
it as Compose does where a Compose binary is installed.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest

from harness.config.catalogue import BUILTIN_STACKS
from harness.config.schema import Config, ScenarioSpec, StackSpec
from harness.targets.argv import app_environment, server_command, upstream_command
from harness.targets.composefile import (
    CONTAINER_PORT,
    CONTAINER_UPSTREAM_URL,
    UPSTREAM_SERVICE,
    compose_image,
    compose_mismatch,
    interpolate,
    read_compose_file,
)

ROOT = Path(__file__).resolve().parents[3]
PRODUCTION = [name for name, fields in BUILTIN_STACKS.items()
              if StackSpec(name=name, **fields).kind == "production"]
ENV_DEFAULT = re.compile(r"^\$\{(ASYNCBENCH_[A-Z_]+):-([^}]+)\}$")


def spec(name: str) -> StackSpec:
    return StackSpec(name=name, **BUILTIN_STACKS[name])


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return read_compose_file(ROOT / "docker-compose.yml")


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = compose["services"]
    return result


def test_one_service_per_production_stack_and_the_upstream(services: dict[str, Any]) -> None:
    assert PRODUCTION == ["flask-gunicorn", "flask-gunicorn-threadpool", "flask-gunicorn-gevent",
                          "quart-hypercorn", "quart-hypercorn-uvloop", "quart-gunicorn-asgi",
                          "fastapi-uvicorn", "flask-granian", "quart-granian", "fastapi-granian",
                          "quart-hypercorn-offload", "fastapi-uvicorn-offload"]
    assert set(services) == {UPSTREAM_SERVICE, *PRODUCTION}


@pytest.mark.parametrize("name", PRODUCTION)
def test_command_and_environment_are_the_harness_own(services: dict[str, Any],
                                                     name: str) -> None:
    service = services[name]
    # "python" is the image's venv interpreter (first on PATH); locally it is sys.executable.
    assert service["command"] == server_command("python", spec(name), "0.0.0.0", CONTAINER_PORT)
    assert service["environment"] == app_environment(spec(name), CONTAINER_UPSTREAM_URL)


def test_upstream_command_is_the_harness_own(services: dict[str, Any]) -> None:
    config = Config(stacks=(spec("flask-gunicorn"),), scenarios=(ScenarioSpec("fanout", (1,)),))
    assert services[UPSTREAM_SERVICE]["command"] == upstream_command(
        "python", "0.0.0.0", CONTAINER_PORT, config.upstream_backlog)


@pytest.mark.parametrize("name", [UPSTREAM_SERVICE, *PRODUCTION])
def test_every_service_is_pinned_checked_and_on_loopback(services: dict[str, Any],
                                                         name: str) -> None:
    service = services[name]
    test = service["healthcheck"]["test"]
    assert test[:3] == ["CMD", "python", "-c"]
    assert "urllib.request" in test[3]
    assert f"'http://127.0.0.1:{CONTAINER_PORT}/health'" in test[3]
    for key in ("interval", "timeout", "retries"):
        assert key in service["healthcheck"]

    cpuset = ENV_DEFAULT.match(service["cpuset"])
    assert cpuset, f"{name}: cpuset {service['cpuset']!r} is not ${{ASYNCBENCH_...:-default}}"
    want = "ASYNCBENCH_UPSTREAM_CPUSET" if name == UPSTREAM_SERVICE else "ASYNCBENCH_SERVER_CPUSET"
    assert cpuset.group(1) == want
    assert re.fullmatch(r"[0-9,-]+", cpuset.group(2))

    (port,) = service["ports"]
    address, host_port, container_port = interpolate(port, {}).split(":")
    assert address == "127.0.0.1"  # only ASYNCBENCH_PUBLISH_ADDRESS, set on purpose, changes it
    assert host_port.isdigit() and container_port == str(CONTAINER_PORT)
    assert service["networks"] == ["bench"]
    assert service["build"] == {"context": ".", "dockerfile": "Dockerfile"}
    assert service["init"] is True


def test_one_network_one_image_distinct_ports(compose: dict[str, Any],
                                              services: dict[str, Any]) -> None:
    assert list(compose["networks"]) == ["bench"]
    assert len({s["image"] for s in services.values()}) == 1
    assert compose_image(compose, {}) == "asyncbench:local"
    assert compose_image(compose, {"ASYNCBENCH_IMAGE": "registry/ab:1"}) == "registry/ab:1"
    ports = [interpolate(s["ports"][0], {}).split(":")[1] for s in services.values()]
    assert len(set(ports)) == len(ports)


def test_the_compose_target_accepts_exactly_the_builtin_settings(
        compose: dict[str, Any]) -> None:
    config = Config(stacks=tuple(spec(n) for n in PRODUCTION),
                    scenarios=(ScenarioSpec("fanout", (1,)),))
    for s in config.stacks:
        assert compose_mismatch(config, s, compose) is None


def test_dockerfile_installs_from_the_lock_as_a_non_root_user() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    lines = [line.strip() for line in text.splitlines()
             if line.strip() and not line.lstrip().startswith("#")]
    assert lines[:2] == ["ARG BASE_IMAGE=python:3.11-slim", "FROM ${BASE_IMAGE}"]
    pinned = re.search(r"^ARG UV_VERSION=(\S+)$", text, re.M)
    tools = (ROOT / "tools-requirements.txt").read_text(encoding="utf-8")
    assert pinned and f"uv=={pinned.group(1)}" in tools.split()
    assert 'pip install --no-cache-dir "uv==${UV_VERSION}"' in text
    assert "uv sync --frozen --no-dev" in text
    users = re.findall(r"^USER (\S+)$", text, re.M)
    assert users and users[-1] not in ("root", "0")
    assert "ENV PATH=/app/.venv/bin:$PATH" in text  # "python" in the commands is the venv's


def test_dockerignore_keeps_only_what_the_image_copies() -> None:
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    copied = {src for line in re.findall(r"^COPY (.+)$", text, re.M)
              for src in line.split()[:-1]}
    assert copied == {"pyproject.toml", "uv.lock", "README.md", "harness", "servers"}
    rules = [line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    assert rules[0] == "*"
    kept = {rule[1:].rstrip("/") for rule in rules if rule.startswith("!")}
    assert kept == copied
    for src in copied:
        assert (ROOT / src).exists(), src


COMPOSE_CLIS = [cli for cli in (("docker-compose",), ("docker", "compose"))
                if shutil.which(cli[0]) and subprocess.run(
                    [*cli, "version"], capture_output=True, check=False).returncode == 0]


def _compose_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ASYNCBENCH_")}
    env.update(extra)
    return env


@pytest.mark.skipif(not COMPOSE_CLIS, reason="no Compose binary (docker-compose or docker "
                    "compose) is installed; the structural checks above still ran")
@pytest.mark.parametrize("cli", COMPOSE_CLIS, ids=" ".join)
def test_compose_validates_the_file(cli: tuple[str, ...]) -> None:
    base = [*cli, "--file", str(ROOT / "docker-compose.yml")]
    done = subprocess.run([*base, "config", "-q"], capture_output=True, text=True, cwd=ROOT,
                          env=_compose_env(), timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    names = subprocess.run([*base, "config", "--services"], capture_output=True, text=True,
                           cwd=ROOT, env=_compose_env(), timeout=60, check=True).stdout.split()
    assert sorted(names) == sorted([UPSTREAM_SERVICE, *PRODUCTION])
    shown = subprocess.run([*base, "config"], capture_output=True, text=True, cwd=ROOT,
                           env=_compose_env(ASYNCBENCH_SERVER_CPUSET="2-3"), timeout=60,
                           check=True).stdout
    # docker-compose 1.x prints "- 127.0.0.1:18001:8000/tcp", Compose v2 "host_ip: 127.0.0.1".
    addresses = (re.findall(r"^\s*- ([0-9.]+):\d+:8000/tcp$", shown, re.M)
                 + re.findall(r"^\s*host_ip: ([0-9.]+)$", shown, re.M))
    assert addresses == ["127.0.0.1"] * len(names)
    assert shown.count("cpuset: 2-3") == len(PRODUCTION)
    assert re.search(r"cpuset: '?0'?\n", shown)
