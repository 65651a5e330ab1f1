"""Where each role of a run binds, and the names and addresses of the network a run makes
on this machine for roles in network namespaces (pure: ``netns`` creates and removes it).

The network: a bridge in the harness's namespace holding the subnet's first address (the
harness polls, measures and sends load from there), and for each role in a namespace a
namespace with one end of a veth pair (the other end on the bridge) and its own address::

    bridge  {prefix}{token}br          198.18.X.1/24   (the harness's namespace)
    stack   {prefix}{token}-stack      198.18.X.2/24   veth {prefix}{token}sh <-> ...sn
    upstream {prefix}{token}-upstream  198.18.X.3/24   veth {prefix}{token}uh <-> ...un
    load    {prefix}{token}-load       198.18.X.4/24   veth {prefix}{token}lh <-> ...ln

Every name is the config's prefix and the run's random token (so a later run removes only
its own kind, and only a dead run's), and fits an interface name (15 characters). The
subnet is a /24 of 198.18.0.0/15 (RFC 2544's block for benchmarking networks) that no
address or route of this machine overlaps. All roles share one link layer: no forwarding,
no NAT, no route beyond the bridge.
"""

from __future__ import annotations

import ipaddress
import re
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from harness.config.hosts import PREFIX_PATTERN, ROLES, Hosts
from harness.errors import TargetError

BLOCK = ipaddress.IPv4Network("198.18.0.0/15")
SUBNET_PREFIXLEN = 24
NETNS_DIR = "/run/netns"
TOKEN_PATTERN = re.compile(r"[0-9a-f]{6}")
_LETTER = {"stack": "s", "upstream": "u", "load": "l"}
_HOST_NUMBER = {"stack": 2, "upstream": 3, "load": 4}  # the bridge is 1


def new_token() -> str:
    """A run's random token: six hexadecimal digits."""
    return secrets.token_hex(3)


@dataclass(frozen=True)
class Names:
    """Every name a run's network uses, made of ``prefix`` and ``token`` alone."""

    prefix: str
    token: str

    def __post_init__(self) -> None:
        if not (isinstance(self.prefix, str) and PREFIX_PATTERN.fullmatch(self.prefix)
                and isinstance(self.token, str) and TOKEN_PATTERN.fullmatch(self.token)):
            raise ValueError(f"not a network name prefix and token: {self.prefix!r} "
                             f"{self.token!r}")

    @property
    def stem(self) -> str:
        """``prefix`` and ``token``: how every name starts."""
        return self.prefix + self.token

    @property
    def bridge(self) -> str:
        """The bridge in the harness's namespace."""
        return f"{self.stem}br"

    def namespace(self, role: str) -> str:
        """The network namespace of ``role``."""
        return f"{self.stem}-{role}"

    def outer(self, role: str) -> str:
        """``role``'s veth end on the bridge (the harness's namespace)."""
        return f"{self.stem}{_LETTER[role]}h"

    def inner(self, role: str) -> str:
        """``role``'s veth end inside its namespace."""
        return f"{self.stem}{_LETTER[role]}n"

    def links(self) -> list[str]:
        """Every link name in the harness's namespace: veth ends first, then the bridge."""
        return [*(self.outer(role) for role in ROLES), self.bridge]

    def namespaces(self) -> list[str]:
        """Every namespace name."""
        return [self.namespace(role) for role in ROLES]


def pick_subnet(used: Iterable[ipaddress.IPv4Network | ipaddress.IPv6Network],
                start: int) -> ipaddress.IPv4Network:
    """The first /24 of ``BLOCK``, counting round from the ``start``-th, that overlaps none
    of ``used`` (this machine's addresses and routes).

    Raises:
        TargetError: every /24 of the block is taken.
    """
    taken = [net for net in used if net.version == 4]
    subnets = list(BLOCK.subnets(new_prefix=SUBNET_PREFIXLEN))
    for i in range(len(subnets)):
        candidate = subnets[(start + i) % len(subnets)]
        if not any(candidate.overlaps(net) for net in taken):
            return candidate
    raise TargetError(f"no free /{SUBNET_PREFIXLEN} left in {BLOCK} for a run's network "
                      "namespaces (every one overlaps an address or route of this machine)")


@dataclass(frozen=True)
class Network:
    """A run's network: its names, its subnet and the roles that have a namespace."""

    names: Names
    subnet: ipaddress.IPv4Network
    roles: tuple[str, ...]

    @property
    def bridge_address(self) -> str:
        """The bridge's address: where the harness's namespace is reached from the roles."""
        return str(self.subnet[1])

    def address(self, role: str) -> str:
        """The address of ``role``'s namespace."""
        return str(self.subnet[_HOST_NUMBER[role]])

    def describe(self) -> dict[str, Any]:
        """As the manifest records it."""
        return {"subnet": str(self.subnet), "bridge": self.names.bridge,
                "bridge_address": self.bridge_address,
                "namespaces": {role: {"name": self.names.namespace(role),
                                      "address": self.address(role),
                                      "veth": [self.names.outer(role), self.names.inner(role)]}
                               for role in self.roles}}


@dataclass(frozen=True)
class Site:
    """Where one role runs: ``local``, ``netns`` or ``remote``; the address its servers
    bind (empty for remote); its namespace's name; a remote upstream's URL."""

    where: str
    host: str
    namespace: str | None = None
    url: str | None = None

    @property
    def netns_path(self) -> str | None:
        """``/run/netns/NAME`` for a role in a namespace, else None."""
        return f"{NETNS_DIR}/{self.namespace}" if self.namespace is not None else None


@dataclass(frozen=True)
class Sites:
    """Where every role of a run is, and the network that holds the namespaced ones."""

    stack: Site
    upstream: Site
    load: Site
    network: Network | None = None

    def describe(self) -> dict[str, Any]:
        """As the manifest's ``hosts`` records it (remote stacks: see ``target_endpoints``)."""
        data: dict[str, Any] = {}
        for role in ROLES:
            site: Site = getattr(self, role)
            data[role] = {"where": site.where, "address": site.host or None,
                          "namespace": site.namespace, "url": site.url}
        data["network"] = self.network.describe() if self.network is not None else None
        return data


def sites_for(hosts: Hosts, local_host: str, network: Network | None,
              target: str = "local") -> Sites:
    """Where each role binds: in its namespace at its address; locally on ``local_host``
    (``[run] host``), or on the bridge's address when there is a network (so that roles
    in namespaces reach it); remote roles bind nothing here (the ``external`` target's
    stacks and upstream are remote whatever the table says)."""
    def site(role: str) -> Site:
        where = getattr(hosts, role)
        if target == "external" and role != "load":
            where = "remote"
        if where == "netns":
            if network is None or role not in network.roles:
                raise TargetError(f"[hosts] {role} = \"netns\": no network namespace was made "
                                  "for it")
            return Site("netns", network.address(role), network.names.namespace(role))
        if where == "remote":
            return Site("remote", "", url=hosts.upstream_url if role == "upstream" else None)
        return Site("local", network.bridge_address if network is not None else local_host)

    return Sites(site("stack"), site("upstream"), site("load"), network)
