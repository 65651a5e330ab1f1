"""Process checks shared by tests."""

from __future__ import annotations

import contextlib
import os
import time

import psutil


def living_children(settle_s: float = 2.0) -> list[psutil.Process]:
    """This process's descendants that are still running, after giving exiting ones
    ``settle_s`` to go. Zombies of programs the harness did not start (adopted
    because the harness is a child subreaper) are not counted; the harness's own
    children are checked for reaping by pid in the lifecycle tests."""
    deadline = time.monotonic() + settle_s
    while True:
        alive = []
        for proc in psutil.Process().children(recursive=True):
            try:
                if proc.status() != psutil.STATUS_ZOMBIE:
                    alive.append(proc)
            except psutil.Error:
                continue
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def still_running(pids: set[int], settle_s: float = 0.0) -> list[int]:
    """The pids that still run after giving them up to ``settle_s`` to end; zombies adopted
    by this process are reaped, not counted."""
    deadline = time.monotonic() + settle_s
    while True:
        alive = []
        for pid in pids:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
            try:
                if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                    alive.append(pid)
            except psutil.Error:
                continue
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)
