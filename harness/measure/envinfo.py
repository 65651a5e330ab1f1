"""Environment capture: small ``collect_*`` functions, each filling part of one dict.

The parsers (``parse_*``) are pure functions of file text, and the readers take the
root of the file system (``root``) so tests can point them at a fake tree.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import os
import platform
import re
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

from harness import __version__
from harness.paths import PROJECT_ROOT
from harness.paths import lock_hash as lock_hash

ROOT = Path("/")
# Where cgroup v1 mounts the cpu controller (hierarchies may be co-mounted).
CGROUP_V1_CPU_DIRS = ("cpu,cpuacct", "cpuacct,cpu", "cpu")


def _read(path: str | Path) -> str | None:
    try:
        return Path(path).read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError):
        return None


# --- parsers (pure) ---------------------------------------------------------------------

def parse_os_release(text: str) -> str | None:
    """``PRETTY_NAME`` of an ``/etc/os-release`` text, unquoted; None when absent."""
    for line in text.splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip().strip("\"'") or None
    return None


def parse_cpu_model(cpuinfo: str) -> str | None:
    """The first ``model name`` (x86) or ``Model``/``Hardware`` (ARM) of ``/proc/cpuinfo``."""
    found: dict[str, str] = {}
    for line in cpuinfo.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip()
        if sep and key in ("model name", "Model", "Hardware") and key not in found:
            found[key] = value.strip()
    return found.get("model name") or found.get("Model") or found.get("Hardware") or None


def parse_cpu_max(text: str) -> float | None:
    """Cores allowed by a cgroup v2 ``cpu.max`` (``"QUOTA PERIOD"``); None if unlimited.

    ``"max 100000"`` is no limit; ``"150000 100000"`` is 1.5 cores. Malformed text
    gives None (a limit we cannot read is not recorded as one).
    """
    parts = text.split()
    if len(parts) not in (1, 2) or parts[0] == "max":
        return None
    period_text = parts[1] if len(parts) == 2 else "100000"  # the kernel's default period
    return _quota_ratio(parts[0], period_text)


def parse_cfs_quota(quota_text: str, period_text: str) -> float | None:
    """Cores allowed by cgroup v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``; None if -1."""
    return _quota_ratio(quota_text.strip(), period_text.strip())


def _quota_ratio(quota_text: str, period_text: str) -> float | None:
    try:
        quota, period = int(quota_text), int(period_text)
    except ValueError:
        return None
    if quota <= 0 or period <= 0:
        return None
    return round(quota / period, 3)


def parse_proc_cgroup(text: str) -> dict[str, str]:
    """``/proc/<pid>/cgroup`` as {controllers: path}; the v2 hierarchy's key is ``""``.

    ``"0::/user.slice"`` gives ``{"": "/user.slice"}``; ``"4:cpu,cpuacct:/docker/ab"``
    gives ``{"cpu,cpuacct": "/docker/ab"}``. Malformed lines are skipped.
    """
    groups: dict[str, str] = {}
    for line in text.splitlines():
        parts = line.strip().split(":", 2)
        if len(parts) == 3 and parts[2].startswith("/"):
            groups[parts[1]] = parts[2]
    return groups


# --- readers ----------------------------------------------------------------------------

def _up_to(base: Path, path: str) -> list[Path]:
    """``base/path`` and each of its parents up to and including ``base``."""
    parts = [p for p in path.strip("/").split("/") if p and p not in (".", "..")]
    return [base.joinpath(*parts[:i]) for i in range(len(parts), -1, -1)]


def cgroup_cpu_limit(root: Path = ROOT) -> tuple[float | None, str | None]:
    """The tightest CPU limit (cores) of this process's cgroups, and the file it came from.

    Reads cgroup v2 ``cpu.max`` and cgroup v1 ``cpu.cfs_quota_us``/``cpu.cfs_period_us``
    along the path ``/proc/self/cgroup`` names and every parent (a parent's limit
    binds its children), falling back to the mount's top when the path is not
    visible (a container's own cgroup namespace). ``(None, None)`` when unlimited
    or unreadable.
    """
    cgroup_fs = root / "sys/fs/cgroup"
    groups = parse_proc_cgroup(_read(root / "proc/self/cgroup") or "")
    found: list[tuple[float, str]] = []
    v2_path = groups.get("", "/")
    for mount in (cgroup_fs, cgroup_fs / "unified"):
        for folder in _up_to(mount, v2_path):
            text = _read(folder / "cpu.max")
            limit = parse_cpu_max(text) if text is not None else None
            if limit is not None:
                found.append((limit, str(folder / "cpu.max")))
    v1_path = next((p for k, p in groups.items() if "cpu" in k.split(",")), "/")
    for name in CGROUP_V1_CPU_DIRS:
        for folder in _up_to(cgroup_fs / name, v1_path):
            quota, period = _read(folder / "cpu.cfs_quota_us"), _read(folder / "cpu.cfs_period_us")
            limit = parse_cfs_quota(quota, period) if quota and period else None
            if limit is not None:
                found.append((limit, str(folder / "cpu.cfs_quota_us")))
    if not found:
        return None, None
    limit, source = min(found)
    return limit, source


def cpu_governors(root: Path = ROOT) -> str | None:
    """The CPU frequency governor(s) in use, e.g. ``"performance"``; None when unreadable.

    Several distinct governors across CPUs are joined with commas.
    """
    cpus = root / "sys/devices/system/cpu"
    seen: list[str] = []
    try:
        folders = sorted(p for p in cpus.iterdir() if re.fullmatch(r"cpu\d+", p.name))
    except OSError:
        return None
    for folder in folders[:4096]:
        governor = _read(folder / "cpufreq/scaling_governor")
        if governor and governor not in seen:
            seen.append(governor)
    return ",".join(seen) or None


def loadavg() -> list[float] | None:
    """The 1, 5 and 15 minute load averages, or None where the OS does not say."""
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def cpu_boost(root: Path = ROOT) -> str | None:
    """Whether the CPUs may boost above their base clock (turbo): ``on``, ``off`` or None.

    Reads ``cpufreq/boost`` (acpi-cpufreq, amd-pstate) or ``intel_pstate/no_turbo``.
    """
    boost = _read(root / "sys/devices/system/cpu/cpufreq/boost")
    if boost in ("0", "1"):
        return "on" if boost == "1" else "off"
    no_turbo = _read(root / "sys/devices/system/cpu/intel_pstate/no_turbo")
    if no_turbo in ("0", "1"):
        return "off" if no_turbo == "1" else "on"
    return None


def _int_or_none(text: str | None) -> int | None:
    try:
        return int(text) if text is not None else None
    except ValueError:
        return None


def collect_kernel(root: Path = ROOT) -> dict[str, Any]:
    """Kernel settings that bound a result: the accept queue cap (``somaxconn`` silently
    caps every stated backlog), the open-file limit, CPU boost, ASLR, isolated CPUs."""
    try:
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        nofile: list[int] | None = [soft, hard]
    except (OSError, ValueError):
        nofile = None
    return {
        "somaxconn": _int_or_none(_read(root / "proc/sys/net/core/somaxconn")),
        "open_files_limit": nofile,
        "cpu_boost": cpu_boost(root),
        "aslr": _int_or_none(_read(root / "proc/sys/kernel/randomize_va_space")),
        "isolated_cpus": _read(root / "sys/devices/system/cpu/isolated") or "none",
    }


def backlog_warnings(backlogs: dict[str, int], somaxconn: int | None) -> list[str]:
    """One line per stack (or the upstream) whose stated backlog the kernel caps."""
    if somaxconn is None:
        return []
    return [f"{name} states a listen backlog of {backlog}, but net.core.somaxconn is "
            f"{somaxconn}: the kernel caps it at {somaxconn}"
            for name, backlog in backlogs.items() if backlog > somaxconn]


# --- collectors -------------------------------------------------------------------------

def collect_python() -> dict[str, Any]:
    """Interpreter version, implementation, build, compiler and executable."""
    return {"python": platform.python_version(),
            "implementation": platform.python_implementation(),
            "python_build": " ".join(platform.python_build()),
            "python_compiler": platform.python_compiler(),
            "executable": sys.executable}


def collect_platform(root: Path = ROOT) -> dict[str, Any]:
    """Operating system and kernel."""
    os_name = parse_os_release(_read(root / "etc/os-release") or "") or platform.platform()
    return {"os": os_name, "kernel": platform.release(), "kernel_version": platform.version(),
            "machine": platform.machine()}


def collect_cpu(root: Path = ROOT) -> dict[str, Any]:
    """CPU model, counts, frequency governor, load average and a container CPU limit."""
    model = parse_cpu_model(_read(root / "proc/cpuinfo") or "")
    try:
        freq = psutil.cpu_freq()
    except (OSError, NotImplementedError):
        freq = None
    limit, limit_source = cgroup_cpu_limit(root)
    try:
        affinity: int | None = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        affinity = None
    return {
        "cpu_model": model or platform.processor() or None,
        "cpu_count": psutil.cpu_count(logical=True),
        "cpu_count_physical": psutil.cpu_count(logical=False),
        "cpu_affinity": affinity,
        "cpu_freq_mhz": round(freq.current, 1) if freq else None,
        "governor": cpu_governors(root),
        "container_cpu_limit": limit,
        "container_cpu_limit_source": limit_source,
        "loadavg": loadavg(),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
    }


def normalise_name(name: str) -> str:
    """A distribution name in PEP 503 form: lower case, runs of ``-_.`` as one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def collect_packages() -> dict[str, str]:
    """Every distribution of the environment the harness runs in, name -> version.

    The servers run on the same interpreter (``sys.executable``), so this is their
    environment too. When a name is installed twice on ``sys.path``, the first one
    (the one imported) wins.
    """
    packages: dict[str, str] = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"]
        if name:
            packages.setdefault(normalise_name(name), dist.version)
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


def compat_id(version: str = __version__, lock: str | None = None) -> str:
    """Runs with equal ids were made by the same harness on the same pinned packages."""
    lock = lock if lock is not None else lock_hash()
    return hashlib.sha256(f"{version}:{lock}".encode()).hexdigest()[:16]


def collect_environment() -> dict[str, Any]:
    """Everything above in one dict, as stored under ``environment`` in the manifest."""
    env: dict[str, Any] = {}
    for collect in (collect_python, collect_platform, collect_cpu, collect_kernel):
        env.update(collect())
    env["hostname"] = platform.node()
    env["environment_prefix"] = sys.prefix
    env["packages"] = collect_packages()
    return env


def machine_fingerprint(env: dict[str, Any]) -> str:
    """A short id of the hardware and OS, to warn when a rerun happens elsewhere."""
    keys = ("cpu_model", "cpu_count", "kernel", "os", "machine", "hostname")
    blob = "|".join(str(env.get(k)) for k in keys)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]
