"""The ``[hosts]`` table: where each role of a run (the stack under test, its upstream, the
load) runs.

    local    on this machine, in the harness's network namespace (the default)
    netns    in a network namespace of this machine that the harness creates for the run
             and removes afterwards (a veth pair on a bridge, an address from
             198.18.0.0/15, the block reserved for benchmarking networks)
    remote   on another host: for the stack, the ``external`` target (its URLs in
             ``[external.stacks]``); for the upstream, a running mock upstream at
             ``upstream_url``; for the load, Locust workers that join from other hosts
             (``[loadgen] expect_workers``)

The load leaves the harness's process only with ``[loadgen] engine = "locust"``: in a
namespace, its local workers run there.

``prefix`` starts the name of everything a run creates (namespaces, bridge, veths), so
that leftovers of a killed run are recognised as the harness's own kind; the rest of each
name is the run's random token. CPUs stay ``[run] placement``'s business.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from harness.config.loadgen import LoadgenSettings
from harness.config.rules import check as _check
from harness.config.rules import url_problem

ROLES = ("stack", "upstream", "load")
WHERES = ("local", "netns", "remote")
DEFAULT_PREFIX = "abn"
# Interface names hold 15 characters: prefix, a 6-character token, two of the role's.
PREFIX_PATTERN = re.compile(r"[a-z][a-z0-9]{1,6}")


@dataclass(frozen=True)
class Hosts:
    """Where each role runs (see the module's docstring)."""

    stack: str = "local"
    upstream: str = "local"
    load: str = "local"
    upstream_url: str | None = None
    prefix: str = DEFAULT_PREFIX

    def __post_init__(self) -> None:
        for role in ROLES:
            where = getattr(self, role)
            _check(where in WHERES, f"[hosts] {role}", where,
                   f"must be one of {', '.join(WHERES)}")
        _check(isinstance(self.prefix, str) and PREFIX_PATTERN.fullmatch(self.prefix) is not None,
               "[hosts] prefix", self.prefix,
               "must be 2 to 7 lowercase letters or digits, starting with a letter")
        if self.upstream_url is not None:
            _check(self.upstream == "remote", "[hosts] upstream_url", self.upstream_url,
                   'only with upstream = "remote"')
            problem = url_problem(self.upstream_url)
            _check(problem is None, "[hosts] upstream_url", self.upstream_url, problem or "")
        # A namespace has no route beyond the bridge (that would take forwarding and NAT).
        _check(not (self.stack == "netns" and self.upstream == "remote"), "[hosts] stack",
               self.stack, "a stack in a network namespace reaches only this machine's bridge, "
               "not another host: run the upstream local or in a namespace")

    @property
    def is_default(self) -> bool:
        """True when every role runs locally (the table was absent)."""
        return self == Hosts()

    def namespaced(self) -> tuple[str, ...]:
        """The roles that run in network namespaces, in ``ROLES`` order."""
        return tuple(role for role in ROLES if getattr(self, role) == "netns")

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> Hosts:
        """From the ``[hosts]`` table (or its resolved form in a manifest)."""
        return cls(**table)

    def resolved(self) -> dict[str, Any]:
        """As written to the config's resolved form."""
        return {"stack": self.stack, "upstream": self.upstream, "load": self.load,
                "upstream_url": self.upstream_url, "prefix": self.prefix}


def check_hosts(hosts: Hosts, target: str, upstream_kind: str,
                loadgen: LoadgenSettings) -> None:
    """Refuse roles the config's target, upstream or load engine cannot place there."""
    if target == "external":
        for role in ("stack", "upstream"):
            _check(getattr(hosts, role) in ("local", "remote"), f"[hosts] {role}",
                   getattr(hosts, role), 'target "external" measures servers on other hosts: '
                   "leave it out (or \"remote\"); [external] names their URLs")
        _check(hosts.upstream_url is None, "[hosts] upstream_url", hosts.upstream_url,
               'with target "external" the upstream is [external] upstream_url')
    else:
        _check(hosts.upstream != "remote" or hosts.upstream_url is not None,
               "[hosts] upstream_url", None,
               'required with upstream = "remote" (the URL of a running mock upstream)')
        _check(hosts.stack != "remote", "[hosts] stack", hosts.stack,
               'a stack on another host is the "external" target: set [run] target = '
               '"external" and name its URL in [external.stacks]')
        if target == "compose":
            for role in ("stack", "upstream"):
                _check(getattr(hosts, role) == "local", f"[hosts] {role}",
                       getattr(hosts, role), 'target "compose" runs it in a container of '
                       "this machine; namespaces and remote hosts are for target \"local\"")
    if upstream_kind == "postgres":
        _check(hosts.upstream != "remote", "[hosts] upstream", hosts.upstream,
               'a PostgreSQL on another host is [upstream] database_url')
    _check_load(hosts, target, loadgen)


def _check_load(hosts: Hosts, target: str, loadgen: LoadgenSettings) -> None:
    """The load role: away from the harness only on Locust's workers (the built-in engine
    runs the load inside the harness's own process)."""
    if hosts.load == "local":
        return
    _check(loadgen.distributed, "[hosts] load", hosts.load,
           "needs load-generator workers that run apart from the harness ([loadgen] engine = "
           "\"locust\"); the built-in engine's load runs in the harness process")
    if hosts.load == "remote":
        _check(loadgen.expect_workers > 0 and loadgen.workers == 0, "[hosts] load", hosts.load,
               "is remote workers only: set [loadgen] expect_workers (how many join from other "
               "hosts) and workers = 0 (none started here)")
        return
    _check(target == "local", "[hosts] load", hosts.load,
           f"a namespace reaches only this machine's bridge, not target {target!r}'s servers")
    _check(loadgen.workers != 0, "[hosts] load", hosts.load,
           "runs the local Locust workers in a namespace: set [loadgen] workers (1 or more)")
    _check(loadgen.expect_workers == 0, "[hosts] load", hosts.load,
           "with the workers in a namespace, the master listens on the namespaces' bridge, "
           "which other hosts cannot reach: leave [loadgen] expect_workers at 0")
