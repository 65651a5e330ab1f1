"""``worker``: a Locust worker process carrying the harness's scenarios for a master.

Imports Locust (through ``harness.loadgen.locust_worker``, which keeps gevent from
patching anything); only this command does.
"""

from __future__ import annotations

import argparse

from harness.loadgen import locust_worker


def cmd_worker(args: argparse.Namespace) -> int:
    """Join the master and serve its orders until it quits."""
    host, port = args.master
    return locust_worker.serve(host, port, args.connect_timeout)
