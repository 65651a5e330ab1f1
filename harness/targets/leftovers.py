"""The second line behind the guard: a pid file per run, and ending what a killed run left.

While a run records (``recording``), every child started through ``managed_process``
appends one line to the run's pid file: its process group, start time, command, the
harness's own pid and start time, and a random token that the child and every
descendant carry in their environment (``GUARD_ENV``). Every temporary folder the
harness makes (``temporary_folder``: PostgreSQL's throw-away data, a log folder) appends
a line naming it. The next harness start over the same results folder
(``end_leftovers``) reads those files and, for each entry whose harness is gone, kills
the processes of this user that carry the entry's token, then removes the folders.

The pid file is untrusted. A pid alone is never trusted: a recycled pid or a crafted
pid file naming someone else's process matches no token. A folder is removed only when
it is one the harness itself would have made: directly in this process's temporary
folder, named ``asyncbench-`` plus a kind and ``mkdtemp``'s random suffix, a real folder
(not a link) owned by this user; removal follows no link inside it.

A run that creates network namespaces (``netns``) first appends a ``network`` entry: the
name prefix and the token every name it creates is made of. The next start removes those
of entries whose harness is gone (``dead_networks`` lists them; ``netns`` rebuilds the
names from the two parts and removes only what matches them).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import shutil
import signal
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from harness import safefs
from harness.errors import AsyncbenchError

GUARD_ENV = "ASYNCBENCH_GUARD"
PROCESS, NETWORK = "process", "network"  # the kinds of entry (older files: processes only)
MAX_PID_FILE_BYTES = 1 << 20
TEMP_PREFIX = "asyncbench-"
# What temporary_folder makes: the prefix, an optional kind, then mkdtemp's 8 characters.
_TEMP_NAME = re.compile(rf"^{TEMP_PREFIX}(?:[a-z]+-)?[a-z0-9_]{{8}}$")
_RECORDING: list[Path] = []


@contextlib.contextmanager
def recording(pid_file: Path) -> Iterator[None]:
    """Record every child started in the block in ``pid_file``."""
    _RECORDING.append(pid_file)
    try:
        yield
    finally:
        _RECORDING.remove(pid_file)


def new_token() -> str:
    """A token for one child's environment."""
    return secrets.token_hex(16)


def _start_time(pid: int) -> float | None:
    try:
        return psutil.Process(pid).create_time()
    except psutil.Error:
        return None


def _append(entry: dict[str, Any]) -> None:
    if not _RECORDING:
        return
    entry = {**entry, "harness_pid": os.getpid(), "harness_started": _start_time(os.getpid())}
    with safefs.open_append(_RECORDING[-1]) as fh:
        fh.write((json.dumps(entry, sort_keys=True) + "\n").encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())


def record(pid: int, token: str, command: list[str]) -> None:
    """Append a started child to the current run's pid file, if a run is recording."""
    _append({"pgid": pid, "started": _start_time(pid), "token": token,
             "command": command[:8]})


def temporary_folder(kind: str = "") -> Path:
    """A new private folder in the temporary folder, ``asyncbench-[KIND-]XXXXXXXX``, named in
    the current run's pid file (if a run is recording) so that the next run removes it
    when this one is killed before it could."""
    if kind and not re.fullmatch(r"[a-z]+", kind):
        raise ValueError(f"a temporary folder's kind is lower-case letters, not {kind!r}")
    folder = Path(tempfile.mkdtemp(prefix=f"{TEMP_PREFIX}{kind}-" if kind else TEMP_PREFIX))
    _append({"folder": str(folder)})
    return folder


def record_network(prefix: str, token: str) -> None:
    """Append a run's network (every name made of ``prefix`` and ``token``) to the current
    run's pid file, if a run is recording; called before anything is created."""
    _append({"kind": NETWORK, "prefix": prefix, "token": token})


def _entries(pid_file: Path) -> list[dict[str, Any]]:
    try:
        data = safefs.read_bytes(pid_file, limit=MAX_PID_FILE_BYTES)
    except (OSError, AsyncbenchError):
        return []  # a pid file that cannot be read safely names nothing to kill
    entries = []
    for line in data.splitlines():
        with contextlib.suppress(ValueError, RecursionError):
            entry = json.loads(line)
            if isinstance(entry, dict) and (isinstance(entry.get("token"), str)
                                            or isinstance(entry.get("folder"), str)):
                entries.append(entry)
    return entries


def own_temporary_folder(folder: str) -> Path | None:
    """``folder`` when it is one :func:`temporary_folder` would make and this user owns:
    in this process's temporary folder, by name, a real folder (not a link); else None."""
    path = Path(folder)
    if not path.is_absolute() or ".." in path.parts or not _TEMP_NAME.match(path.name):
        return None
    if path.parent != Path(tempfile.gettempdir()):
        return None
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid():
        return None
    return path


def _remove_folders(entries: list[dict[str, Any]]) -> list[str]:
    removed = []
    for folder in dict.fromkeys(e["folder"] for e in entries if isinstance(e.get("folder"), str)):
        path = own_temporary_folder(folder)
        if path is None:
            continue
        shutil.rmtree(path, ignore_errors=True)  # links inside are removed, never followed
        if not path.exists():
            removed.append(f"removed {path}, left by an earlier run that was killed")
    return removed


def _harness_alive(entry: dict[str, Any]) -> bool:
    pid = entry.get("harness_pid")
    if not isinstance(pid, int):
        return False
    started = _start_time(pid)
    return started is not None and started == entry.get("harness_started")


def end_leftovers(pid_files: list[Path]) -> list[str]:
    """Kill what earlier, killed runs left running, then remove the temporary folders they
    left; one line per process ended and per folder removed.

    Only processes of this user whose environment carries a recorded token, and only
    for entries whose harness process is gone, are killed; only folders :func:`own_temporary_folder`
    accepts are removed.
    """
    gone = [entry for pid_file in pid_files for entry in _entries(pid_file)
            if not _harness_alive(entry)]
    tokens = {e["token"]: e for e in gone
              if e.get("kind", PROCESS) == PROCESS and isinstance(e.get("token"), str)}
    return _end_processes(tokens) + _remove_folders(gone)


def _end_processes(tokens: dict[str, dict[str, Any]]) -> list[str]:
    if not tokens:
        return []
    ended = []
    uid = os.getuid()
    for proc in psutil.process_iter(["uids", "cmdline"]):
        try:
            uids = proc.info["uids"]
            if uids is None or uids.real != uid or proc.pid == os.getpid():
                continue
            token = proc.environ().get(GUARD_ENV)
            if token not in tokens:
                continue
            proc.send_signal(signal.SIGKILL)
        except (psutil.Error, OSError):
            continue
        ended.append(f"ended pid {proc.pid} ({' '.join(proc.info['cmdline'] or [])[:80]}) left "
                     f"running by an earlier run that was killed")
    return ended


def dead_networks(pid_files: list[Path]) -> list[tuple[str, str]]:
    """(prefix, token) of every network recorded in ``pid_files`` whose harness is gone."""
    found: dict[tuple[str, str], None] = {}
    for pid_file in pid_files:
        for entry in _entries(pid_file):
            prefix, token = entry.get("prefix"), entry.get("token")
            if (entry.get("kind") == NETWORK and isinstance(prefix, str)
                    and isinstance(token, str) and not _harness_alive(entry)):
                found[(prefix, token)] = None
    return list(found)
