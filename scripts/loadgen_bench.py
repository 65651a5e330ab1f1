"""Benchmark of the load generator itself (run by ``nox -s loadgen_bench``).

Starts the mock upstream on 127.0.0.1 and prints every figure of
``harness.measure.calibrate.run_calibration``: the load generator's closed-loop peak
(asyncio and uvloop), the highest rate one open-loop process keeps on schedule,
the latency it adds to a 100 ms upstream call, the upstream's ceiling from several
processes, and wrk beside them where it is installed. Unlike
``python -m harness calibrate`` it writes no file.

Every loop is bounded in time and count.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.measure.calibrate import calibration_lines, run_calibration


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each rate run")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--samples", type=int, default=100, help="requests for added latency")
    parser.add_argument("--no-wrk", action="store_true", help="do not run wrk even if installed")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    results = run_calibration(seconds=args.seconds, samples=args.samples,
                              concurrency=args.concurrency, use_wrk=not args.no_wrk)
    if args.json:
        print(json.dumps(results, indent=2, sort_keys=True))
        return 0
    for line in calibration_lines(results):
        print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
