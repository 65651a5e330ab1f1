"""The manifest: everything needed to understand and reproduce a run, written before its
first trial, and the run folder it is written into.
"""

from __future__ import annotations

import datetime as dt
import getpass
import os
import re
import shlex
from pathlib import Path
from typing import Any

from harness import __version__
from harness.config.schema import Config, StackSpec
from harness.errors import ConfigError, RunDirError
from harness.measure import envinfo
from harness.measure.calibrate import load_calibration
from harness.measure.plan import skipped, trials_per_round
from harness.paths import project_relative
from harness.rundir.format import RUN_ID_PATTERN, SCHEMA_VERSION
from harness.targets import target_details
from harness.targets.cpuwork import measure_cpu_work


def make_run_id(config: Config, now: dt.datetime | None = None) -> str:
    """``YYYYmmdd-HHMMSS-<config name>``: sortable and readable."""
    now = now or dt.datetime.now(dt.UTC)
    stem = re.sub(r"[^A-Za-z0-9_-]+", "-", Path(config.source).stem or "config").strip("-")
    return f"{now:%Y%m%d-%H%M%S}-{stem or 'config'}"


def typed_command(argv: list[str]) -> str:
    """The command as the user typed it, runnable from the project's folder: every
    argument naming an existing file or folder is rewritten relative to the project
    (absolute when outside it)."""
    words = ["python", "-m", "harness"]
    for arg in argv:
        name, sep, value = arg.partition("=")
        if sep and name.startswith("--") and Path(value).exists():
            words.append(f"{name}={project_relative(value, None)}")
        elif not arg.startswith("-") and Path(arg).exists():
            words.append(project_relative(arg, None))
        else:
            words.append(arg)
    return shlex.join(words)


def named_run_id(name: str, root: Path | None = None) -> str:
    """``name`` as a run's id (``--run-id``): a plain name, as a bundle requires, and (with
    ``root``) not yet a folder there.

    Raises:
        ConfigError: ``name`` is not a plain name.
        RunDirError: ``root / name`` exists.
    """
    if not RUN_ID_PATTERN.match(name) or name in (".", ".."):
        raise ConfigError(f"--run-id {name!r} is not a plain name (letters, digits, '.', '_', "
                          "'-', starting with a letter or digit)")
    if root is not None and os.path.lexists(root / name):
        raise RunDirError(f"{root / name} already exists; choose another --run-id or move it")
    return name


def new_run_dir(root: Path, run_id: str, *, exact: bool = False) -> Path:
    """Create a fresh run folder under ``root``; never reuses an existing one. With
    ``exact``, the folder is named ``run_id`` or not made (RunDirError); otherwise a
    number is added to a name already taken."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        for suffix in [""] if exact else ["", *(f"-{i}" for i in range(2, 100))]:
            path = root / f"{run_id}{suffix}"
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return path
    except OSError as exc:
        raise RunDirError(f"{root}: cannot create a run folder ({exc.strerror or exc})") from None
    if exact:
        raise RunDirError(f"{root / run_id} already exists; choose another --run-id or move it")
    raise RunDirError(f"{root}: too many runs named {run_id}")


def build_manifest(config: Config, run_id: str, command: str,
                   results_root: Path | None = None) -> dict[str, Any]:
    """Everything needed to understand and reproduce the run, written before it starts.

    The target is checked first (TargetError when it cannot be used) and described:
    ``target``, ``controlled`` (whether the harness started the processes), ``hosts``
    (where each role runs) and, for compose and external targets, ``target_details``
    with image ids or URLs.
    """
    target = target_details(config)
    environment = envinfo.collect_environment()
    lock = envinfo.lock_hash()
    machine_id = envinfo.machine_fingerprint(environment)
    # The instrument's own limits on this machine, if `calibrate` measured them here.
    calibration = load_calibration(results_root, machine_id) if results_root else None
    stack_cpus, harness_cpus = config.placement.resolve(os.sched_getaffinity(0))
    upstream_cpus = config.placement.resolve_upstream(os.sched_getaffinity(0))
    backlogs = {"upstream": config.upstream_backlog, **{s.name: s.backlog for s in config.stacks}}
    # The handler work's size on this machine, handed to every app the harness starts.
    cpu_work = measure_cpu_work() if config.target == "local" else None
    return {
        "schema_version": SCHEMA_VERSION,
        "run_id": run_id,
        "created_at": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "command": command,
        "user": getpass.getuser(),
        "seed": config.seed,
        **target,
        "config": config.resolved(),
        "config_hash": config.digest(),
        "harness_version": __version__,
        "lock_hash": lock,
        "compat_id": envinfo.compat_id(__version__, lock),
        "git": envinfo.collect_git(),
        "environment": environment,
        "machine_id": machine_id,
        "calibration": calibration,
        "cpu_work": cpu_work,
        "trials_per_round": trials_per_round(config),
        "placement": {"mode": config.placement.mode,
                      "stack_cpus": sorted(stack_cpus) if stack_cpus is not None else "all",
                      "harness_cpus": sorted(harness_cpus) if harness_cpus is not None else "all",
                      # the upstream's own CPUs; absent where it shares the harness's
                      **({"upstream_cpus": sorted(upstream_cpus)} if upstream_cpus else {})},
        "warnings": envinfo.backlog_warnings(backlogs, environment.get("somaxconn")),
        "skipped": skipped(config),
        "stop_reason": "running",
        "rounds_completed": 0,
    }


def interpreter_version(manifest: dict[str, Any], spec: StackSpec) -> str | None:
    """The version of the interpreter ``spec``'s server ran under, as the manifest recorded
    it: its ``[run] pythons`` label's, else the harness's own for a local target; None
    where the harness did not start the server (compose, external)."""
    if manifest.get("target", "local") != "local":
        return None
    if spec.python:
        found = (manifest.get("pythons") or {}).get(spec.python) or {}
        version = found.get("version")
    else:
        version = (manifest.get("environment") or {}).get("python")
    return version if isinstance(version, str) else None
