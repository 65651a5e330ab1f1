"""How a stack spreads a burst of clients over its worker processes, burst after burst
(run by ``nox -s burst_spread``).

Starts one stack (default: Flask on gunicorn gthread 4 x 2) and the mock upstream on
127.0.0.1, then sends BURSTS bursts of C clients released at once, each burst on new
connections, one after another on the same running server, with the harness's own
driver (``loadgen.arrival``: ``--gap-ms``, ``--connection``, ``--ramp-ms`` as in
``[run.arrival]``). The connections every worker process holds are sampled while the
bursts run (``loadgen.spread``, the sampler every clients trial records its bursts
with); the script prints, per burst, its duration and throughput, the connections each
worker held at the burst's peak, and the "effective slots": the requests the stack could
serve at once given that spread (C / busiest worker's share x threads per worker).

Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.config.arrival import CONNECTIONS, Arrival
from harness.config.catalogue import BUILTIN_STACKS
from harness.config.schema import StackSpec
from harness.loadgen.arrival import attach_spread, run_arrival
from harness.loadgen.spread import SpreadSampler
from harness.targets.local import running_stack


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="flask-gunicorn", choices=sorted(BUILTIN_STACKS))
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--bursts", type=int, default=6)
    parser.add_argument("--delay-ms", type=int, default=100)
    parser.add_argument("--gap-ms", type=int, default=500)
    parser.add_argument("--connection", choices=CONNECTIONS, default="keep-alive")
    parser.add_argument("--ramp-ms", type=int, default=0)
    args = parser.parse_args(argv)
    spec = StackSpec(name=args.stack, **BUILTIN_STACKS[args.stack])
    arrival = Arrival(gap_ms=args.gap_ms, connection=args.connection, ramp_ms=args.ramp_ms)
    params = {"clients": args.clients, "timeout_s": 60.0,
              "arrival": arrival.params(min(100, max(1, args.bursts)))}
    with running_stack(spec) as handle:
        url = spec.url(handle.base_url, "clients", {"delay_ms": args.delay_ms, "cpu_ms": 0})
        with SpreadSampler(handle.server.tree) as spread:
            result = asyncio.run(run_arrival(url, params, calls_field=spec.calls_field))
        attach_spread(result, spread)
    print(f"{args.stack}: {spec.threads} threads per worker, C = {args.clients}, "
          f"{args.delay_ms} ms upstream delay; {arrival.params(args.bursts)}")
    for number, burst in enumerate(result.bursts, 1):
        held = sorted((n for _, n in burst["workers"] or []), reverse=True)
        busiest = burst["busiest_worker"] or args.clients
        print(f"burst {number}: {burst['duration_s']:6.2f} s, {burst['throughput_rps']:6.1f} "
              f"req/s; connections held per worker (peak) {held}; effective slots "
              f"{args.clients / busiest * spec.threads:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
