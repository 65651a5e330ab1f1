"""The command line shared by the apps' development-server entry points.

``python -m servers.<app> --host 127.0.0.1 --port 0`` runs the framework's own
development server, single process; port 0 lets the OS choose.
"""

from __future__ import annotations

import argparse
import signal
from types import FrameType


def port(raw: str) -> int:
    """An argparse type: a TCP port, 0 letting the OS choose."""
    value = int(raw)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be in 0..65535, got {value}")
    return value


def build_parser(prog: str, description: str) -> argparse.ArgumentParser:
    """``--host`` and ``--port`` for a development server."""
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=port, default=0, help="0: the OS chooses (default)")
    return parser


def announce(host: str, port: int) -> None:
    """Print the address the server really listens on, flushed."""
    print(f"listening on http://{host}:{port}", flush=True)


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def sigterm_as_interrupt() -> None:
    """Make SIGTERM stop a blocking server the way Ctrl-C does, so it exits cleanly."""
    signal.signal(signal.SIGTERM, _interrupt)
