"""The ``[upstream]`` table: what the apps call.

The mock upstream (``kind = "mock"``, the default) with its latency profile (``fixed``,
``uniform``, ``lognormal``, ``bimodal`` and their fields, ``error_rate``: the mock's own
record, ``servers.profiles.Profile``, defined once where it is served; the table spells it
flat, ``profile = "lognormal"``, ``median_ms = 80`` ...) and its quota (beyond
``quota_rps`` calls per second it answers 429 and the apps pace themselves); or
PostgreSQL (``kind = "postgres"``): the harness starts its own throw-away server per
round unless ``database_url`` names an existing one (then it creates and drops only its
own schema there); ``query`` is ``sleep`` (``pg_sleep(delay)``) or ``read`` (an indexed
join on the seeded tables). ``seed`` defaults to the run's seed.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from typing import Any

from harness.config.rules import check as _check
from harness.config.rules import is_int, is_number
from harness.errors import ConfigError
from servers.profiles import Profile

UPSTREAM_KINDS = ("mock", "postgres")
QUERY_KINDS = ("sleep", "read")
_OWN_KEYS = ("kind", "database_url", "query", "quota_rps", "seed")


def redacted_url(url: str) -> str:
    """``url`` with its password, if any, replaced by ``***`` (for manifests and messages)."""
    return re.sub(r"(://[^:/@]*):[^@/]*@", r"\1:***@", url)


@dataclass(frozen=True)
class Upstream:
    """The upstream the apps call (see the module's docstring)."""

    profile: Profile = field(default_factory=Profile)
    quota_rps: float | None = None
    seed: int | None = None
    kind: str = "mock"
    database_url: str | None = None
    query: str = "sleep"

    def __post_init__(self) -> None:
        _check(self.quota_rps is None or (is_number(self.quota_rps) and 0 < self.quota_rps
                                          <= 1_000_000),
               "[upstream] quota_rps", self.quota_rps, "must be a number in (0, 1000000]")
        _check(self.seed is None or (is_int(self.seed) and 0 <= self.seed < 2**63),
               "[upstream] seed", self.seed, "must be a non-negative integer")
        _check(self.kind in UPSTREAM_KINDS, "[upstream] kind", self.kind,
               f"must be one of {', '.join(UPSTREAM_KINDS)}")
        _check(self.query in QUERY_KINDS, "[upstream] query", self.query,
               f"must be one of {', '.join(QUERY_KINDS)}")
        _check(self.query == "sleep" or self.kind == "postgres", "[upstream] query", self.query,
               'only with kind = "postgres" (the mock only waits)')
        if self.database_url is not None:
            _check(self.kind == "postgres", "[upstream] database_url", self.database_url,
                   'only with kind = "postgres"')
            _check(isinstance(self.database_url, str)
                   and self.database_url.startswith(("postgresql://", "postgres://")),
                   "[upstream] database_url", self.database_url,
                   "must be a postgresql://USER@HOST:PORT/DATABASE URL")

    @classmethod
    def from_table(cls, table: dict[str, Any]) -> Upstream:
        """From the flat ``[upstream]`` table (or its resolved form in a manifest)."""
        fields = dict(table)
        own = {key: fields.pop(key) for key in _OWN_KEYS if key in fields}
        fields["kind"] = fields.pop("profile", "fixed")
        try:
            profile = Profile(**fields)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"[upstream] {exc}") from None
        return cls(profile=profile, **own)

    def with_values(self, values: dict[str, Any]) -> Upstream:
        """A copy with some table values changed (a sweep's), re-validated."""
        return Upstream.from_table({**self.resolved(), **values,
                                    "database_url": self.database_url})

    @property
    def is_default(self) -> bool:
        """True for the mock with nothing else set (the table was absent)."""
        return self == Upstream()

    def resolved(self) -> dict[str, Any]:
        """As written to the manifest: the flat table, the database URL without its password."""
        profile = dataclasses.asdict(self.profile)
        return {"profile": profile.pop("kind"), **profile, "quota_rps": self.quota_rps,
                "seed": self.seed, "kind": self.kind,
                "database_url": (redacted_url(self.database_url)
                                 if self.database_url is not None else None),
                "query": self.query}
