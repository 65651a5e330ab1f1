"""Environment capture: small ``collect_*`` functions, each filling part of one dict."""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

from harness import __version__

PROJECT_ROOT = Path(__file__).resolve().parent.parent
LOCK_FILE = PROJECT_ROOT / "uv.lock"


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except OSError:
        return None


def collect_python() -> dict[str, Any]:
    """Interpreter version, implementation, build and executable."""
    return {"python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "python_build": " ".join(platform.python_build()),
            "executable": sys.executable}


def collect_platform() -> dict[str, Any]:
    """Operating system and kernel."""
    os_name = platform.platform()
    release = _read("/etc/os-release")
    if release:
        for line in release.splitlines():
            if line.startswith("PRETTY_NAME="):
                os_name = line.split("=", 1)[1].strip('"')
    return {"os": os_name, "kernel": platform.release(), "machine": platform.machine()}


def collect_cpu() -> dict[str, Any]:
    """CPU model, counts, frequency governor, load average and a container CPU limit."""
    model = None
    cpuinfo = _read("/proc/cpuinfo") or ""
    for line in cpuinfo.splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    freq = psutil.cpu_freq()
    limit = None
    cpu_max = _read("/sys/fs/cgroup/cpu.max")
    if cpu_max and not cpu_max.startswith("max"):
        quota, period = cpu_max.split()
        limit = round(int(quota) / int(period), 3)
    try:
        affinity = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    return {
        "cpu_model": model or platform.processor() or None,
        "cpu_count": psutil.cpu_count(logical=True),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "cpu_affinity": affinity,
        "cpu_freq_mhz": round(freq.current, 1) if freq else None,
        "governor": _read("/sys/devices/system/cpu/cpu0/cpufreq/scaling_governor"),
        "container_cpu_limit": limit,
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
    }


def collect_packages() -> dict[str, str]:
    """Every distribution installed in the environment the harness and servers run in."""
    packages = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            packages[name.lower()] = dist.version
    return dict(sorted(packages.items()))


def collect_git(root: Path = PROJECT_ROOT) -> dict[str, Any]:
    """The commit checked out and whether the work tree differs from it."""
    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(["git", *args], cwd=root, capture_output=True, text=True,
                                 timeout=10, check=True)
        except (OSError, subprocess.SubprocessError):
            return None
        return out.stdout.strip()

    commit = git("rev-parse", "HEAD")
    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": commit, "dirty": bool(status) if status is not None else None}


def lock_hash(path: Path = LOCK_FILE) -> str | None:
    """SHA-256 of the lock file, or None when it is absent."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return None


def compat_id(version: str = __version__, lock: str | None = None) -> str:
    """Runs with equal ids were made by the same harness on the same pinned packages."""
    lock = lock if lock is not None else lock_hash()
    return hashlib.sha256(f"{version}:{lock}".encode()).hexdigest()[:16]


def collect_environment() -> dict[str, Any]:
    """Everything above in one dict, as stored under ``environment`` in the manifest."""
    env: dict[str, Any] = {}
    for collect in (collect_python, collect_platform, collect_cpu):
        env.update(collect())
    env["hostname"] = platform.node()
    env["packages"] = collect_packages()
    return env


def machine_fingerprint(env: dict[str, Any]) -> str:
    """A short id of the hardware and OS, to warn when a rerun happens elsewhere."""
    keys = ("cpu_model", "cpu_count", "kernel", "os", "machine", "hostname")
    blob = "|".join(str(env.get(k)) for k in keys)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
