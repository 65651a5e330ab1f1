"""The interpreters stacks run under (``[run] pythons``), found on this machine, and the
locked environment each one runs from.

A label (``3.12``, ``3.13t``) is served by the interpreter that runs the harness when it
is that version and build; any other by ``.pythons/LABEL/``, an environment built from
``uv.lock`` (``uv sync --frozen --python INTERPRETER``; ``nox -s pythons -- LABEL`` builds
it), which records the lock it was built from. A run refuses to start, naming that
command, where an environment is missing or was built from another lock.

Interpreters are found in this order, each candidate run once to ask what it is (a pyenv
shim that cannot run is passed over): ``uv python find LABEL``, ``pythonLABEL`` on PATH,
then pyenv's versions (``$PYENV_ROOT`` or ``~/.pyenv``). A free-threaded build
(``sysconfig`` ``Py_GIL_DISABLED``) runs with ``PYTHON_GIL=0``, so that an extension
module cannot turn the GIL back on; the manifest records whether it stayed off.
"""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
import sysconfig
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from harness import paths
from harness.config.stack import PYTHON_LABEL
from harness.errors import TargetError
from harness.paths import PROJECT_ROOT, lock_hash, project_relative

ENVIRONMENTS = PROJECT_ROOT / ".pythons"
STAMP = "asyncbench-environment.json"  # what an environment was built from
PROBE_TIMEOUT_S = 20.0
BUILD_TIMEOUT_S = 1800.0
FREE_THREADED_LABELS = ("3.13t", "3.14t", "3.15t")  # looked for when none is named
GIL_OFF = {"PYTHON_GIL": "0"}
NEEDS_CHECKOUT = ("[run] pythons: {label} needs an environment built from a checkout of "
                  "asyncbench (uv sync reads its pyproject.toml and uv.lock); an installed "
                  "harness runs its stacks under its own interpreter only")
# Run by a candidate interpreter: what it is, as one JSON line (no site, no project).
PROBE = (
    "import json, platform, sys, sysconfig\n"
    "gil = getattr(sys, '_is_gil_enabled', None)\n"
    "print(json.dumps({'version': platform.python_version(),"
    " 'implementation': platform.python_implementation(),"
    " 'build': ' '.join(platform.python_build()), 'compiler': platform.python_compiler(),"
    " 'major': sys.version_info[0], 'minor': sys.version_info[1],"
    " 'free_threaded': bool(sysconfig.get_config_var('Py_GIL_DISABLED')),"
    " 'gil_enabled': True if gil is None else gil()}))\n"
)


def build_command(label: str) -> str:
    """The command that builds the environment of ``label``."""
    return f"nox -s pythons -- {label}"


@dataclass(frozen=True)
class Interpreter:
    """An interpreter stacks can run under: ``python`` is what ``{python}`` becomes (the
    harness's own interpreter, or the one of ``environment``), ``base`` the interpreter
    the environment was built from."""

    label: str
    python: str
    base: str
    version: str
    implementation: str
    build: str
    compiler: str
    free_threaded: bool
    gil_disabled: bool
    environment: str | None

    @property
    def env(self) -> dict[str, str]:
        """What a stack's environment adds: the GIL off for a free-threaded build."""
        return dict(GIL_OFF) if self.free_threaded else {}

    def describe(self) -> dict[str, Any]:
        """As the manifest records it: paths inside the project relative to it (links
        not followed: a virtualenv's python is a link to its base interpreter)."""
        data = asdict(self)
        for key in ("python", "base"):
            path = Path(data[key])
            if path.is_absolute() and path.is_relative_to(PROJECT_ROOT):
                data[key] = str(path.relative_to(PROJECT_ROOT))
        return data


def label_of(info: Mapping[str, Any]) -> str:
    """``3.12`` or ``3.13t``: the label a probed interpreter answers to."""
    return f"{info['major']}.{info['minor']}" + ("t" if info.get("free_threaded") else "")


def probe(executable: str, env: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """What ``executable`` is (``PROBE``'s answer), or None when it does not run as a
    Python that answers (a broken pyenv shim, a missing file, a timeout)."""
    try:
        done = subprocess.run([executable, "-I", "-S", "-c", PROBE], capture_output=True,
                              text=True, timeout=PROBE_TIMEOUT_S, check=False,
                              env={**os.environ, **(env or {})})
    except (OSError, subprocess.SubprocessError):
        return None
    try:
        info = json.loads(done.stdout.strip().splitlines()[-1]) if done.returncode == 0 else None
    except (ValueError, IndexError):
        return None
    return info if isinstance(info, dict) and "major" in info else None


def running_label() -> str:
    """The label of the interpreter that runs the harness."""
    free = bool(sysconfig.get_config_var("Py_GIL_DISABLED"))
    return f"{sys.version_info[0]}.{sys.version_info[1]}" + ("t" if free else "")


def _uv() -> str | None:
    return os.environ.get("UV") or shutil.which("uv")


def _from_uv(label: str) -> Iterator[str]:
    uv = _uv()
    if uv is None:
        return
    try:
        done = subprocess.run([uv, "python", "find", "--no-project", label],
                              capture_output=True, text=True, timeout=PROBE_TIMEOUT_S,
                              check=False, env={**os.environ, "UV_PYTHON_DOWNLOADS": "never"})
    except (OSError, subprocess.SubprocessError):
        return
    if done.returncode == 0 and done.stdout.strip():
        yield done.stdout.strip().splitlines()[0]


def _from_path(label: str, path: str) -> Iterator[str]:
    for folder in path.split(os.pathsep):
        candidate = Path(folder or ".") / f"python{label}"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            yield str(candidate)


def _version_key(folder: Path) -> tuple[int, ...]:
    digits = folder.name.rstrip("t").split(".")
    return tuple(int(d) if d.isdigit() else -1 for d in digits)


def _from_pyenv(label: str, roots: Iterable[Path]) -> Iterator[str]:
    for root in roots:
        versions = root / "versions"
        if not versions.is_dir():
            continue
        for folder in sorted(versions.iterdir(), key=_version_key, reverse=True):
            candidate = folder / "bin" / f"python{label}"
            if candidate.is_file():
                yield str(candidate)


def pyenv_roots(environ: Mapping[str, str] | None = None) -> list[Path]:
    """Where pyenv keeps its versions: ``$PYENV_ROOT``, then ``~/.pyenv``."""
    environ = os.environ if environ is None else environ
    roots = [Path(environ["PYENV_ROOT"])] if environ.get("PYENV_ROOT") else []
    return [*roots, Path.home() / ".pyenv"]


def find(label: str, environ: Mapping[str, str] | None = None) -> tuple[str, dict[str, Any]] | None:
    """The first interpreter that answers to ``label`` (uv, then PATH, then pyenv) and
    what it is; None when none does."""
    environ = os.environ if environ is None else environ
    seen: set[str] = set()
    sources = (_from_uv(label), _from_path(label, environ.get("PATH", "")),
               _from_pyenv(label, pyenv_roots(environ)))
    for candidate in (c for source in sources for c in source):
        if candidate in seen:
            continue
        seen.add(candidate)
        info = probe(candidate)
        if info is not None and label_of(info) == label:
            return candidate, info
    return None


def environment_dir(label: str) -> Path:
    """Where the locked environment of ``label`` lives."""
    return ENVIRONMENTS / label


def environment_python(label: str) -> Path:
    """The interpreter inside the environment of ``label``."""
    return environment_dir(label) / "bin" / "python"


def _stamp(label: str) -> dict[str, Any]:
    try:
        data = json.loads((environment_dir(label) / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _interpreter(label: str, python: str, base: str, info: Mapping[str, Any],
                 environment: str | None) -> Interpreter:
    gil = info["gil_enabled"]
    if info.get("free_threaded"):
        answer = probe(python, GIL_OFF)
        gil = True if answer is None else answer["gil_enabled"]
    return Interpreter(label=label, python=python, base=base, version=str(info["version"]),
                       implementation=str(info["implementation"]), build=str(info["build"]),
                       compiler=str(info["compiler"]),
                       free_threaded=bool(info.get("free_threaded")), gil_disabled=not gil,
                       environment=environment)


@functools.cache
def resolve(label: str) -> Interpreter:
    """The interpreter stacks labelled ``label`` run under (cached for the process).

    Raises:
        TargetError: one line naming the command that builds the missing (or stale)
            environment, or saying what answered instead.
    """
    if label == running_label():
        info = probe(sys.executable)
        if info is None:
            raise TargetError(f"[run] pythons: {label}: the harness's own interpreter "
                              f"{sys.executable} did not answer")
        return _interpreter(label, sys.executable, sys.executable, info, None)
    if not paths.SOURCE_CHECKOUT:
        raise TargetError(NEEDS_CHECKOUT.format(label=label))
    python = environment_python(label)
    where = project_relative(str(environment_dir(label)), None)
    if not python.exists():
        raise TargetError(f"[run] pythons: no environment for {label} ({where}); build it "
                          f"with: {build_command(label)}")
    info = probe(str(python))
    if info is None or label_of(info) != label:
        seen = "does not run" if info is None else f"is {label_of(info)}"
        raise TargetError(f"[run] pythons: the environment for {label} ({where}) {seen}; "
                          f"rebuild it with: {build_command(label)}")
    stamp = _stamp(label)
    if stamp.get("lock_hash") != lock_hash():
        raise TargetError(f"[run] pythons: the environment for {label} ({where}) was not built "
                          f"from this uv.lock; rebuild it with: {build_command(label)}")
    return _interpreter(label, str(python), str(stamp.get("base") or python), info, where)


def resolve_all(labels: Sequence[str]) -> dict[str, Interpreter]:
    """Every label's interpreter, in order (TargetError at the first that is missing)."""
    return {label: resolve(label) for label in labels}


def free_threaded_note(labels: Sequence[str], found: Mapping[str, Interpreter],
                       environ: Mapping[str, str] | None = None) -> str:
    """One line on free-threaded builds: which run with the GIL off, or which were found
    but not named, or that none is present."""
    free = [i for i in found.values() if i.free_threaded]
    if free:
        return "free-threaded: " + ", ".join(
            f"{i.label} runs with the GIL {'off' if i.gil_disabled else 'on (it was re-enabled)'}"
            " (PYTHON_GIL=0)" for i in free)
    present = [(label, hit[0]) for label in FREE_THREADED_LABELS if label not in labels
               and (hit := find(label, environ)) is not None]
    if present:
        listed = ", ".join(f"{label} ({path})" for label, path in present)
        return (f"free-threaded builds found but not named in [run] pythons: {listed}; add "
                "them to measure sync servers with the GIL off")
    return ("no free-threaded build (" + ", ".join(FREE_THREADED_LABELS) + ") is named in "
            "[run] pythons or found on PATH, by uv or pyenv: every interpreter runs with its GIL")


def _build_environment(target: Path) -> dict[str, str]:
    """uv's environment for a build into ``target`` (an active virtualenv, e.g. nox's own,
    would only earn a warning that it is ignored)."""
    env = {k: v for k, v in os.environ.items() if k != "VIRTUAL_ENV"}
    env["UV_PROJECT_ENVIRONMENT"] = str(target)
    return env


def build(label: str, echo: Any = print) -> Path:
    """Build the locked environment of ``label`` with uv from the interpreter found for
    it; record what it was built from. ``echo`` shows the command first.

    Raises:
        TargetError: no interpreter answers to the label, uv is missing, or uv failed.
    """
    if PYTHON_LABEL.fullmatch(label) is None:
        raise TargetError(f"{label!r}: not an interpreter's label such as 3.12 or 3.13t")
    if not paths.SOURCE_CHECKOUT:
        raise TargetError(NEEDS_CHECKOUT.format(label=label))
    hit = find(label)
    if hit is None:
        raise TargetError(f"no interpreter answers to {label}: looked with uv python find, for "
                          f"python{label} on PATH and in pyenv's versions")
    base, info = hit
    uv = _uv()
    if uv is None:
        raise TargetError("uv is not on PATH (make tools installs it into .tools/bin); "
                          "set UV to its path")
    target = environment_dir(label)
    # Bytecode compiled now: the servers run with PYTHONDONTWRITEBYTECODE, so an environment
    # without it would compile every module at every start (slow, on the stack's CPUs).
    command = [uv, "sync", "--frozen", "--no-default-groups", "--compile-bytecode",
               "--python", base]
    echo(f"UV_PROJECT_ENVIRONMENT={project_relative(str(target), None)} {' '.join(command)}")
    try:
        done = subprocess.run(command, cwd=PROJECT_ROOT, timeout=BUILD_TIMEOUT_S, check=False,
                              env=_build_environment(target))
    except (OSError, subprocess.SubprocessError) as exc:
        raise TargetError(f"{label}: uv sync did not run ({exc})") from None
    if done.returncode != 0:
        raise TargetError(f"{label}: uv sync exited with {done.returncode} (its output is above)")
    stamp = {"label": label, "base": base, "version": info["version"], "lock_hash": lock_hash()}
    (target / STAMP).write_text(json.dumps(stamp, sort_keys=True) + "\n", encoding="utf-8")
    resolve.cache_clear()
    return target
