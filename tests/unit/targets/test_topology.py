"""A run's network, on paper: names from prefix and token only, fitting an interface name;
a subnet of 198.18.0.0/15 that overlaps nothing of this machine; where each role binds."""

from __future__ import annotations

import ipaddress

import pytest

from harness.config.hosts import Hosts
from harness.errors import TargetError
from harness.targets.topology import (
    BLOCK,
    Names,
    Network,
    new_token,
    pick_subnet,
    sites_for,
)

IFNAMSIZ = 15  # the kernel's longest interface name


def net(text: str) -> ipaddress.IPv4Network:
    return ipaddress.IPv4Network(text)


def test_every_name_is_prefix_and_token_and_fits_an_interface_name() -> None:
    names = Names("a123456", "0f9a3c")  # the longest prefix allowed
    assert names.bridge == "a1234560f9a3cbr"
    assert names.namespace("stack") == "a1234560f9a3c-stack"
    assert (names.outer("upstream"), names.inner("upstream")) == ("a1234560f9a3cuh",
                                                                  "a1234560f9a3cun")
    assert all(len(link) <= IFNAMSIZ for link in names.links())
    assert all(len(names.inner(role)) <= IFNAMSIZ for role in ("stack", "upstream", "load"))
    assert len(set(names.links() + names.namespaces())) == 7
    assert all(name.startswith("a1234560f9a3c") for name in names.links() + names.namespaces())


@pytest.mark.parametrize(("prefix", "token"), [
    ("eth", "0"), ("abn", "0f9a3"), ("abn", "0f9a3c1"), ("abn", "0F9A3C"), ("", "0f9a3c"),
    ("a1234567", "0f9a3c"), ("../x", "0f9a3c"), ("abn", "../../"), ("abn", None),
])
def test_names_refuse_what_the_harness_never_makes(prefix: str, token: object) -> None:
    with pytest.raises(ValueError):
        Names(prefix, token)  # type: ignore[arg-type]


def test_tokens_are_six_hex_digits() -> None:
    tokens = {new_token() for _ in range(50)}
    assert all(len(t) == 6 and int(t, 16) >= 0 for t in tokens) and len(tokens) > 40


def test_pick_subnet_starts_where_asked_and_skips_what_is_used() -> None:
    assert pick_subnet([], 0) == net("198.18.0.0/24")
    assert pick_subnet([], 511) == net("198.19.255.0/24")
    assert pick_subnet([], 512) == net("198.18.0.0/24")  # round again
    used = [net("198.18.5.0/24"), net("198.18.6.128/25"), net("10.0.0.0/8")]
    assert pick_subnet(used, 5) == net("198.18.7.0/24")
    # A host route or a wider route inside the block takes what it covers.
    assert pick_subnet([net("198.18.7.9/32")], 7) == net("198.18.8.0/24")
    assert pick_subnet([net("198.18.0.0/16")], 3) == net("198.19.0.0/24")
    assert pick_subnet([ipaddress.IPv6Network("::/0")], 3) == net("198.18.3.0/24")


def test_pick_subnet_with_one_left_and_with_none() -> None:
    taken = [s for s in BLOCK.subnets(new_prefix=24) if s != net("198.19.254.0/24")]
    assert pick_subnet(taken, 0) == net("198.19.254.0/24")
    with pytest.raises(TargetError, match=r"no free /24 left in 198\.18\.0\.0/15"):
        pick_subnet([BLOCK], 0)


def test_addresses_and_description() -> None:
    network = Network(Names("abn", "00aa11"), net("198.18.7.0/24"), ("stack", "upstream"))
    assert network.bridge_address == "198.18.7.1"
    assert [network.address(r) for r in ("stack", "upstream", "load")] == [
        "198.18.7.2", "198.18.7.3", "198.18.7.4"]
    described = network.describe()
    assert described["subnet"] == "198.18.7.0/24" and described["bridge"] == "abn00aa11br"
    assert set(described["namespaces"]) == {"stack", "upstream"}
    assert described["namespaces"]["stack"] == {"name": "abn00aa11-stack",
                                                "address": "198.18.7.2",
                                                "veth": ["abn00aa11sh", "abn00aa11sn"]}


def test_sites_bind_their_namespace_or_the_bridge() -> None:
    network = Network(Names("abn", "00aa11"), net("198.18.7.0/24"), ("stack",))
    sites = sites_for(Hosts(stack="netns"), "127.0.0.1", network)
    assert (sites.stack.where, sites.stack.host) == ("netns", "198.18.7.2")
    assert sites.stack.netns_path == "/run/netns/abn00aa11-stack"
    # A local role is reached from the namespaces, so it binds the bridge's address.
    assert (sites.upstream.where, sites.upstream.host, sites.upstream.netns_path) == (
        "local", "198.18.7.1", None)
    described = sites.describe()
    assert described["load"] == {"where": "local", "address": "198.18.7.1", "namespace": None,
                                 "url": None}
    assert described["network"]["bridge"] == "abn00aa11br"


def test_sites_without_a_network() -> None:
    plain = sites_for(Hosts(), "127.0.0.1", None)
    assert {s.host for s in (plain.stack, plain.upstream, plain.load)} == {"127.0.0.1"}
    assert plain.describe()["network"] is None
    remote = sites_for(Hosts(upstream="remote", upstream_url="http://10.0.0.5:1"), "::1", None)
    assert (remote.upstream.where, remote.upstream.host, remote.upstream.url) == (
        "remote", "", "http://10.0.0.5:1")
    external = sites_for(Hosts(), "127.0.0.1", None, target="external")
    assert (external.stack.where, external.upstream.where, external.load.where) == (
        "remote", "remote", "local")
    with pytest.raises(TargetError, match=r"\[hosts\] stack = \"netns\": no network namespace"):
        sites_for(Hosts(stack="netns"), "127.0.0.1", None)
