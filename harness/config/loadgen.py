"""The ``[loadgen]`` table: which engine drives the load, and with how many workers.

    engine           "builtin" (one asyncio process, the default) or "locust" (Locust's
                     distributed runner: the harness is the master, workers take shares)
    workers          local worker processes: a number, or "auto" (one per CPU the harness
                     may use); locust only
    expect_workers   remote workers (``asyncbench worker --master HOST:PORT`` on other
                     hosts) the run waits for before it measures; locust only
    expect_timeout_s how long it waits for them (and for a lost one to come back)
    master_bind      the address the master listens on: loopback unless remote workers
                     are expected, then exactly the address to bind (no wildcard)
    master_port      its port; 0 lets the OS choose (the run prints it)
    allow_workers    the addresses or networks remote workers may connect from; any
                     other peer is refused (local workers come from the bound address)
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any

from harness.config.rules import check, is_int, is_number

ENGINES = ("builtin", "locust")
AUTO = "auto"
MAX_WORKERS = 256
LOOPBACK_BIND = "127.0.0.1"


@dataclass(frozen=True)
class LoadgenSettings:
    """The load engine as the config states it (validated on construction)."""

    engine: str = "builtin"
    workers: int | str = 1
    expect_workers: int = 0
    expect_timeout_s: float = 60.0
    master_bind: str = LOOPBACK_BIND
    master_port: int = 0
    allow_workers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "allow_workers", tuple(self.allow_workers))
        check(self.engine in ENGINES, "[loadgen] engine", self.engine,
              f"must be one of {', '.join(ENGINES)}")
        check(self.workers == AUTO or (is_int(self.workers)
                                       and 0 <= int(self.workers) <= MAX_WORKERS),
              "[loadgen] workers", self.workers,
              f"must be an integer in 0..{MAX_WORKERS} or \"auto\" (one per harness CPU)")
        check(is_int(self.expect_workers) and 0 <= self.expect_workers <= MAX_WORKERS,
              "[loadgen] expect_workers", self.expect_workers,
              f"must be an integer in 0..{MAX_WORKERS} (remote workers to wait for)")
        check(is_number(self.expect_timeout_s) and 1 <= self.expect_timeout_s <= 3600,
              "[loadgen] expect_timeout_s", self.expect_timeout_s,
              "must be a number of seconds in 1..3600")
        check(is_int(self.master_port) and 0 <= self.master_port <= 65_535,
              "[loadgen] master_port", self.master_port,
              "must be an integer in 0..65535 (0: the OS chooses)")
        if self.engine == "builtin":
            for key, default in (("workers", 1), ("expect_workers", 0)):
                check(getattr(self, key) == default, f"[loadgen] {key}", getattr(self, key),
                      "takes effect with engine = \"locust\" only")
            return
        check(self.workers == AUTO or int(self.workers) + self.expect_workers > 0,
              "[loadgen] workers", self.workers,
              "no worker at all: start local workers or expect remote ones")
        try:
            bind = ipaddress.ip_address(self.master_bind)
        except ValueError:
            check(False, "[loadgen] master_bind", self.master_bind,
                  "must be an IP address (the master binds exactly this address)")
            raise  # unreachable: check raised
        if self.expect_workers == 0:
            check(bind.is_loopback, "[loadgen] master_bind", self.master_bind,
                  "must be a loopback address unless remote workers are expected "
                  "(expect_workers > 0)")
            check(not self.allow_workers, "[loadgen] allow_workers", list(self.allow_workers),
                  "needs expect_workers > 0 (local workers connect over loopback)")
            return
        check(not bind.is_unspecified, "[loadgen] master_bind", self.master_bind,
              "must name one address, not every interface")
        check(bool(self.allow_workers), "[loadgen] allow_workers", [],
              "must list the addresses or networks the remote workers connect from")
        for network in self.allow_workers:
            try:
                ipaddress.ip_network(network, strict=False)
            except (ValueError, TypeError):
                check(False, "[loadgen] allow_workers", list(self.allow_workers),
                      f"{network!r} is not an address or network (e.g. 198.18.0.2 or "
                      "198.18.0.0/24)")

    @property
    def distributed(self) -> bool:
        """True when Locust's master and workers carry the load."""
        return self.engine == "locust"

    @property
    def is_default(self) -> bool:
        """True when nothing differs from the built-in defaults."""
        return self == LoadgenSettings()

    def local_workers(self, harness_cpus: int) -> int:
        """How many local worker processes to start (``auto``: one per harness CPU)."""
        if self.workers == AUTO:
            return max(1, harness_cpus)
        return int(self.workers)

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> LoadgenSettings:
        """From the TOML table or a manifest's resolved form (lists become tuples)."""
        fields = dict(table)
        if "allow_workers" in fields:
            allow = fields["allow_workers"]
            check(isinstance(allow, list | tuple) and all(isinstance(a, str) for a in allow),
                  "[loadgen] allow_workers", allow, "must be a list of addresses or networks")
            fields["allow_workers"] = tuple(allow)
        if isinstance(fields.get("workers"), str):
            check(fields["workers"] == AUTO, "[loadgen] workers", fields["workers"],
                  "must be an integer or \"auto\"")
        return cls(**fields)

    def resolved(self) -> dict[str, Any]:
        """As written to the resolved config (and the manifest)."""
        return {"engine": self.engine, "workers": self.workers,
                "expect_workers": self.expect_workers, "expect_timeout_s": self.expect_timeout_s,
                "master_bind": self.master_bind, "master_port": self.master_port,
                "allow_workers": list(self.allow_workers)}
