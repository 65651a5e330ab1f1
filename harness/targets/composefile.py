"""docker-compose.yml as the harness reads it: without a YAML parser, variables substituted
like Compose does, and checked against the config's stacks before anything starts."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from harness.config.schema import Config, StackSpec
from harness.errors import TargetError
from harness.paths import COMPOSE_FILE

__all__ = ["COMPOSE_FILE"]  # the file these functions read, for their callers
from harness.targets.argv import app_environment, server_command, upstream_command

CONTAINER_PORT = 8000
UPSTREAM_SERVICE = "upstream"
CONTAINER_UPSTREAM_URL = f"http://{UPSTREAM_SERVICE}:{CONTAINER_PORT}"


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
    want = upstream_command("python", "0.0.0.0", CONTAINER_PORT, config.upstream_backlog,
                            upstream=config.upstream, seed=config.seed)
    if not isinstance(upstream, dict) or upstream.get("command") != want:
        return (f"[run] upstream_backlog = {config.upstream_backlog} or the [upstream] table: "
                "docker-compose.yml's upstream service runs another command")
    return None


def compose_image(compose: Mapping[str, Any], environ: Mapping[str, str] | None = None) -> str:
    """The image the upstream service (and every other) runs, variables substituted."""
    image = compose["services"][UPSTREAM_SERVICE].get("image", "")
    return interpolate(str(image), os.environ if environ is None else environ)


def parse_published(output: str) -> str:
    """``docker compose port`` output (``127.0.0.1:18001``) as a base URL; a wildcard
    address (``0.0.0.0``, ``::``) is reached on 127.0.0.1."""
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
