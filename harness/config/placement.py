"""CPU placement of a local run: which CPUs the stack under test may use, and which the
harness (its load generator and the mock upstream) may use.

    none    every process may run on every CPU (the scheduler decides)
    split   the stack on one half of the CPUs this process may use, the harness on the
            other (on 2 CPUs: the stack on CPU 1, the harness on CPU 0)
    table   ``placement = {stack = [1], harness = [0]}``: explicit CPU numbers; an optional
            ``upstream = [CPUs]`` gives the mock upstream (or PostgreSQL) CPUs of its own,
            which otherwise shares the harness's
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from harness.errors import ConfigError

MODES = ("none", "split", "explicit")


@dataclass(frozen=True)
class Placement:
    """A placement as the config states it; :meth:`resolve` turns it into CPU sets."""

    mode: str = "none"
    stack: tuple[int, ...] = ()
    harness: tuple[int, ...] = ()
    upstream: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ConfigError(f"[run] placement = {self.mode!r}: must be \"none\", \"split\" or "
                              "a table {stack = [CPUs], harness = [CPUs]}")
        if self.mode != "explicit":
            if self.stack or self.harness or self.upstream:
                raise ConfigError(f"[run] placement: mode {self.mode!r} takes no CPU lists")
            return
        for side in ("stack", "harness", "upstream"):
            cpus = getattr(self, side)
            if side == "upstream" and cpus == ():
                continue
            if not cpus or not all(isinstance(c, int) and not isinstance(c, bool) and 0 <= c < 4096
                                   for c in cpus):
                raise ConfigError(f"[run] placement {side} = {list(cpus)!r}: must be a non-empty "
                                  "list of CPU numbers")
        for side in ("harness", "upstream"):
            if set(self.stack) & set(getattr(self, side)):
                raise ConfigError(f"[run] placement: stack {list(self.stack)} and {side} "
                                  f"{list(getattr(self, side))} share CPUs")

    @classmethod
    def from_value(cls, value: object) -> Placement:
        """From the TOML value: a mode string or a ``{stack, harness}`` table (or a
        manifest's resolved form, which has a ``mode``)."""
        if isinstance(value, str):
            return cls(value)
        if isinstance(value, dict):
            keys = set(value) - {"mode"}
            if not {"stack", "harness"} <= keys <= {"stack", "harness", "upstream"}:
                raise ConfigError(f"[run] placement = {value!r}: a table needs the keys stack "
                                  "and harness (and may name upstream)")
            lists = [value.get(key, []) for key in ("stack", "harness", "upstream")]
            if not all(isinstance(cpus, list | tuple) for cpus in lists):
                raise ConfigError(f"[run] placement = {value!r}: stack, harness and upstream "
                                  "must be lists of CPU numbers")
            mode = value.get("mode", "explicit")
            if mode != "explicit":
                return cls(mode)
            stack, harness, upstream = (tuple(cpus) for cpus in lists)
            return cls("explicit", stack, harness, upstream)
        raise ConfigError(f"[run] placement = {value!r}: must be \"none\", \"split\" or a table")

    def resolved(self) -> dict[str, Any]:
        """As written to the config's resolved form (the CPUs of ``split`` are chosen at run
        time and recorded in the manifest's ``placement``); ``upstream`` only when stated,
        so that older configs keep their digest."""
        data: dict[str, Any] = {"mode": self.mode, "stack": list(self.stack),
                                "harness": list(self.harness)}
        if self.upstream:
            data["upstream"] = list(self.upstream)
        return data

    def resolve(self, available: set[int]) -> tuple[frozenset[int] | None, frozenset[int] | None]:
        """(stack CPUs, harness CPUs) among ``available``; (None, None) for ``none``.

        Raises:
            ConfigError: a stated CPU is not available, or ``split`` has fewer than 2 CPUs.
        """
        if self.mode == "none":
            return None, None
        if self.mode == "split":
            cpus = sorted(available)
            if len(cpus) < 2:
                raise ConfigError(f"[run] placement = \"split\" needs 2 CPUs; this process may "
                                  f"use only {cpus}")
            half = len(cpus) // 2
            return frozenset(cpus[half:]), frozenset(cpus[:half])
        missing = sorted((set(self.stack) | set(self.harness) | set(self.upstream)) - available)
        if missing:
            raise ConfigError(f"[run] placement: CPUs {missing} are not available to this "
                              f"process (it may use {sorted(available)})")
        return frozenset(self.stack), frozenset(self.harness)

    def resolve_upstream(self, available: set[int]) -> frozenset[int] | None:
        """The upstream's own CPUs, or None where it shares the harness's (every mode but a
        table naming ``upstream``). Raises ConfigError as :meth:`resolve` does."""
        if self.mode != "explicit" or not self.upstream:
            return None
        self.resolve(available)
        return frozenset(self.upstream)
