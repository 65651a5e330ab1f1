"""``python -m harness calibrate``: measure the instrument on this machine.

Hooked into ``harness.cli`` by ``register(subparsers)``. Prints the figures of
``harness.calibrate.run_calibration`` and writes them to
``<results>/calibration.json``, which later runs' manifests quote when it was
taken on the same machine.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any


def _out(text: str = "") -> None:
    print(text, flush=True)


def _positive(kind: type[int] | type[float]) -> Any:
    def parse(text: str) -> int | float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"{text!r} is not positive")
        return value

    return parse


def cmd_calibrate(args: argparse.Namespace) -> int:
    """Measure the load generator, the mock upstream and (if installed) wrk; save and print."""
    from harness.calibrate import calibration_lines, run_calibration, save_calibration

    def note(step: str) -> None:
        if not args.json:
            print(f"... {step}", file=sys.stderr, flush=True)

    data = run_calibration(seconds=args.seconds, samples=args.samples,
                           concurrency=args.concurrency, use_wrk=not args.no_wrk, note=note)
    path = None if args.no_save else save_calibration(args.out, data)
    if args.json:
        _out(json.dumps(data, indent=2, sort_keys=True))
        return 0
    for line in calibration_lines(data):
        _out(line)
    if path is not None:
        _out(f"calibration: {path}")
    return 0


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``calibrate`` subcommand to ``subparsers`` (from ``add_subparsers``)."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "calibrate", help="measure the load generator's ceiling and added latency, the mock "
                          "upstream's ceiling, and wrk beside them")
    p.add_argument("--seconds", type=_positive(float), default=3.0,
                   help="duration of each rate measurement (default 3)")
    p.add_argument("--samples", type=_positive(int), default=100,
                   help="sequential 100 ms requests for the added latency (default 100)")
    p.add_argument("--concurrency", type=_positive(int), default=32,
                   help="connections of each closed-loop measurement (default 32)")
    p.add_argument("--no-wrk", action="store_true", help="do not run wrk even if installed")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--out", type=Path, default=Path("results"),
                   help="results root; the figures go to OUT/calibration.json (default results/)")
    p.add_argument("--no-save", action="store_true", help="print only; write no file")
    p.set_defaults(func=cmd_calibrate)
    return p
