"""Every error the harness raises on purpose, in one hierarchy.

    AsyncbenchError                 base; its message is one line, fit for a terminal
    ├── ConfigError                 a config file or CLI value is wrong (exit 2)
    ├── RunDirError                 a run folder is missing or unreadable (exit 2)
    ├── StackError                  a child process of a stack misbehaved
    │   ├── StackStartError         it exited, or never answered /health, before it was ready
    │   └── StackExitedError        it died while it was being measured
    ├── TargetError                 a target (compose, external) is unavailable
    ├── LoadGeneratorError          a load-generator process failed or fell silent
    ├── MachineBusyError            other processes kept the CPUs busy past the quiet wait
    └── BundleError                 a published bundle fails verification

    Terminated (a BaseException)    SIGTERM or SIGHUP reached the harness: unwind, then exit

Only the CLI turns these into messages and exit codes.
"""

from __future__ import annotations


class AsyncbenchError(Exception):
    """Base class: ``str(error)`` is a one-line message for the user."""


class ConfigError(AsyncbenchError):
    """A configuration value is missing, unknown, of the wrong type or out of range."""


class RunDirError(AsyncbenchError):
    """A run folder, its manifest or its trials file cannot be used."""


class StackError(AsyncbenchError):
    """A child process the harness started did not behave.

    Carries the command that was run and the last lines of its output so the
    user can see why without digging through log files.
    """

    def __init__(self, message: str, command: list[str], output_tail: str = "") -> None:
        self.command = list(command)
        self.output_tail = output_tail
        super().__init__(message)

    def details(self) -> str:
        """The command and the tail of its output, several lines, for verbose display."""
        lines = ["command: " + " ".join(self.command)]
        if self.output_tail:
            lines.append("last output:")
            lines.extend("  " + line for line in self.output_tail.splitlines())
        return "\n".join(lines)


class StackStartError(StackError):
    """The process exited or never became healthy before its deadline."""


class StackExitedError(StackError):
    """The process died after it had become healthy."""


class TargetError(AsyncbenchError):
    """A benchmark target (compose, external) cannot be used here."""


class BundleError(AsyncbenchError):
    """A published bundle is incomplete or its checksums do not match."""


class LoadGeneratorError(AsyncbenchError):
    """A load-generator worker process failed, died or stopped answering."""


class Terminated(BaseException):
    """A terminating signal (SIGTERM, SIGHUP) arrived: raised in the main thread so that
    every context manager unwinds and reaps its processes.

    A BaseException, like KeyboardInterrupt, so that no ``except Exception`` swallows it.
    """

    def __init__(self, signum: int, name: str) -> None:
        self.signum = signum
        self.name = name
        super().__init__(name)


class MachineBusyError(AsyncbenchError):
    """Other processes kept the machine's CPUs busy longer than the run would wait."""
