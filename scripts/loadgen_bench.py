"""Benchmark of the load generator itself (run by ``nox -s loadgen_bench``).

Starts the mock upstream on 127.0.0.1 and prints:
- the load generator's peak request rate against a no-delay endpoint
  (``/delay?ms=0``), with the asyncio and the uvloop event loop;
- the latency it adds to a 100 ms upstream call (measured minus served).

Every loop is bounded in time and count.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.calibrate import added_latency, peak_rate, run_with_loop  # noqa: E402
from harness.stacks import running_upstream  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="duration of each rate run")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--samples", type=int, default=100, help="requests for added latency")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    results: dict[str, object] = {}
    with running_upstream() as upstream:
        url = upstream.base_url
        for loop in ("asyncio", "uvloop"):
            results[f"peak_rate_{loop}"] = run_with_loop(
                lambda: peak_rate(url, concurrency=args.concurrency, duration_s=args.seconds),
                loop)
        results["added_latency_100ms"] = run_with_loop(
            lambda: added_latency(url, 100, args.samples))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    for loop in ("asyncio", "uvloop"):
        r = results[f"peak_rate_{loop}"]
        assert isinstance(r, dict)
        print(f"peak rate ({loop:7}): {r['rps']:>8.0f} req/s  ({r['requests']} requests, "
              f"{r['errors']} errors, {r['concurrency']} connections, load generator CPU "
              f"{r['loadgen_cpu']:.0%} of a core)")
    lat = results["added_latency_100ms"]
    assert isinstance(lat, dict)
    o = lat["overhead_ms"]
    print(f"added latency on a 100 ms upstream call ({lat['samples']} samples): "
          f"mean {o['mean']:.2f} ms, p50 {o['p50']:.2f}, p90 {o['p90']:.2f}, "
          f"p99 {o['p99']:.2f}, max {o['max']:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
