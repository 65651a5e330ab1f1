"""The compose target without an engine: the docker command lines it would run (against a
fake ``execute``), the compose file's checks, and the CLI's one-line refusals."""

from __future__ import annotations

import atexit
import dataclasses
from collections.abc import Sequence
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.config.catalogue import BUILTIN_STACKS
from harness.config.load import load_config
from harness.config.schema import Config, ScenarioSpec, StackSpec
from harness.errors import StackStartError, TargetError
from harness.targets import command, composefile, podman, probe, target_details
from harness.targets import compose as targets
from harness.targets.command import CommandResult
from harness.targets.compose import COMPOSE_PROJECT, is_local_engine, publish_warnings
from harness.targets.composefile import COMPOSE_FILE, interpolate, parse_published

ROOT = Path(__file__).resolve().parents[3]


def spec(name: str) -> StackSpec:
    return StackSpec(name=name, **BUILTIN_STACKS[name])


# --- compose: pure pieces ------------------------------------------------------------------

@pytest.mark.parametrize(("text", "env", "expected"), [
    ("${A:-1}", {}, "1"),
    ("${A:-1}", {"A": ""}, "1"),
    ("${A-1}", {"A": ""}, ""),
    ("${A-1}", {}, "1"),
    ("${A:-1}", {"A": "2-3"}, "2-3"),
    ("${A}", {}, ""),
    ("x$${A}y", {"A": "1"}, "x${A}y"),
    ("${H:-127.0.0.1}:${P:-18001}:8000", {"P": "9"}, "127.0.0.1:9:8000"),
])
def test_interpolate_like_compose(text: str, env: dict[str, str], expected: str) -> None:
    assert interpolate(text, env) == expected


@pytest.mark.parametrize(("output", "url"), [
    ("127.0.0.1:18001\n", "http://127.0.0.1:18001"),
    ("0.0.0.0:18001", "http://127.0.0.1:18001"),
    (":::18001", "http://127.0.0.1:18001"),
    ("[::1]:18001", "http://[::1]:18001"),
])
def test_parse_published(output: str, url: str) -> None:
    assert parse_published(output) == url


@pytest.mark.parametrize("output", ["", "\n", "127.0.0.1:0", "no port"])
def test_parse_published_rejects(output: str) -> None:
    with pytest.raises(ValueError):
        parse_published(output)


def test_local_and_remote_engines() -> None:
    assert is_local_engine("unix:///var/run/docker.sock")
    assert is_local_engine("npipe:////./pipe/docker_engine")
    assert is_local_engine("")
    assert not is_local_engine("ssh://bench@10.0.0.5")
    assert not is_local_engine("tcp://10.0.0.5:2376")


def test_compose_command_lines() -> None:
    base = ["docker", "compose", "--file", str(COMPOSE_FILE), "--project-name", COMPOSE_PROJECT]
    cli = ["docker", "compose"]
    assert targets.up_argv(cli, "quart-hypercorn") == [
        *base, "up", "--detach", "upstream", "quart-hypercorn"]
    assert targets.stop_argv(cli, "quart-hypercorn") == [
        *base, "stop", "--timeout", "10", "quart-hypercorn", "upstream"]
    assert targets.down_argv(cli) == [*base, "down", "--remove-orphans", "--timeout", "10"]
    assert targets.port_argv(cli, "upstream") == [*base, "port", "upstream", "8000"]
    assert targets.build_argv(cli) == [*base, "build", "upstream"]
    assert targets.logs_argv(cli, "x") == [*base, "logs", "--no-color", "--tail", "200",
                                           "upstream", "x"]
    assert targets.compose_argv(["docker-compose"], "ps", file=Path("f.yml"), project="p") == [
        "docker-compose", "--file", "f.yml", "--project-name", "p", "ps"]
    assert targets.image_id_argv("asyncbench:local") == [
        "docker", "image", "inspect", "--format", "{{.Id}}", "asyncbench:local"]


def test_compose_refuses_settings_the_file_does_not_run() -> None:
    compose = composefile.read_compose_file()
    quick = load_config(ROOT / "configs/quick.toml")
    for s in quick.stacks:
        assert composefile.compose_mismatch(quick, s, compose) is None
    changed = dataclasses.replace(spec("flask-gunicorn"), workers=8)
    assert "differ from its command" in (composefile.compose_mismatch(quick, changed, compose) or "")
    pool = dataclasses.replace(spec("flask-gunicorn"), pool_size=11)
    assert "pool size" in (composefile.compose_mismatch(quick, pool, compose) or "")
    assert (composefile.compose_mismatch(quick, spec("flask-dev"), compose) or "").startswith(
        "stack flask-dev has no service in docker-compose.yml")
    backlog = dataclasses.replace(quick, upstream_backlog=128)
    assert (composefile.compose_mismatch(backlog, spec("flask-gunicorn"), compose) or "").startswith(
        "[run] upstream_backlog = 128")


def test_read_compose_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "docker-compose.yml"
    bad.write_text("services:\n  upstream:\n    image: x\n")
    with pytest.raises(TargetError, match="not in the JSON-compatible form"):
        composefile.read_compose_file(bad)
    with pytest.raises(TargetError, match="cannot read the compose file"):
        composefile.read_compose_file(tmp_path / "missing.yml")


# --- compose: what it would run, against a fake docker --------------------------------------

class FakeDocker:
    """Answers docker command lines from a table of (prefix, result); records every call."""

    def __init__(self, answers: dict[tuple[str, ...], tuple[int | None, str, str]]) -> None:
        self.answers = answers
        self.calls: list[list[str]] = []

    def __call__(self, argv: Sequence[str], timeout: float) -> CommandResult:
        self.calls.append(list(argv))
        assert timeout > 0
        for prefix, (code, out, err) in self.answers.items():
            if tuple(argv[:len(prefix)]) == prefix or self._matches(prefix, argv):
                return CommandResult(tuple(argv), code, out, err)
        return CommandResult(tuple(argv), 0, "", "")

    @staticmethod
    def _matches(key: tuple[str, ...], argv: Sequence[str]) -> bool:
        # keys like ("compose:", "port", "upstream") match after --project-name P
        if key[0] != "compose:":
            return False
        rest = list(argv[argv.index("--project-name") + 2:]) if "--project-name" in argv else []
        return rest[:len(key) - 1] == list(key[1:])


NO_ENGINE = (1, "", "Cannot connect to the Docker daemon at unix:///var/run/docker.sock. "
             "Is the docker daemon running?\n")
NO_PODMAN = (None, "", "podman: not found on PATH")
ENGINE = (0, '{"ServerVersion": "27.3.1", "NCPU": 8, "Name": "bench", "OperatingSystem": '
          '"Debian"}', "")


def test_no_engine_is_one_line() -> None:
    fake = FakeDocker({("docker", "info"): NO_ENGINE, ("podman", "info"): NO_PODMAN})
    with pytest.raises(TargetError) as info:
        targets.require_engine(fake, environ={}, choice="docker")
    assert str(info.value) == (
        "no Docker engine answers (docker info failed: Cannot connect to the Docker daemon at "
        "unix:///var/run/docker.sock. Is the docker daemon running?); run without --target "
        "compose to use local processes")
    assert fake.calls == [targets.ENGINE_ARGV]  # engine = "docker" never asks Podman
    with pytest.raises(TargetError) as info:
        targets.require_engine(fake, environ={})
    assert str(info.value) == (
        "no container engine answers (docker info failed: Cannot connect to the Docker daemon "
        "at unix:///var/run/docker.sock. Is the docker daemon running?; podman info failed: "
        "podman: not found on PATH); run without --target compose to use local processes")


PODMAN_INFO = (0, '{"host": {"arch": "amd64", "cpus": 2, "ociRuntime": {"name": "runc"}, '
               '"cgroupVersion": "v1"}, "store": {"graphDriverName": "overlay"}, '
               '"version": {"Version": "4.3.1"}}', "")


def test_auto_falls_back_to_podman_and_docker_wins_where_it_answers() -> None:
    fake = FakeDocker({("docker", "info"): NO_ENGINE, ("podman", "info"): PODMAN_INFO})
    engine = targets.require_engine(fake, environ={"CONTAINERS_CONF": "/etc/c.conf"})
    assert engine.name == "podman" and engine.compose == ()
    assert engine.description["server_version"] == "4.3.1"
    assert engine.description["runtime"] == "runc" and engine.description["cpus"] == 2
    assert engine.description["containers_conf"] == "/etc/c.conf"
    assert fake.calls == [targets.ENGINE_ARGV, podman.INFO_ARGV]
    fake = FakeDocker({("docker", "info"): ENGINE, ("podman", "info"): PODMAN_INFO})
    assert targets.require_engine(fake, environ={}).name == "docker"
    assert targets.require_engine(fake, environ={}, choice="podman").name == "podman"


def test_real_runner_reports_a_missing_binary() -> None:
    missing = command.run_command(["asyncbench-no-such-binary", "info"], 5)
    assert missing.code is None and missing.reason() == (
        "asyncbench-no-such-binary: not found on PATH")


def test_remote_engines_and_missing_compose_are_refused() -> None:
    fake = FakeDocker({("docker", "info"): ENGINE})
    with pytest.raises(TargetError, match=r"^the Docker engine at ssh://me@far is not on this"):
        targets.require_engine(fake, environ={"DOCKER_HOST": "ssh://me@far"})
    fake = FakeDocker({("docker", "info"): ENGINE,
                       ("docker", "context"): (0, "tcp://10.0.0.5:2376\n", "")})
    with pytest.raises(TargetError, match=r"tcp://10\.0\.0\.5:2376 is not on this machine"):
        targets.require_engine(fake, environ={})
    fake = FakeDocker({("docker", "info"): ENGINE,
                       ("docker", "compose", "version"): (1, "", "unknown command"),
                       ("docker-compose", "version"): (None, "", "docker-compose: not found")})
    with pytest.raises(TargetError, match="neither `docker compose` nor `docker-compose`"):
        targets.require_engine(fake, environ={})


def test_compose_v1_is_used_when_v2_is_absent() -> None:
    fake = FakeDocker({("docker", "info"): ENGINE,
                       ("docker", "context"): (0, "unix:///var/run/docker.sock\n", ""),
                       ("docker", "compose", "version"): (1, "", "unknown command"),
                       ("docker-compose", "version"): (0, "1.29.2\n", "")})
    engine = targets.require_engine(fake, environ={})
    assert engine.compose == ("docker-compose",)
    info = engine.description
    assert info["server_version"] == "27.3.1" and info["cpus"] == 8
    assert info["compose_version"] == "1.29.2" and info["engine"] == "docker"
    assert info["endpoint"] == "unix:///var/run/docker.sock"


def compose_config() -> Config:
    return Config(stacks=(spec("flask-gunicorn"), spec("quart-hypercorn")),
                  scenarios=(ScenarioSpec("fanout", (1,)),), target="compose")


def test_compose_details_build_the_image_and_record_its_id(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ASYNCBENCH_IMAGE", raising=False)
    monkeypatch.setenv("ASYNCBENCH_SERVER_CPUSET", "2-3")
    fake = FakeDocker({("docker", "info"): ENGINE,
                       ("docker", "image", "inspect"): (0, "sha256:abc\n", "")})
    details = target_details(compose_config(), fake)
    assert details["target"] == "compose" and details["controlled"] is True
    assert details["image_id"] == "sha256:abc"
    assert details["target_details"]["image"] == "asyncbench:local"
    assert details["target_details"]["cpusets"] == {
        "upstream": "0", "flask-gunicorn": "2-3", "quart-hypercorn": "2-3"}
    assert targets.build_argv(["docker", "compose"]) in fake.calls
    assert fake.calls[-1] == targets.image_id_argv("asyncbench:local")


def test_compose_details_refuse_a_failed_build() -> None:
    fake = FakeDocker({("docker", "info"): ENGINE,
                       ("compose:", "build"): (1, "", "failed to solve: network unreachable\n")})
    with pytest.raises(TargetError, match="build upstream failed: failed to solve"):
        target_details(compose_config(), fake)


def test_open_compose_runs_up_port_stop_in_order(monkeypatch: pytest.MonkeyPatch,
                                                 tmp_path: Path) -> None:
    registered: list[tuple[str, ...]] = []
    monkeypatch.setattr(atexit, "register", lambda fn, argv: registered.append(argv))
    monkeypatch.setattr(targets, "_TEARDOWNS", set())
    monkeypatch.setattr(probe, "health_problem", lambda url, timeout=3.0, path="/health": None)
    fake = FakeDocker({("docker", "info"): ENGINE,
                       ("compose:", "port", "upstream"): (0, "127.0.0.1:18000\n", ""),
                       ("compose:", "port", "quart-hypercorn"): (0, "127.0.0.1:18003\n", ""),
                       ("compose:", "logs"): (0, "quart-hypercorn  | started\n", "")})
    config = compose_config()
    cli = ["docker", "compose"]
    for _ in range(2):  # two rounds: the second starts the stopped containers again
        with targets.open_compose(config, spec("quart-hypercorn"), tmp_path, fake) as handle:
            assert handle.base_url == "http://127.0.0.1:18003"
            assert handle.upstream_url == "http://127.0.0.1:18000"
            assert handle.server.tree() == [] and handle.pids() == set()
    compose_calls = [c for c in fake.calls if "--project-name" in c]
    one_round = [targets.up_argv(cli, "quart-hypercorn"), targets.port_argv(cli, "upstream"),
                 targets.port_argv(cli, "quart-hypercorn"),
                 targets.logs_argv(cli, "quart-hypercorn"),
                 targets.stop_argv(cli, "quart-hypercorn")]
    assert compose_calls == one_round * 2
    assert registered == [tuple(targets.down_argv(cli))]  # `down` once, when the harness exits
    assert "started" in (tmp_path / "compose-quart-hypercorn.log").read_text()


def test_open_compose_failed_up_is_a_stack_start_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(targets, "_TEARDOWNS", set())
    fake = FakeDocker({("docker", "info"): ENGINE,
                       ("compose:", "up"): (1, "", "Bind for 127.0.0.1:18003 failed: port is "
                                               "already allocated\n")})
    with pytest.raises(StackStartError) as info, \
            targets.open_compose(compose_config(), spec("quart-hypercorn"), None, fake):
        pass
    assert str(info.value) == ("quart-hypercorn: docker compose up failed (Bind for "
                               "127.0.0.1:18003 failed: port is already allocated)")
    assert fake.calls[-1] == targets.stop_argv(["docker", "compose"], "quart-hypercorn")


def test_cli_refuses_compose_without_an_engine_in_one_line(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        capsys: pytest.CaptureFixture[str]) -> None:
    fake = FakeDocker({("docker", "info"): NO_ENGINE, ("podman", "info"): NO_PODMAN})
    monkeypatch.setattr(targets, "run_command", fake)
    code = main(["run", "--config", str(ROOT / "configs/quick.toml"), "--target", "compose",
                 "--out", str(tmp_path)])
    err = [line for line in capsys.readouterr().err.splitlines() if line.strip()]
    assert code == 2
    assert err == ["asyncbench: no container engine answers (docker info failed: Cannot "
                   "connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker "
                   "daemon running?; podman info failed: podman: not found on PATH); run "
                   "without --target compose to use local processes"]
    assert not list(tmp_path.glob("*/manifest.json"))


def test_a_publish_address_beyond_loopback_is_warned_about() -> None:
    compose = {"services": {
        "upstream": {"ports": ["${ASYNCBENCH_PUBLISH_ADDRESS:-127.0.0.1}:18000:8000"]},
        "flask-gunicorn": {"ports": ["${ASYNCBENCH_PUBLISH_ADDRESS:-127.0.0.1}:18001:8000"]},
        "bare": {"ports": ["18002:8000"]}}}
    services = ["upstream", "flask-gunicorn", "bare"]
    warnings = publish_warnings(compose, services, {})
    assert len(warnings) == 1 and "bare publishes '18002:8000' on every interface" in warnings[0]
    warnings = publish_warnings(compose, services, {"ASYNCBENCH_PUBLISH_ADDRESS": "0.0.0.0"})
    assert [w.split(" publishes ")[0] for w in warnings] == [
        "compose service upstream", "compose service flask-gunicorn", "compose service bare"]
    assert "on 0.0.0.0: reachable from the network" in warnings[0]
