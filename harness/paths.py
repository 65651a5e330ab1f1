"""Where the project lives, and the environment every child process of the harness gets.

One copy of each: the project root (the folder holding ``harness/`` and ``servers/``),
the lock file, the report templates, the compose file, and ``child_environment``, which
puts the project on ``PYTHONPATH`` so that ``python -m servers.upstream`` or a
load-generator process imports this checkout whatever its working folder.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCK_FILE = PROJECT_ROOT / "uv.lock"
TEMPLATES = PROJECT_ROOT / "report_templates"
COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"
CONTAINERS_CONF = PROJECT_ROOT / "harness" / "targets" / "containers.conf"


def child_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with the project first on PYTHONPATH."""
    env = dict(os.environ if base is None else base)
    env["PYTHONPATH"] = os.pathsep.join(
        p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def engine_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) for a container engine's commands:
    Podman reads the project's ``containers.conf`` unless the caller names another."""
    env = dict(os.environ if base is None else base)
    env.setdefault("CONTAINERS_CONF", str(CONTAINERS_CONF))
    return env


def project_relative(path: str, base_dir: Path | None = None) -> str:
    """``path`` (relative to ``base_dir``, the config's folder) as the manifest records it:
    relative to the project when it lies inside it, absolute otherwise."""
    full = ((base_dir or Path.cwd()) / path).resolve()
    try:
        return str(full.relative_to(PROJECT_ROOT))
    except ValueError:
        return str(full)
