"""How a stack spreads a burst of clients over its worker processes, burst after burst
(run by ``nox -s burst_spread``).

Starts one stack (default: Flask on gunicorn gthread 4 x 2) and the mock upstream on
127.0.0.1, then sends BURSTS bursts of C clients released at once, each burst on new
connections, one after another on the same running server. While each burst runs, the
connections every worker process holds are sampled; the script prints, per burst, its
duration and throughput, the most connections each worker held at once, and the
"effective slots": the requests the stack could serve at once given that spread
(C / largest worker share x threads per worker).

Every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import threading
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.config.catalogue import BUILTIN_STACKS
from harness.config.schema import StackSpec
from harness.loadgen.drivers import client_session, run_clients
from harness.targets.local import running_stack
from harness.targets.process import ChildProcess


def held_connections(workers: list[psutil.Process], port: int) -> dict[int, int]:
    """Established connections on the server's port, per worker pid."""
    held: dict[int, int] = {}
    for proc in workers:
        try:
            conns = proc.net_connections(kind="tcp")
        except psutil.Error:
            continue
        held[proc.pid] = sum(1 for c in conns if c.status == psutil.CONN_ESTABLISHED
                             and c.laddr and c.laddr.port == port)
    return held


def sample(workers: list[psutil.Process], port: int, stop: threading.Event,
           peak: dict[int, int]) -> None:
    """Until ``stop`` (or two minutes), the most connections each worker held at once."""
    deadline = time.monotonic() + 120
    while not stop.is_set() and time.monotonic() < deadline:
        for pid, n in held_connections(workers, port).items():
            peak[pid] = max(peak.get(pid, 0), n)
        stop.wait(0.02)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stack", default="flask-gunicorn", choices=sorted(BUILTIN_STACKS))
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--bursts", type=int, default=6)
    parser.add_argument("--delay-ms", type=int, default=100)
    args = parser.parse_args(argv)
    spec = StackSpec(name=args.stack, **BUILTIN_STACKS[args.stack])
    with running_stack(spec) as handle:
        port = int(handle.base_url.rsplit(":", 1)[1])
        # The server's own process (gunicorn's master) forks the workers that serve.
        assert isinstance(handle.server, ChildProcess)
        workers = psutil.Process(handle.server.pid).children()
        print(f"{args.stack}: {len(workers)} worker processes, {spec.threads} threads each, "
              f"C = {args.clients}, {args.delay_ms} ms upstream delay")
        for burst in range(1, args.bursts + 1):
            peak: dict[int, int] = {}
            stop = threading.Event()
            sampler = threading.Thread(target=sample, args=(workers, port, stop, peak),
                                       daemon=True)
            sampler.start()

            async def one() -> float:
                async with client_session(args.clients) as session:
                    url = spec.url(handle.base_url, "clients",
                                   {"delay_ms": args.delay_ms, "cpu_ms": 0})
                    result = await run_clients(session, url, args.clients, 60.0)
                return result.duration_s

            duration = asyncio.run(one())
            stop.set()
            sampler.join()
            shares = sorted(peak.values(), reverse=True)
            widest = max(shares) if shares and max(shares) else args.clients
            slots = args.clients / widest * spec.threads
            print(f"burst {burst}: {duration:6.2f} s, {args.clients / duration:6.1f} req/s; "
                  f"connections held per worker (peak) {shares}; effective slots {slots:.1f}")
            time.sleep(0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
