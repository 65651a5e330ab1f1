"""The compose target: docker-compose.yml's services on a container engine on this machine.

``[compose] engine`` picks the engine: ``docker`` (Docker with Compose), ``podman``
(Podman running the file's services itself, see ``podman``), or ``auto``: Docker where
``docker info`` answers, else Podman where ``podman info`` does.

On Docker, each time the runner opens a stack (a round, or a restart after a failure) the
harness runs ``up --detach upstream <stack>``, waits for /health on the published ports
and after the stack's trials ``stop``s both: the next round starts the same containers
again, i.e. a container restart. ``down`` removes them when the harness exits.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import hashlib
import json
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import safefs
from harness.config.schema import Config, StackSpec
from harness.errors import StackStartError, TargetError
from harness.paths import COMPOSE_FILE, SOURCE_CHECKOUT
from harness.targets import podman, probe
from harness.targets.command import CommandResult, Execute, run_command
from harness.targets.composefile import (
    CONTAINER_PORT,
    UPSTREAM_SERVICE,
    compose_image,
    compose_mismatch,
    interpolate,
    parse_published,
    read_compose_file,
)
from harness.targets.handle import ContainerEndpoint, RemoteEndpoint, StackHandle
from harness.targets.process import signals_deferred

COMPOSE_PROJECT = "asyncbench-run"  # not the folder name: a user's own `up` is left alone
DOCKER_TIMEOUT_S = 10.0      # docker info, version, port, inspect, stop
UP_TIMEOUT_S = 300.0         # creating containers (and building the image if it is missing)
BUILD_TIMEOUT_S = 1800.0     # building the image from scratch downloads every wheel


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

@dataclass(frozen=True)
class Engine:
    """The engine the compose target drives: ``name`` is docker or podman, ``compose`` the
    Compose command line (Docker only), ``description`` what the manifest records."""

    name: str
    description: dict[str, Any] = field(default_factory=dict)
    compose: tuple[str, ...] = ()


def no_engine_message(*failed: CommandResult) -> str:
    """The one line printed when no engine answers: each ``info`` command and its reason."""
    reasons = "; ".join(f"{r.argv[0]} info failed: {r.reason()}" for r in failed)
    kind = "Docker" if len(failed) == 1 and failed[0].argv[0] == "docker" else "container"
    return (f"no {kind} engine answers ({reasons}); run without --target compose to use "
            "local processes")


def _docker_engine(execute: Execute, info: CommandResult, env: Mapping[str, str]) -> Engine:
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
    raw = _json_object(info.stdout)
    description: dict[str, Any] = {key: raw.get(name) for name, key in _ENGINE_KEYS.items()}
    description.update(engine="docker", endpoint=endpoint or "default", compose=" ".join(cli),
                       compose_version=version.stdout.strip())
    return Engine("docker", description, cli)


def _json_object(text: str) -> dict[str, Any]:
    try:
        raw = json.loads(text)
    except ValueError:
        return {}
    return raw if isinstance(raw, dict) else {}


def require_engine(execute: Execute | None = None, environ: Mapping[str, str] | None = None,
                   choice: str = "auto") -> Engine:
    """The engine to drive (``choice``: auto, docker or podman) and its description;
    TargetError when none answers, when Docker's is not on this machine, or when Docker
    answers without Compose."""
    execute = execute or run_command  # looked up now, so tests can replace it
    env = os.environ if environ is None else environ
    failed: list[CommandResult] = []
    if choice in ("auto", "docker"):
        info = execute(ENGINE_ARGV, DOCKER_TIMEOUT_S)
        if info.ok:
            return _docker_engine(execute, info, env)
        failed.append(info)
    if choice in ("auto", "podman"):
        info = execute(podman.INFO_ARGV, DOCKER_TIMEOUT_S)
        if info.ok:
            description = podman.describe_info(_json_object(info.stdout))
            description.update(engine="podman", compose="podman run (harness.targets.podman)",
                               containers_conf=env.get("CONTAINERS_CONF",
                                                       str(podman.CONTAINERS_CONF)))
            return Engine("podman", description)
        failed.append(info)
    raise TargetError(no_engine_message(*failed))


def _image_id(engine: Engine, execute: Execute, compose: Mapping[str, Any]) -> tuple[str, str]:
    """Build the image (Docker: ``compose build``) or find it (Podman: ``make image`` built
    it, with a base from Debian's packages); return its name and id."""
    image = compose_image(compose)
    if engine.name == "docker":
        build = execute(build_argv(list(engine.compose)), BUILD_TIMEOUT_S)
        if not build.ok:
            raise TargetError(f"{' '.join(build.argv)} failed: {build.reason()}")
        inspected = execute(image_id_argv(image), DOCKER_TIMEOUT_S)
    else:
        inspected = execute(podman.image_id_argv(image), DOCKER_TIMEOUT_S)
        if not inspected.ok:
            raise TargetError(f"image {image} is not in Podman's store ({inspected.reason()}); "
                              "build it with `make image` (or `nox -s image`)")
    if not inspected.ok:
        raise TargetError(f"image {image}: {inspected.reason()}")
    return image, inspected.stdout.strip()


def compose_details(config: Config, execute: Execute | None = None) -> dict[str, Any]:
    """Check the compose target before a run and build its image; describe it for the manifest."""
    execute = execute or run_command
    if not SOURCE_CHECKOUT:
        raise TargetError("the compose target builds its image from a checkout of the project "
                          "(Dockerfile, docker-compose.yml); run it from one (git clone, then "
                          "make dev)")
    engine = require_engine(execute, choice=config.compose_engine)
    compose = read_compose_file()
    for spec in config.stacks:
        problem = compose_mismatch(config, spec, compose)
        if problem is not None:
            raise TargetError(problem)
    image, image_id = _image_id(engine, execute, compose)
    podman_run = engine.name == "podman"
    return {
        "target": "compose",
        "controlled": True,
        "image_id": image_id,
        # a scalar, so that the report's run facts name the engine beside the image id
        "container_engine": f"{engine.name} {engine.description.get('server_version')}",
        "target_details": {
            "compose_file": COMPOSE_FILE.name,
            "compose_file_sha256": hashlib.sha256(COMPOSE_FILE.read_bytes()).hexdigest(),
            "project": COMPOSE_PROJECT,
            "image": image,
            "image_id": image_id,
            "engine": engine.description,
            "cpusets": {name: interpolate(str(compose["services"][name].get("cpuset", "")),
                                          os.environ)
                        for name in (UPSTREAM_SERVICE, *(s.name for s in config.stacks))},
            "restarts": ("containers created for each round and removed after it"
                         if podman_run else "containers stopped after a stack's trials and "
                         "started again for its next round"),
            "note": ("resources: the server container's processes as the host sees them, "
                     "measured like local processes" if podman_run else
                     "resources are not measured: the processes run inside containers"),
            "warnings": publish_warnings(compose, [UPSTREAM_SERVICE,
                                                   *(s.name for s in config.stacks)], os.environ),
        },
    }


_TEARDOWNS: set[tuple[str, ...]] = set()


def _teardown(argv: tuple[str, ...]) -> None:
    if argv in _TEARDOWNS:  # not yet run by tear_down_now
        _TEARDOWNS.discard(argv)
        run_command(argv, UP_TIMEOUT_S)


def tear_down_now() -> None:
    """Run the exit-time removals now (containers first), for a caller that goes on living."""
    for argv in sorted(_TEARDOWNS, key=lambda a: "network" in a):
        _teardown(argv)


def at_exit(argv: Sequence[str]) -> None:
    """Run ``argv`` when the harness exits (once, however often it is asked)."""
    key = tuple(argv)
    if key not in _TEARDOWNS:
        _TEARDOWNS.add(key)
        atexit.register(_teardown, key)


def _published(execute: Execute, argv: list[str], service: str) -> str:
    result = execute(argv, DOCKER_TIMEOUT_S)
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
    if not SOURCE_CHECKOUT:
        raise TargetError("the compose target builds its image from a checkout of the project "
                          "(Dockerfile, docker-compose.yml); run it from one (git clone, then "
                          "make dev)")
    engine = require_engine(execute, choice=config.compose_engine)
    compose = read_compose_file()
    problem = compose_mismatch(config, spec, compose)
    if problem is not None:
        raise TargetError(problem)
    opened = (_open_docker(config, spec, log_dir, execute, list(engine.compose))
              if engine.name == "docker" else
              _open_podman(config, spec, log_dir, execute, compose))
    with opened as handle:
        yield handle


def _wait_healthy(config: Config, endpoints: Sequence[RemoteEndpoint],
                  logs: Callable[[], str]) -> None:
    for endpoint in endpoints:
        probe.wait_healthy(f"{endpoint.name} at {endpoint.base_url}", endpoint.command,
                           functools.partial(str, endpoint.base_url),
                           config.health_timeout_s, output=logs)


def _save_logs(log_dir: Path | None, spec: StackSpec, logs: Callable[[], str]) -> None:
    if log_dir is not None:  # one file per stack, a section per start
        safefs.ensure_dir(log_dir)  # a run folder's logs/ is never followed as a link
        with safefs.open_append(log_dir / f"compose-{spec.name}.log") as fh:
            fh.write(logs().encode("utf-8"))


@contextlib.contextmanager
def _open_docker(config: Config, spec: StackSpec, log_dir: Path | None, execute: Execute,
                 cli: list[str]) -> Iterator[StackHandle]:
    up = up_argv(cli, spec.name)

    def logs() -> str:
        result = execute(logs_argv(cli, spec.name), DOCKER_TIMEOUT_S)
        return result.stdout + result.stderr

    try:
        started = execute(up, UP_TIMEOUT_S)
        if not started.ok:
            raise StackStartError(f"{spec.name}: docker compose up failed ({started.reason()})",
                                  up, started.stderr[-4000:])
        at_exit(down_argv(cli))
        upstream = RemoteEndpoint(UPSTREAM_SERVICE,
                                  _published(execute, port_argv(cli, UPSTREAM_SERVICE),
                                             UPSTREAM_SERVICE), up)
        server = RemoteEndpoint(spec.name,
                                _published(execute, port_argv(cli, spec.name), spec.name), up)
        _wait_healthy(config, (upstream, server), logs)
        yield StackHandle(spec, server, upstream)
    finally:
        with signals_deferred():
            _save_logs(log_dir, spec, logs)
            execute(stop_argv(cli, spec.name), DOCKER_TIMEOUT_S + 20)


@contextlib.contextmanager
def _open_podman(config: Config, spec: StackSpec, log_dir: Path | None, execute: Execute,
                 compose: Mapping[str, Any]) -> Iterator[StackHandle]:
    services: Mapping[str, Any] = compose["services"]
    project = COMPOSE_PROJECT
    names = [podman.container_name(project, s) for s in (UPSTREAM_SERVICE, spec.name)]

    def logs() -> str:
        parts = []
        for name in names:
            result = execute(podman.logs_argv(name), DOCKER_TIMEOUT_S)
            parts.append(f"--- {name}\n{result.stdout}{result.stderr}")
        return "".join(parts)

    try:
        with signals_deferred():  # registered before anything exists, so nothing outlives us
            at_exit(podman.remove_project_argv(project))
            networks = podman.networks_of(services, project)
            if networks:
                at_exit(podman.network_remove_argv(networks))
            for network in networks:
                if not execute(podman.network_exists_argv(network), DOCKER_TIMEOUT_S).ok:
                    execute(podman.network_create_argv(project, network), DOCKER_TIMEOUT_S)
            execute(podman.remove_argv(names), DOCKER_TIMEOUT_S + 20)  # a crashed run's
        endpoints: list[RemoteEndpoint] = []
        for service, name in zip((UPSTREAM_SERVICE, spec.name), names, strict=True):
            run = podman.run_argv(project, service, services[service], os.environ)
            started = execute(run, UP_TIMEOUT_S)
            if not started.ok:
                raise StackStartError(f"{service}: podman run failed ({started.reason()})",
                                      run, started.stderr[-4000:])
            url = _published(execute, podman.port_argv(name, CONTAINER_PORT), service)
            pid = podman.host_pid(execute(podman.pid_argv(name), DOCKER_TIMEOUT_S).stdout)
            endpoints.append(ContainerEndpoint(service, url, run, pid))
        _wait_healthy(config, endpoints, logs)
        yield StackHandle(spec, endpoints[1], endpoints[0])
    finally:
        with signals_deferred():
            _save_logs(log_dir, spec, logs)
            execute(podman.remove_argv(names), DOCKER_TIMEOUT_S + 20)
