"""asyncbench measures whether an async Python web stack serves I/O-bound work faster than a
sync one (the built-in Flask, Quart and FastAPI apps, or your own app started from its
command line), with repeated trials and confidence intervals.

Exit codes: 0 success, 1 a check, comparison or verification failed (or a stack failed,
or a run left a headline arm without an ok trial), 2 bad input, 129 hang-up (SIGHUP),
130 interrupted (SIGINT), 143 terminated (SIGTERM).
Only the CLI prints errors and chooses exit codes.
"""

from __future__ import annotations

import argparse
import importlib
import signal
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType

from harness import __version__
from harness.cli import commands
from harness.cli.common import Parser, err, help_with
from harness.errors import AsyncbenchError, ConfigError, StackError, Terminated

Command = Callable[[argparse.Namespace], int]
TERMINATING = (signal.SIGTERM, signal.SIGHUP)
START = ("  python -m harness run --config configs/quick.toml     # about a minute: "
         "sync vs async, a report at the end\n"
         "  python -m harness stacks                              # what can be measured\n"
         "  python -m harness run --config examples/falcon/asyncbench.toml --rounds 2"
         "   # an own app\n")


@contextmanager
def terminating_signals_raise() -> Iterator[None]:
    """SIGTERM and SIGHUP raise ``Terminated`` in the main thread, so that every context
    manager unwinds and stops its processes (a closed terminal sends SIGHUP)."""
    def handler(signum: int, frame: FrameType | None) -> None:
        raise Terminated(signum, signal.Signals(signum).name)

    previous = {}
    try:
        for sig in TERMINATING:
            previous[sig] = signal.signal(sig, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of every subcommand."""
    parser = Parser(prog="asyncbench", description=__doc__.split("\n\n")[0] if __doc__ else None,
                    **help_with(START))
    parser.add_argument("--version", action="version", version=f"asyncbench {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.register(sub)
    return parser


def handler_of(args: argparse.Namespace) -> Command | None:
    """The function that runs the parsed command, its module imported now (see
    ``commands``: only the command that runs pays for its imports)."""
    where: str | None = getattr(args, "handler", None)
    if where is None:
        return None
    module, _, name = where.partition(":")
    func: Command = getattr(importlib.import_module(f"harness.cli.{module}"), name)
    return func


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version and usage errors
        return exc.code if isinstance(exc.code, int) else 2
    args.argv = list(argv) if argv is not None else sys.argv[1:]
    func = handler_of(args)
    if func is None:
        parser.print_help()
        return 2
    try:
        with terminating_signals_raise():
            return func(args)
    except ConfigError as exc:
        err(f"asyncbench: config error: {exc}")
        return 2
    except AsyncbenchError as exc:
        err(f"asyncbench: {exc}")
        return 2 if not isinstance(exc, StackError) else 1
    except KeyboardInterrupt:
        err("asyncbench: interrupted")
        return 130
    except Terminated as exc:
        err(f"asyncbench: terminated ({exc.name})")
        return 128 + exc.signum
    except BrokenPipeError:
        return 1
    except OSError as exc:  # a file the run needs cannot be written or read
        where = f" ({exc.filename})" if exc.filename else ""
        err(f"asyncbench: {exc.strerror or exc}{where}")
        return 1
