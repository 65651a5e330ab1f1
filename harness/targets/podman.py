"""docker-compose.yml's services run by Podman itself, one ``podman run`` per service.

Why not a compose client: Debian's ``podman-compose`` (1.0.3) has no ``port`` command and
no ``down --remove-orphans``, and turns each healthcheck into a systemd timer, which a
machine without systemd (a container, a sandbox) cannot start; Podman's Docker-compatible
socket needs ``podman system service`` kept running beside the harness plus a Compose v2
binary that Debian does not package. The harness already reads the compose file, so it
runs the same services from it: image, init, command, environment, cpuset, sysctls,
ports and network, each translated to its ``podman run`` option by ``run_argv`` (pure).
The file's healthchecks are not translated: the harness polls ``/health`` on the
published ports itself, as it does on Docker.

Every container and network carries the label ``PROJECT_LABEL=<project>``; containers are
created per opening of a stack and removed (``rm --force``) when it closes, and the
network is removed when the harness exits, so ``podman ps -a --filter label=...`` is empty
after a run whatever ended it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from harness.paths import CONTAINERS_CONF
from harness.targets.composefile import interpolate

__all__ = ["CONTAINERS_CONF"]

PODMAN = "podman"
PROJECT_LABEL = "io.asyncbench.project"
INFO_ARGV = [PODMAN, "info", "--format", "json"]
_INFO_KEYS = {"version": ("version", "Version"), "os": ("host", "distribution", "distribution"),
              "kernel": ("host", "kernel"), "architecture": ("host", "arch"),
              "cpus": ("host", "cpus"), "memory_bytes": ("host", "memTotal"),
              "host_name": ("host", "hostname"), "runtime": ("host", "ociRuntime", "name"),
              "cgroup_version": ("host", "cgroupVersion"),
              "storage_driver": ("store", "graphDriverName")}


def describe_info(info: Mapping[str, Any]) -> dict[str, Any]:
    """The manifest's engine description from ``podman info --format json``."""
    out: dict[str, Any] = {}
    for key, path in _INFO_KEYS.items():
        value: Any = info
        for step in path:
            value = value.get(step) if isinstance(value, dict) else None
        out[key] = value
    out["server_version"] = out.pop("version")
    return out


def container_name(project: str, service: str) -> str:
    """The container of ``service`` in ``project`` (one at a time)."""
    return f"{project}-{service}"


def network_name(project: str, network: str) -> str:
    """The engine's name of the compose file's network ``network``."""
    return f"{project}_{network}"


def _networks(service: Mapping[str, Any]) -> list[str]:
    networks = service.get("networks", [])
    return [str(n) for n in networks]  # a list, or a table whose keys are the names


def networks_of(services: Mapping[str, Any], project: str) -> list[str]:
    """Every engine network the services join, sorted."""
    return sorted({network_name(project, n) for s in services.values() for n in _networks(s)})


def run_argv(project: str, name: str, service: Mapping[str, Any],
             environ: Mapping[str, str]) -> list[str]:
    """``podman run --detach ...`` starting the compose file's service ``name``."""
    argv = [PODMAN, "run", "--detach", "--name", container_name(project, name),
            "--label", f"{PROJECT_LABEL}={project}"]
    if service.get("init"):
        argv.append("--init")
    if service.get("cpuset"):
        argv += ["--cpuset-cpus", interpolate(str(service["cpuset"]), environ)]
    for key, value in sorted((service.get("sysctls") or {}).items()):
        argv += ["--sysctl", f"{key}={value}"]
    for port in service.get("ports", []):
        argv += ["--publish", interpolate(str(port), environ)]
    for network in _networks(service):
        argv += ["--network", network_name(project, network), "--network-alias", name]
    for key, value in (service.get("environment") or {}).items():
        argv += ["--env", f"{key}={value}"]
    return [*argv, interpolate(str(service["image"]), environ), *service["command"]]


def network_create_argv(project: str, network: str) -> list[str]:
    """Create an engine network (a bridge) labelled with the project."""
    return [PODMAN, "network", "create", "--label", f"{PROJECT_LABEL}={project}", network]


def network_exists_argv(network: str) -> list[str]:
    """Exit 0 when the network exists."""
    return [PODMAN, "network", "exists", network]


def remove_argv(names: Sequence[str]) -> list[str]:
    """Stop (10 s grace) and remove containers; a missing one is no error."""
    return [PODMAN, "rm", "--force", "--ignore", "--time", "10", *names]


def remove_project_argv(project: str) -> list[str]:
    """Remove every container labelled with the project (the exit-time sweep)."""
    return [PODMAN, "rm", "--force", "--ignore", "--time", "10", "--filter",
            f"label={PROJECT_LABEL}={project}"]


def network_remove_argv(networks: Sequence[str]) -> list[str]:
    """Remove the project's networks."""
    return [PODMAN, "network", "rm", "--force", *networks]


def port_argv(container: str, port: int) -> list[str]:
    """Where ``port`` of ``container`` is published on the host."""
    return [PODMAN, "port", container, str(port)]


def pid_argv(container: str) -> list[str]:
    """The pid of the container's first process and the container's id."""
    return [PODMAN, "inspect", "--format", "{{.State.Pid}} {{.Id}}", container]


def read_cgroup(pid: int) -> str:
    """``/proc/PID/cgroup`` of this machine, or "" when there is no such process."""
    try:
        return Path(f"/proc/{pid}/cgroup").read_text(encoding="ascii", errors="replace")
    except OSError:
        return ""


def host_pid(inspected: str, cgroup_of: Callable[[int], str] = read_cgroup) -> int | None:
    """The pid ``pid_argv`` printed if it is the container's process on this machine's
    kernel, else None: an engine in a VM (Podman machine) prints a pid of the VM, which
    here would be some unrelated process. The container's cgroup path holds its id."""
    pid, _, container_id = inspected.strip().partition(" ")
    if not pid.isdigit() or int(pid) == 0 or len(container_id) < 12:
        return None
    return int(pid) if container_id in cgroup_of(int(pid)) else None


def logs_argv(container: str) -> list[str]:
    """The last output of ``container``."""
    return [PODMAN, "logs", "--tail", "200", container]


def image_id_argv(image: str) -> list[str]:
    """The content id (``sha256:...``) of ``image``."""
    return [PODMAN, "image", "inspect", "--format", "{{.Id}}", image]
