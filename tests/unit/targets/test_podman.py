"""The compose target on Podman without an engine: the ``podman`` command lines it builds
from docker-compose.yml (pure), their order against a fake ``execute``, the container
endpoint's process tree, and the ``[compose] engine`` setting."""

from __future__ import annotations

import atexit
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from harness.config.catalogue import BUILTIN_STACKS
from harness.config.load import config_from_dict, config_from_resolved
from harness.config.schema import Config, ScenarioSpec, StackSpec
from harness.errors import ConfigError, StackStartError, TargetError
from harness.targets import compose, podman, probe, target_details
from harness.targets.argv import server_command
from harness.targets.composefile import read_compose_file
from harness.targets.handle import ContainerEndpoint
from tests.unit.targets.test_compose import NO_ENGINE, PODMAN_INFO, FakeDocker

PROJECT = compose.COMPOSE_PROJECT
UPSTREAM = podman.container_name(PROJECT, "upstream")
SERVER = podman.container_name(PROJECT, "quart-hypercorn")


def spec(name: str) -> StackSpec:
    return StackSpec(name=name, **BUILTIN_STACKS[name])


def podman_config() -> Config:
    return Config(stacks=(spec("flask-gunicorn"), spec("quart-hypercorn")),
                  scenarios=(ScenarioSpec("fanout", (1,)),), target="compose",
                  compose_engine="podman")


def test_run_argv_translates_the_compose_service() -> None:
    services = read_compose_file()["services"]
    argv = podman.run_argv(PROJECT, "quart-hypercorn", services["quart-hypercorn"],
                           {"ASYNCBENCH_SERVER_CPUSET": "2-3"})
    command = server_command("python", spec("quart-hypercorn"), "0.0.0.0", 8000)
    assert argv[:7] == ["podman", "run", "--detach", "--name", SERVER, "--label",
                        f"{podman.PROJECT_LABEL}={PROJECT}"]
    assert argv[-len(command) - 1:] == ["asyncbench:local", *command]
    options = argv[7:-len(command) - 1]
    pairs = list(zip(options[1::2], options[2::2], strict=False))
    assert options[0] == "--init"
    assert ("--cpuset-cpus", "2-3") in pairs
    assert ("--publish", "127.0.0.1:18003:8000") in pairs
    assert ("--network", "asyncbench-run_bench") in pairs
    assert ("--network-alias", "quart-hypercorn") in pairs
    assert ("--sysctl", "net.core.somaxconn=4096") in pairs
    assert ("--env", "ASYNCBENCH_UPSTREAM_URL=http://upstream:8000") in pairs
    upstream = podman.run_argv(PROJECT, "upstream", services["upstream"], {})
    assert upstream[upstream.index("--cpuset-cpus"):][:2] == ["--cpuset-cpus", "0"]
    assert podman.networks_of(services, PROJECT) == ["asyncbench-run_bench"]


def test_a_pid_counts_only_when_its_cgroup_is_the_containers() -> None:
    cid = "9bcea44f26d1c072f664f6c60c74c53fdb0a163f940b75ec083aa25ef48e0fc9"
    v1 = f"4:cpu,cpuacct:/libpod_parent/libpod-{cid}\n"
    v2 = f"0::/machine.slice/libpod-{cid}.scope/container\n"
    assert podman.host_pid(f"4242 {cid}\n", lambda pid: v1) == 4242
    assert podman.host_pid(f"4242 {cid}\n", lambda pid: v2) == 4242
    assert podman.host_pid(f"4242 {cid}\n", lambda pid: "0::/user.slice\n") is None  # in a VM
    assert podman.host_pid(f"0 {cid}\n", lambda pid: v1) is None  # not running
    assert podman.host_pid("", lambda pid: v1) is None
    assert podman.host_pid(f"{os.getpid()} {cid}") is None  # this process is no container


def test_describe_info_tolerates_missing_keys() -> None:
    assert podman.describe_info({})["server_version"] is None
    assert podman.describe_info({"host": {"cpus": 4}, "version": {"Version": "5.0"}}) == {
        "os": None, "kernel": None, "architecture": None, "cpus": 4, "memory_bytes": None,
        "host_name": None, "runtime": None, "cgroup_version": None, "storage_driver": None,
        "server_version": "5.0"}


@pytest.fixture
def registered(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, ...]]]:
    calls: list[tuple[str, ...]] = []
    monkeypatch.setattr(atexit, "register", lambda fn, argv: calls.append(argv))
    monkeypatch.setattr(compose, "_TEARDOWNS", set())
    monkeypatch.setattr(probe, "health_problem", lambda url, timeout=3.0, path="/health": None)
    yield calls


def podman_fake(**extra: tuple[int | None, str, str]) -> FakeDocker:
    answers: dict[tuple[str, ...], tuple[int | None, str, str]] = {
        ("docker", "info"): NO_ENGINE, ("podman", "info"): PODMAN_INFO,
        ("podman", "network", "exists"): (1, "", ""),
        ("podman", "port", UPSTREAM): (0, "127.0.0.1:18000\n", ""),
        ("podman", "port", SERVER): (0, "127.0.0.1:18003\n", ""),
        ("podman", "inspect"): (0, "0\n", ""),
        ("podman", "logs", "--tail", "200", SERVER): (0, "Running on http://0.0.0.0:8000\n", ""),
    }
    answers.update({tuple(k.split()): v for k, v in extra.items()})
    return FakeDocker(answers)


def test_open_compose_on_podman_runs_then_removes_per_round(
        tmp_path: Path, registered: list[tuple[str, ...]]) -> None:
    fake = podman_fake()
    config = podman_config()
    services = read_compose_file()["services"]
    for _ in range(2):  # each round creates the containers afresh and removes them after
        with compose.open_compose(config, spec("quart-hypercorn"), tmp_path, fake) as handle:
            assert handle.base_url == "http://127.0.0.1:18003"
            assert handle.upstream_url == "http://127.0.0.1:18000"
            assert handle.server.tree() == []  # pid 0: the engine showed no process
    network = "asyncbench-run_bench"
    one_round = [
        podman.INFO_ARGV, podman.network_exists_argv(network),
        podman.network_create_argv(PROJECT, network), podman.remove_argv([UPSTREAM, SERVER]),
        podman.run_argv(PROJECT, "upstream", services["upstream"], os.environ),
        podman.port_argv(UPSTREAM, 8000), podman.pid_argv(UPSTREAM),
        podman.run_argv(PROJECT, "quart-hypercorn", services["quart-hypercorn"], os.environ),
        podman.port_argv(SERVER, 8000), podman.pid_argv(SERVER),
        podman.logs_argv(UPSTREAM), podman.logs_argv(SERVER),
        podman.remove_argv([UPSTREAM, SERVER])]
    assert [c for c in fake.calls if c != compose.ENGINE_ARGV] == one_round * 2
    assert registered == [tuple(podman.remove_project_argv(PROJECT)),
                          tuple(podman.network_remove_argv([network]))]
    log = (tmp_path / "compose-quart-hypercorn.log").read_text()
    assert log.count(f"--- {SERVER}\nRunning on") == 2


def test_a_failed_podman_run_removes_what_started(registered: list[tuple[str, ...]]) -> None:
    fake = podman_fake(**{f"podman run --detach --name {SERVER}": (
        125, "", "Error: rootlessport listen tcp 127.0.0.1:18003: bind: address already in use\n")})
    with pytest.raises(StackStartError) as info, \
            compose.open_compose(podman_config(), spec("quart-hypercorn"), None, fake):
        pass
    assert str(info.value) == ("quart-hypercorn: podman run failed (Error: rootlessport listen "
                               "tcp 127.0.0.1:18003: bind: address already in use)")
    assert fake.calls[-1] == podman.remove_argv([UPSTREAM, SERVER])
    assert tuple(podman.remove_project_argv(PROJECT)) in registered


def test_compose_details_on_podman_need_the_built_image() -> None:
    missing = podman_fake(**{"podman image inspect": (
        125, "", "Error: asyncbench:local: image not known\n")})
    with pytest.raises(TargetError) as info:
        target_details(podman_config(), missing)
    assert str(info.value) == ("image asyncbench:local is not in Podman's store (Error: "
                               "asyncbench:local: image not known); build it with `make image` "
                               "(or `nox -s image`)")
    found = podman_fake(**{"podman image inspect": (0, "4ed0e4000b71\n", "")})
    details = target_details(podman_config(), found)
    assert details["image_id"] == "4ed0e4000b71"
    assert details["container_engine"] == "podman 4.3.1"
    assert details["target_details"]["engine"]["engine"] == "podman"
    assert not any(c[:2] == ["podman", "build"] for c in found.calls)  # never builds itself


def test_container_endpoint_sees_the_whole_process_tree() -> None:
    code = "import subprocess, sys; subprocess.run([sys.executable, '-c', 'import time; " \
           "time.sleep(30)'])"
    parent = subprocess.Popen([sys.executable, "-c", code])
    try:
        for _ in range(100):
            if psutil.Process(parent.pid).children():
                break
            time.sleep(0.05)
        endpoint = ContainerEndpoint("quart-hypercorn", "http://127.0.0.1:1", [], parent.pid)
        pids = {p.pid for p in endpoint.tree()}
        assert parent.pid in pids and len(pids) == 2
        assert endpoint.known_pids == pids
    finally:
        for child in psutil.Process(parent.pid).children(recursive=True):
            child.kill()
        parent.kill()
        parent.wait()
    assert endpoint.tree() == [] and endpoint.known_pids == pids  # stopped: nothing to measure
    assert ContainerEndpoint("x", "http://127.0.0.1:1").tree() == []


def test_compose_engine_setting() -> None:
    base = {"run": {"stacks": ["flask-gunicorn"]}, "scenarios": {"fanout": {"levels": [1]}}}
    assert config_from_dict(base).compose_engine == "auto"
    assert "compose" not in config_from_dict(base).resolved()  # older digests stay valid
    chosen = config_from_dict({**base, "compose": {"engine": "podman"}})
    assert chosen.resolved()["compose"] == {"engine": "podman"}
    assert config_from_resolved(chosen.resolved()).compose_engine == "podman"
    with pytest.raises(ConfigError, match=r"^\[compose\] engine = 'lxc': must be one of auto, "
                       r"docker, podman"):
        config_from_dict({**base, "compose": {"engine": "lxc"}})
    with pytest.raises(ConfigError, match=r"^\[compose\] runtime = 'runc': unknown key"):
        config_from_dict({**base, "compose": {"runtime": "runc"}})
