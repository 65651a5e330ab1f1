"""The compose target: docker-compose.yml's services on a Docker engine on this machine.

Each time the runner opens a stack (a round, or a restart after a failure) the harness
runs ``up --detach upstream <stack>``, waits for /health on the published ports and after
the stack's trials ``stop``s both: the next round starts the same containers again, i.e.
a container restart. ``down`` removes them when the harness exits.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import json
import os
import re
import subprocess
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import safefs
from harness.config.schema import Config, StackSpec
from harness.errors import StackStartError, TargetError
from harness.paths import COMPOSE_FILE
from harness.targets import probe
from harness.targets.argv import app_environment, server_command, upstream_command
from harness.targets.handle import RemoteEndpoint, StackHandle
from harness.targets.process import signals_deferred

COMPOSE_PROJECT = "asyncbench-run"  # not the folder name: a user's own `up` is left alone
CONTAINER_PORT = 8000
UPSTREAM_SERVICE = "upstream"
CONTAINER_UPSTREAM_URL = f"http://{UPSTREAM_SERVICE}:{CONTAINER_PORT}"
DOCKER_TIMEOUT_S = 10.0      # docker info, version, port, inspect, stop
UP_TIMEOUT_S = 300.0         # creating containers (and building the image if it is missing)
BUILD_TIMEOUT_S = 1800.0     # building the image from scratch downloads every wheel


# --- running docker -------------------------------------------------------------------------

@dataclass(frozen=True)
class CommandResult:
    """What one docker command did; ``code`` is None when it could not run or timed out."""

    argv: tuple[str, ...]
    code: int | None
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.code == 0

    def reason(self) -> str:
        """The last line it wrote (stderr first), or its exit code: one line for a message."""
        for text in (self.stderr, self.stdout):
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines:
                return lines[-1][:300]
        return f"exit code {self.code}"


Execute = Callable[[Sequence[str], float], CommandResult]


def run_command(argv: Sequence[str], timeout: float) -> CommandResult:
    """Run ``argv`` (no shell), capturing its output; never raises for a failing command."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False)
    except FileNotFoundError:
        return CommandResult(tuple(argv), None, stderr=f"{argv[0]}: not found on PATH")
    except subprocess.TimeoutExpired:
        return CommandResult(tuple(argv), None, stderr=f"timed out after {timeout:g} s")
    return CommandResult(tuple(argv), done.returncode, done.stdout, done.stderr)


# --- the compose file -----------------------------------------------------------------------

_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?-)([^}]*))?\}")


def interpolate(text: str, environ: Mapping[str, str]) -> str:
    """Compose's variable substitution: ``${VAR}``, ``${VAR:-default}`` (unset or empty),
    ``${VAR-default}`` (unset) and ``$$`` for a literal ``$``."""
    def one(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, default = match.group(1), match.group(2), match.group(3) or ""
        value = environ.get(name)
        if op == ":-" and not value:
            return default
        if op == "-" and value is None:
            return default
        return value or ""
    return _VARIABLE.sub(one, text)


def read_compose_file(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    """docker-compose.yml, which is written in YAML's JSON-compatible flow style plus
    whole-line ``#`` comments, read without a YAML parser."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TargetError(f"{path}: cannot read the compose file ({exc.strerror or exc})") from None
    body = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    try:
        data = json.loads(body)
    except ValueError as exc:
        raise TargetError(f"{path}: not in the JSON-compatible form the harness reads "
                          f"({exc})") from None
    if not isinstance(data, dict) or not isinstance(data.get("services"), dict):
        raise TargetError(f"{path}: no services table")
    return data


def compose_mismatch(config: Config, spec: StackSpec, compose: Mapping[str, Any]) -> str | None:
    """Why docker-compose.yml does not run ``spec`` as the config states it; None if it does.

    The containers run the file's commands, so a stack whose settings differ from its
    service (a ``[stacks.NAME]`` override, a sweep variant, a dev server) cannot be measured.
    """
    services: Mapping[str, Any] = compose["services"]
    service = services.get(spec.name)
    if not isinstance(service, dict):
        known = ", ".join(s for s in services if s != UPSTREAM_SERVICE)
        return (f"stack {spec.name} has no service in docker-compose.yml (the compose target "
                f"runs its services: {known})")
    if service.get("command") != server_command("python", spec, "0.0.0.0", CONTAINER_PORT):
        return (f"stack {spec.name}: the config's settings differ from its command in "
                "docker-compose.yml, which is what the containers run; measure the built-in "
                "settings or edit the file")
    if service.get("environment") != app_environment(spec, CONTAINER_UPSTREAM_URL):
        return (f"stack {spec.name}: the config's pool size or upstream timeout differ from its "
                "environment in docker-compose.yml")
    upstream = services.get(UPSTREAM_SERVICE)
    want = upstream_command("python", "0.0.0.0", CONTAINER_PORT, config.upstream_backlog)
    if not isinstance(upstream, dict) or upstream.get("command") != want:
        return (f"[run] upstream_backlog = {config.upstream_backlog}: docker-compose.yml's "
                "upstream service runs another command")
    return None


# --- compose command lines (pure) -----------------------------------------------------------

def compose_argv(cli: Sequence[str], *args: str, file: Path = COMPOSE_FILE,
                 project: str = COMPOSE_PROJECT) -> list[str]:
    """``docker compose --file F --project-name P ARGS`` (or ``docker-compose ...``)."""
    return [*cli, "--file", str(file), "--project-name", project, *args]


def up_argv(cli: Sequence[str], service: str, **kw: Any) -> list[str]:
    """Create or start the upstream and ``service``, detached (a stopped container is
    started again, not recreated)."""
    return compose_argv(cli, "up", "--detach", UPSTREAM_SERVICE, service, **kw)


def stop_argv(cli: Sequence[str], service: str, **kw: Any) -> list[str]:
    """Stop ``service`` and the upstream, keeping their containers for the next round."""
    return compose_argv(cli, "stop", "--timeout", "10", service, UPSTREAM_SERVICE, **kw)


def down_argv(cli: Sequence[str], **kw: Any) -> list[str]:
    """Remove the project's containers and network."""
    return compose_argv(cli, "down", "--remove-orphans", "--timeout", "10", **kw)


def port_argv(cli: Sequence[str], service: str, **kw: Any) -> list[str]:
    """Where the container port of ``service`` is published on the host."""
    return compose_argv(cli, "port", service, str(CONTAINER_PORT), **kw)


def logs_argv(cli: Sequence[str], service: str, **kw: Any) -> list[str]:
    """The last output of ``service`` and the upstream."""
    return compose_argv(cli, "logs", "--no-color", "--tail", "200", UPSTREAM_SERVICE, service,
                        **kw)


def build_argv(cli: Sequence[str], **kw: Any) -> list[str]:
    """Build the image every service runs (the upstream's build stands for all)."""
    return compose_argv(cli, "build", UPSTREAM_SERVICE, **kw)


def image_id_argv(image: str) -> list[str]:
    """The content id (``sha256:...``) of ``image``."""
    return ["docker", "image", "inspect", "--format", "{{.Id}}", image]


ENGINE_ARGV = ["docker", "info", "--format", "{{json .}}"]
CONTEXT_ARGV = ["docker", "context", "inspect", "--format", "{{.Endpoints.docker.Host}}"]
COMPOSE_CLIS = (("docker", "compose"), ("docker-compose",))
_ENGINE_KEYS = {"ServerVersion": "server_version", "OperatingSystem": "os",
                "KernelVersion": "kernel", "Architecture": "architecture", "NCPU": "cpus",
                "MemTotal": "memory_bytes", "Name": "host_name"}


def parse_published(output: str) -> str:
    """``docker compose port`` output (``127.0.0.1:18001``) as a base URL; a wildcard
    address (``0.0.0.0``, ``::``) is reached on 127.0.0.1 (``publish_warnings`` has
    already said that it listens on every interface)."""
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    if not lines:
        raise ValueError("no published port")
    host, _, port = lines[-1].rpartition(":")
    host = host.strip("[]")
    if not port.isdigit() or int(port) == 0:
        raise ValueError(f"not an address: {lines[-1]!r}")
    if host in ("", "0.0.0.0", "::"):
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


_LOOPBACK_PUBLISH = ("127.0.0.1", "localhost", "::1")


def publish_warnings(compose: Mapping[str, Any], services: Sequence[str],
                     environ: Mapping[str, str]) -> list[str]:
    """One line per service whose ports the compose file publishes beyond loopback
    (``0.0.0.0``, no address at all, or another interface): it is reachable from the
    network while it is measured."""
    warnings = []
    for name in services:
        service = compose.get("services", {}).get(name, {})
        for entry in service.get("ports", []) if isinstance(service, dict) else []:
            text = interpolate(str(entry), environ)
            parts = text.rsplit(":", 2)
            address = parts[0].strip("[]") if len(parts) == 3 else ""
            if address not in _LOOPBACK_PUBLISH:
                warnings.append(f"compose service {name} publishes {text!r} on "
                                f"{address or 'every interface'}: reachable from the network "
                                "while it is measured (set ASYNCBENCH_PUBLISH_ADDRESS=127.0.0.1)")
    return warnings


def is_local_engine(endpoint: str) -> bool:
    """True for an engine reached through a local socket (Linux, Docker Desktop)."""
    return endpoint == "" or endpoint.startswith(("unix://", "npipe://"))


# --- compose --------------------------------------------------------------------------------

def no_engine_message(result: CommandResult) -> str:
    """The one line printed when ``docker info`` fails."""
    return (f"no Docker engine answers (docker info failed: {result.reason()}); run without "
            "--target compose to use local processes")


def require_engine(execute: Execute | None = None,
                   environ: Mapping[str, str] | None = None) -> tuple[list[str], dict[str, Any]]:
    """The compose command line to use and the engine's description; TargetError when no
    engine answers, when it is not on this machine, or when no compose answers."""
    execute = execute or run_command  # looked up now, so tests can replace it
    env = os.environ if environ is None else environ
    info = execute(ENGINE_ARGV, DOCKER_TIMEOUT_S)
    if not info.ok:
        raise TargetError(no_engine_message(info))
    endpoint = env.get("DOCKER_HOST", "")
    if not endpoint:
        context = execute(CONTEXT_ARGV, DOCKER_TIMEOUT_S)
        endpoint = context.stdout.strip() if context.ok else ""
    if not is_local_engine(endpoint):
        raise TargetError(f"the Docker engine at {endpoint} is not on this machine, and the "
                          "compose target reaches its ports on 127.0.0.1; start the compose "
                          "file there and use target = \"external\" (see README)")
    for cli in COMPOSE_CLIS:
        version = execute([*cli, "version", "--short"], DOCKER_TIMEOUT_S)
        if version.ok:
            break
    else:
        raise TargetError("a Docker engine answers but neither `docker compose` nor "
                          f"`docker-compose` does ({version.reason()}); install Compose")
    try:
        raw = json.loads(info.stdout)
    except ValueError:
        raw = {}
    if not isinstance(raw, dict):
        raw = {}
    engine: dict[str, Any] = {key: raw.get(name) for name, key in _ENGINE_KEYS.items()}
    engine.update(endpoint=endpoint or "default", compose=" ".join(cli),
                  compose_version=version.stdout.strip())
    return list(cli), engine


def compose_image(compose: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> str:
    """The image the upstream service (and every other) runs, variables substituted."""
    image = compose["services"][UPSTREAM_SERVICE].get("image", "")
    return interpolate(str(image), os.environ if environ is None else environ)


def compose_details(config: Config, execute: Execute | None = None) -> dict[str, Any]:
    """Check the compose target before a run and build its image; describe it for the manifest."""
    execute = execute or run_command
    cli, engine = require_engine(execute)
    compose = read_compose_file()
    for spec in config.stacks:
        problem = compose_mismatch(config, spec, compose)
        if problem is not None:
            raise TargetError(problem)
    build = execute(build_argv(cli), BUILD_TIMEOUT_S)
    if not build.ok:
        raise TargetError(f"{' '.join(build.argv)} failed: {build.reason()}")
    image = compose_image(compose)
    inspected = execute(image_id_argv(image), DOCKER_TIMEOUT_S)
    if not inspected.ok:
        raise TargetError(f"image {image}: {inspected.reason()}")
    image_id = inspected.stdout.strip()
    return {
        "target": "compose",
        "controlled": True,
        "image_id": image_id,
        "target_details": {
            "compose_file": COMPOSE_FILE.name,
            "compose_file_sha256": hashlib.sha256(COMPOSE_FILE.read_bytes()).hexdigest(),
            "project": COMPOSE_PROJECT,
            "image": image,
            "image_id": image_id,
            "engine": engine,
            "cpusets": {name: interpolate(str(compose["services"][name].get("cpuset", "")),
                                          os.environ)
                        for name in (UPSTREAM_SERVICE, *(s.name for s in config.stacks))},
            "restarts": "containers stopped after a stack's trials and started again "
                        "for its next round",
            "note": "resources are not measured: the processes run inside containers",
            "warnings": publish_warnings(compose, [UPSTREAM_SERVICE,
                                                   *(s.name for s in config.stacks)], os.environ),
        },
    }


_TEARDOWNS: set[tuple[str, ...]] = set()


def _teardown(argv: tuple[str, ...]) -> None:
    run_command(argv, UP_TIMEOUT_S)


def _published(execute: Execute, cli: Sequence[str], service: str) -> str:
    result = execute(port_argv(cli, service), DOCKER_TIMEOUT_S)
    try:
        return parse_published(result.stdout)
    except ValueError as exc:
        raise StackStartError(f"{service}: cannot find its published port ({exc}; "
                              f"{result.reason()})", list(result.argv)) from None


@contextlib.contextmanager
def open_compose(config: Config, spec: StackSpec, log_dir: Path | None,
                 execute: Execute | None = None) -> Iterator[StackHandle]:
    """The stack ``spec`` as docker-compose.yml runs it on the local engine; stopped on exit."""
    execute = execute or run_command
    cli, _ = require_engine(execute)
    problem = compose_mismatch(config, spec, read_compose_file())
    if problem is not None:
        raise TargetError(problem)
    up = up_argv(cli, spec.name)

    def logs() -> str:
        result = execute(logs_argv(cli, spec.name), DOCKER_TIMEOUT_S)
        return result.stdout + result.stderr

    try:
        started = execute(up, UP_TIMEOUT_S)
        if not started.ok:
            raise StackStartError(f"{spec.name}: docker compose up failed ({started.reason()})",
                                  up, started.stderr[-4000:])
        down = tuple(down_argv(cli))
        if down not in _TEARDOWNS:
            _TEARDOWNS.add(down)
            atexit.register(_teardown, down)
        upstream = RemoteEndpoint(UPSTREAM_SERVICE, _published(execute, cli, UPSTREAM_SERVICE), up)
        server = RemoteEndpoint(spec.name, _published(execute, cli, spec.name), up)
        for endpoint in (upstream, server):
            probe.wait_healthy(f"{endpoint.name} at {endpoint.base_url}", endpoint.command,
                               functools.partial(str, endpoint.base_url),
                               config.health_timeout_s, output=logs)
        yield StackHandle(spec, server, upstream)
    finally:
        with signals_deferred():
            if log_dir is not None:  # one file per stack, a section per start
                safefs.ensure_dir(log_dir)  # a run folder's logs/ is never followed as a link
                with safefs.open_append(log_dir / f"compose-{spec.name}.log") as fh:
                    fh.write(logs().encode("utf-8"))
            execute(stop_argv(cli, spec.name), DOCKER_TIMEOUT_S + 20)
