"""Running a container engine's commands: one result type, never an exception for a
failing command, and the engine's environment (``paths.engine_environment``)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from harness.paths import engine_environment


@dataclass(frozen=True)
class CommandResult:
    """What one engine command did; ``code`` is None when it could not run or timed out."""

    argv: tuple[str, ...]
    code: int | None
    stdout: str = ""
    stderr: str = ""

    @property
    def ok(self) -> bool:
        """True when the command exited 0."""
        return self.code == 0

    def reason(self) -> str:
        """The last line it wrote (stderr first), or its exit code: one line for a message."""
        for text in (self.stderr, self.stdout):
            lines = [line.strip() for line in text.splitlines() if line.strip()]
            if lines:
                return lines[-1][:300]
        return f"exit code {self.code}"


Execute = Callable[[Sequence[str], float], CommandResult]


def run_command(argv: Sequence[str], timeout: float) -> CommandResult:
    """Run ``argv`` (no shell), capturing its output; never raises for a failing command."""
    try:
        done = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                              stdin=subprocess.DEVNULL, check=False,
                              env=engine_environment())
    except FileNotFoundError:
        return CommandResult(tuple(argv), None, stderr=f"{argv[0]}: not found on PATH")
    except subprocess.TimeoutExpired:
        return CommandResult(tuple(argv), None, stderr=f"timed out after {timeout:g} s")
    return CommandResult(tuple(argv), done.returncode, done.stdout, done.stderr)
