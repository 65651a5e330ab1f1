"""Where the locust engine's local workers run, from where the run's roles are: in the load
namespace they dial the master on the bridge, which admits the namespace's address only."""

from __future__ import annotations

import ipaddress

from harness.config.hosts import Hosts
from harness.loadgen.engines import worker_placement
from harness.loadgen.locust_engine import WorkerPlacement
from harness.targets.topology import Names, Network, sites_for

NETWORK = Network(Names("abn", "00aa11"), ipaddress.IPv4Network("198.18.7.0/24"),
                  ("stack", "upstream", "load"))


def test_workers_in_the_load_namespace_dial_the_bridge() -> None:
    sites = sites_for(Hosts(stack="netns", upstream="netns", load="netns"), "127.0.0.1",
                      NETWORK)
    assert worker_placement(sites) == WorkerPlacement(
        netns="/run/netns/abn00aa11-load", bind="198.18.7.1", dial="198.18.7.1",
        allow=("198.18.7.4/32",))


def test_workers_elsewhere_keep_the_engines_defaults() -> None:
    stack_only = Network(NETWORK.names, NETWORK.subnet, ("stack",))
    assert worker_placement(sites_for(Hosts(stack="netns"), "127.0.0.1", stack_only)) is None
    assert worker_placement(sites_for(Hosts(), "127.0.0.1", None)) is None
