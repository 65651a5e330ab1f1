"""The run's CPU-work calibration: how many iterations of the apps' handler work take a
millisecond on this machine, measured once per run in a fresh Python like the apps'.

The work itself lives with the apps (``servers.cpu_work``); the harness never imports
the servers, so it runs ``python -m servers.cpu_work`` and reads its one JSON line.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from harness.errors import StackError
from harness.paths import PROJECT_ROOT, child_environment

CALIBRATION_TIMEOUT_S = 60.0


def calibration_command(python: str = sys.executable) -> list[str]:
    """The command that prints the calibration."""
    return [python, "-m", "servers.cpu_work"]


def parse_calibration(line: str) -> dict[str, Any]:
    """The calibration record from the command's output line.

    Raises:
        ValueError: the line is not a JSON object with a positive integer iterations_per_ms.
    """
    data = json.loads(line)
    iters = data.get("iterations_per_ms") if isinstance(data, dict) else None
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"no positive integer iterations_per_ms in {line[:200]!r}")
    return dict(data)


def measure_cpu_work(python: str = sys.executable,
                     timeout_s: float = CALIBRATION_TIMEOUT_S) -> dict[str, Any]:
    """Run the calibration in a child process and return its record.

    Raises:
        StackError: the child failed, timed out or printed something else.
    """
    command = calibration_command(python)
    try:
        # run() kills and reaps the child on a timeout or an interrupt.
        done = subprocess.run(command, capture_output=True, text=True, timeout=timeout_s,
                              cwd=PROJECT_ROOT, env=child_environment(), check=False)
    except subprocess.TimeoutExpired:
        raise StackError(f"CPU-work calibration took longer than {timeout_s:g} s",
                         command) from None
    if done.returncode != 0:
        raise StackError(f"CPU-work calibration exited with {done.returncode}", command,
                         done.stderr[-2000:])
    try:
        return parse_calibration(done.stdout.strip().splitlines()[-1] if done.stdout else "")
    except (ValueError, IndexError) as exc:
        raise StackError(f"CPU-work calibration printed no usable result ({exc})",
                         command, done.stdout[-2000:]) from None
