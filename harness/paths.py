"""Where the project lives, and the environment every child process of the harness gets.

One copy of each: the project root (the folder holding ``harness/`` and ``servers/``),
the lock file and its hash, the report templates, the shipped configs, the compose file, and
``child_environment``, which puts a checkout on ``PYTHONPATH`` so that ``python -m
servers.upstream`` or a load-generator process imports it whatever its working folder.

Two ways to be installed. From a checkout (``make dev``, ``uv sync``), every folder is
the checkout's. As a tool (``uv tool install``, ``pipx install``: a wheel), the harness
and the servers are packages of the tool's environment, the templates and the configs
are package data (``harness/_data/``) and the lock file is shared data
(``<prefix>/share/asyncbench/uv.lock``); ``SOURCE_CHECKOUT`` tells which.
"""

from __future__ import annotations

import hashlib
import os
import sys
from collections.abc import Mapping
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent
SOURCE_CHECKOUT = (PROJECT_ROOT / "report_templates").is_dir()
PACKAGE_DATA = Path(__file__).resolve().parent / "_data"
SHARED_DATA = Path(sys.prefix) / "share" / "asyncbench"


def _shipped(name: str, installed: Path) -> Path:
    """The checkout's ``name`` in a checkout, else the installed copy."""
    return PROJECT_ROOT / name if SOURCE_CHECKOUT else installed / name


LOCK_FILE = _shipped("uv.lock", SHARED_DATA)
TEMPLATES = _shipped("report_templates", PACKAGE_DATA)
CONFIGS = _shipped("configs", PACKAGE_DATA)
COMPOSE_FILE = PROJECT_ROOT / "docker-compose.yml"  # a checkout's only (it builds the image)
CONTAINERS_CONF = PROJECT_ROOT / "harness" / "targets" / "containers.conf"


def project_folder() -> Path:
    """The folder a run's own files come from: the checkout, or for an installed tool the
    user's current folder (their project, holding their config)."""
    return PROJECT_ROOT if SOURCE_CHECKOUT else Path.cwd()


def lock_hash(path: Path = LOCK_FILE) -> str | None:
    """SHA-256 of the lock file, or None when it is absent."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def child_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """``base`` (default: this process's environment) with a checkout first on PYTHONPATH.

    An installed harness adds nothing: its interpreter imports the servers already, and a
    user's app run by another interpreter must not see the tool's packages.
    """
    env = dict(os.environ if base is None else base)
    if SOURCE_CHECKOUT:
        env["PYTHONPATH"] = os.pathsep.join(
            p for p in (str(PROJECT_ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def shipped_config(path: str) -> Path:
    """``path`` as given, or, when it does not exist and names one of the shipped configs
    (``configs/quick.toml``), the installed tool's copy of it."""
    given = Path(path)
    if given.exists() or SOURCE_CHECKOUT or given.parent != Path("configs"):
        return given
    installed = CONFIGS / given.name
    return installed if installed.is_file() else given


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
