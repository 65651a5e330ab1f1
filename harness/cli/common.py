"""What every command module of the CLI shares: printing, argument types, the parser class.

Only the CLI prints; these helpers are the one place it does.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, NoReturn

from harness.config.duration import parse_duration
from harness.errors import RunDirError
from harness.paths import shipped_config
from harness.rundir.format import MANIFEST_NAME, TRIALS_NAME

DEFAULT_CONFIG = "configs/default.toml"
RESULTS = Path("results")


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"asyncbench: error: {message} (see --help)\n")


def out(text: str = "") -> None:
    """A line of the command's result, on stdout."""
    print(text, flush=True)


def err(text: str) -> None:
    """A line about the command (a warning, an error), on stderr."""
    print(text, file=sys.stderr, flush=True)


def warn_skipped(run_path: Path, skipped: list[tuple[int, str]]) -> None:
    """One warning line for each line of a run's trials file the reader left out."""
    for line_no, reason in skipped:
        err(f"asyncbench: warning: {run_path / TRIALS_NAME}:{line_no}: skipped ({reason})")


def config_arg(parser: argparse.ArgumentParser, default: str | None = DEFAULT_CONFIG) -> None:
    """The ``--config`` option; ``configs/NAME.toml`` finds an installed tool's shipped
    config when the folder has none of its own."""
    parser.add_argument("--config", type=shipped_config, default=default,
                        help=f"experiment config (TOML), default {default}")


def number_in(kind: type[int] | type[float], low: float, high: float,
              what: str) -> Callable[[str], float]:
    """An argparse type: an int or float in [low, high), named ``what`` in its error."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            name = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"{text!r} is not {name}") from None
        if not low <= value < high:
            raise argparse.ArgumentTypeError(f"{text!r} is not {what}")
        return value

    return parse


positive_int = number_in(int, 1, float("inf"), "a positive integer")
nonneg_int = number_in(int, 0, float("inf"), "a non-negative integer")
positive_float = number_in(float, 1e-9, float("inf"), "a positive number")
nonneg_float = number_in(float, 0, float("inf"), "a non-negative number")
fraction = number_in(float, 0, 1, "in [0, 1)")
percent = number_in(float, 0, 1e6, "a non-negative percentage (100: twice as slow)")


def duration(text: str) -> float:
    """An argparse type: ``90s``, ``10m``, ``1h``, ``1h30m`` or seconds, as seconds."""
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def name_list(text: str) -> list[str]:
    """An argparse type: ``a,b,c`` as a list of non-empty names."""
    names = [part.strip() for part in text.split(",")]
    if not all(names):
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of names")
    return names


def host_port(text: str) -> tuple[str, int]:
    """An argparse type: ``HOST:PORT`` (an IPv6 host in brackets) as (host, port)."""
    host, sep, port = text.rpartition(":")
    host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65_536:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (e.g. 198.18.0.1:5557)")
    return host, int(port)


def workers_arg(text: str) -> int | str:
    """An argparse type: a count of workers (1 or more) or ``auto``."""
    if text == "auto":
        return text
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers or \"auto\"")
    return int(text)


def scenario_levels(text: str) -> tuple[str, list[int]]:
    """An argparse type: ``fanout=1,5`` as ("fanout", [1, 5])."""
    scenario, sep, values = text.partition("=")
    try:
        levels = [int(v) for v in values.split(",")]
    except ValueError:
        levels = []
    if not sep or not scenario or not levels:
        raise argparse.ArgumentTypeError(f"{text!r} is not SCENARIO=LEVEL,LEVEL,... "
                                         "(e.g. fanout=1,5)")
    return scenario.strip(), levels


def help_with(examples: str) -> dict[str, Any]:
    """Keyword arguments of ``add_parser`` that end a command's --help with examples."""
    return {"epilog": "examples:\n" + examples,
            "formatter_class": argparse.RawDescriptionHelpFormatter}


def newest_run(root: Path) -> Path:
    """The most recent run folder under ``root`` (by name, which starts with the time)."""
    runs = sorted(p for p in root.glob(f"*/{MANIFEST_NAME}") if p.parent.name != "example")
    if not runs:
        raise RunDirError(f"{root}: no run folder found; run `make bench` first or name one")
    return runs[-1].parent
