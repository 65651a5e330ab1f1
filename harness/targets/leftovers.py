"""The second line behind the guard: a pid file per run, and ending what a killed run left.

While a run records (``recording``), every child started through ``managed_process``
appends one line to the run's pid file: its process group, start time, command, the
harness's own pid and start time, and a random token that the child and every
descendant carry in their environment (``GUARD_ENV``). The next harness start over the
same results folder (``end_leftovers``) reads those files and, for each entry whose
harness is gone, kills the processes of this user that carry the entry's token. A pid
alone is never trusted: a recycled pid or a crafted pid file naming someone else's
process matches no token.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psutil

from harness import safefs
from harness.errors import AsyncbenchError

GUARD_ENV = "ASYNCBENCH_GUARD"
MAX_PID_FILE_BYTES = 1 << 20
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


def record(pid: int, token: str, command: list[str]) -> None:
    """Append a started child to the current run's pid file, if a run is recording."""
    if not _RECORDING:
        return
    entry = {"pgid": pid, "started": _start_time(pid), "token": token,
             "command": command[:8], "harness_pid": os.getpid(),
             "harness_started": _start_time(os.getpid())}
    with safefs.open_append(_RECORDING[-1]) as fh:
        fh.write((json.dumps(entry, sort_keys=True) + "\n").encode("utf-8"))
        fh.flush()
        os.fsync(fh.fileno())


def _entries(pid_file: Path) -> list[dict[str, Any]]:
    try:
        data = safefs.read_bytes(pid_file, limit=MAX_PID_FILE_BYTES)
    except (OSError, AsyncbenchError):
        return []  # a pid file that cannot be read safely names nothing to kill
    entries = []
    for line in data.splitlines():
        with contextlib.suppress(ValueError):
            entry = json.loads(line)
            if isinstance(entry, dict) and isinstance(entry.get("token"), str):
                entries.append(entry)
    return entries


def _harness_alive(entry: dict[str, Any]) -> bool:
    pid = entry.get("harness_pid")
    if not isinstance(pid, int):
        return False
    started = _start_time(pid)
    return started is not None and started == entry.get("harness_started")


def end_leftovers(pid_files: list[Path]) -> list[str]:
    """Kill what earlier, killed runs left running; one line per process ended.

    Only processes of this user whose environment carries a recorded token, and only
    for entries whose harness process is gone, are killed.
    """
    tokens: dict[str, dict[str, Any]] = {}
    for pid_file in pid_files:
        for entry in _entries(pid_file):
            if not _harness_alive(entry):
                tokens[entry["token"]] = entry
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
