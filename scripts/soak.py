"""Soak: many consecutive trials of the quick matrix, then prove nothing leaked.

Run by ``nox -s soak`` (opt-in). Counts, before and after, this process's open
file descriptors and threads, its child processes, and the TCP ports listening
on the machine; prints the figures and exits 1 on any leak.
"""

from __future__ import annotations

import argparse
import math
import sys
import tempfile
import time
from pathlib import Path

import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.config.load import load_config, with_overrides
from harness.measure.plan import trials_per_round
from harness.measure.runner import SilentProgress, start_run

ROOT = Path(__file__).resolve().parent.parent


def snapshot() -> dict[str, int]:
    me = psutil.Process()
    listening = [c for c in me.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
    return {"fds": me.num_fds(), "threads": me.num_threads(),
            "children": len(me.children(recursive=True)), "listening_sockets": len(listening)}


class Counter(SilentProgress):
    """Counts trials and remembers every descendant process it ever saw."""

    def __init__(self) -> None:
        self.done = 0
        self.started = time.monotonic()
        self.seen: dict[int, psutil.Process] = {}

    def advance(self, record: dict[str, object]) -> None:
        for proc in psutil.Process().children(recursive=True):
            self.seen.setdefault(proc.pid, proc)
        self.done += 1
        if self.done % 25 == 0:
            rate = self.done / (time.monotonic() - self.started)
            print(f"  {self.done} trials ({rate:.2f} trials/s)", flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=200)
    parser.add_argument("--config", type=Path, default=ROOT / "configs" / "quick.toml")
    args = parser.parse_args(argv)
    config = load_config(args.config)
    rounds = math.ceil(args.trials / trials_per_round(config))
    config = with_overrides(config, rounds=rounds, max_rounds=rounds, target_ci=0.0)
    before = snapshot()
    started = time.monotonic()
    progress = Counter()
    with tempfile.TemporaryDirectory(prefix="asyncbench-soak-") as out:
        outcome = start_run(config, Path(out), progress, argv=["soak"])
    elapsed = time.monotonic() - started
    time.sleep(1.0)
    after = snapshot()
    counts = outcome.counts
    total = sum(counts.values())
    print(f"soak: {total} trials in {rounds} rounds, {elapsed:.0f} s "
          f"({counts['ok']} ok, {counts['failed']} failed, {counts['invalid']} invalid); "
          f"{rounds * len(config.stacks)} stack starts")
    leaks = []
    for key in before:
        print(f"  {key:16} before {before[key]:4}  after {after[key]:4}")
        if after[key] > before[key]:
            leaks.append(key)
    survivors = [p.pid for p in progress.seen.values() if p.is_running()]
    print(f"  processes seen during the soak: {len(progress.seen)}, still running: "
          f"{len(survivors)}")
    if survivors:
        leaks.append(f"processes {survivors}")
    if leaks:
        print(f"LEAK: {', '.join(leaks)} grew")
        return 1
    print("no leaked process, file descriptor, thread or listening socket")
    return 0


if __name__ == "__main__":
    sys.exit(main())
