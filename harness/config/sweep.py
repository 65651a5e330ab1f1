"""Sweeps: one or two axes, each a stack parameter or a workload parameter.

A stack axis (``stack``, ``param``, ``values``) varies one stack's server setting: that
stack becomes one variant per value. A workload axis (``param``, ``values``, no stack)
varies what every stack is asked to do (handler CPU work, upstream delay, the upstream's
profile fields or quota, how the clients arrive: a key of ``[run.arrival]``): every stack
becomes one variant per value, and each variant is compared with the baseline's variant
of the same workload. With two axes the variants are their product. Variants are named
``STACK[p=v]`` or ``STACK[p=v,q=w]``. The arrival's ``mode`` and ``connection`` take
words (``values = ["keep-alive", "close"]``); every other parameter takes numbers.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from harness.config.arrival import ARRIVAL_PARAMS, TEXT_PARAMS, Arrival
from harness.config.rules import check, is_int, is_number
from harness.errors import ConfigError
from servers.profiles import PROFILE_FIELDS

STACK_PARAMS = ("workers", "threads", "worker_connections", "backlog", "keepalive_s",
                "pool_size")
# Workload parameters: the first two reach every request, the rest the upstream's profile.
TRIAL_PARAMS = ("cpu_ms", "delay_ms")
UPSTREAM_PARAMS = (*PROFILE_FIELDS, "quota_rps")
WORKLOAD_PARAMS = TRIAL_PARAMS + UPSTREAM_PARAMS + ARRIVAL_PARAMS
SWEEPABLE = STACK_PARAMS + WORKLOAD_PARAMS
WHOLE_PARAMS = (*STACK_PARAMS, "cpu_ms", "delay_ms", "gap_ms", "ramp_ms")

Value = int | float | str


@dataclass(frozen=True)
class Variant:
    """One expanded stack: its name, the stack it came from and the values it was given."""

    name: str
    base: str
    stack_values: tuple[tuple[str, Value], ...]
    workload: tuple[tuple[str, Value], ...]

    @property
    def label(self) -> str:
        """The name without the workload part: what a config's baseline names."""
        return variant_name(self.base, self.stack_values)


def variant_name(base: str, values: tuple[tuple[str, Value], ...]) -> str:
    """``base[p=v,q=w]``, or ``base`` when there are no values."""
    if not values:
        return base
    return f"{base}[{','.join(f'{p}={v}' for p, v in values)}]"


@dataclass(frozen=True)
class Sweep:
    """The first axis (``stack`` is None for a workload parameter) and an optional second."""

    param: str
    values: tuple[Value, ...]
    stack: str | None = None
    second: Sweep | None = field(default=None)
    # Filled when the config is read: the stacks before expansion and the baseline named.
    bases: tuple[str, ...] = ()
    baseline: str | None = None

    def __post_init__(self) -> None:
        where = "[sweep]"
        check(self.param in SWEEPABLE, f"{where} param", self.param,
              f"must be one of {', '.join(SWEEPABLE)}")
        check(len(self.values) >= 2, f"{where} values", list(self.values),
              "a sweep needs at least two values")
        whole = self.param in WHOLE_PARAMS
        if self.param in TEXT_PARAMS:
            check(all(isinstance(v, str) for v in self.values), f"{where} values",
                  list(self.values), f"every value of {self.param} must be a word")
        else:
            check(all(is_int(v) if whole else is_number(v) for v in self.values),
                  f"{where} values", list(self.values),
                  "every value must be an integer" if whole else "every value must be a number")
        if self.param in ARRIVAL_PARAMS:
            steady: dict[str, Any] = {"duration_s": 3600, "warmup_s": 0}  # judged per stack
            for value in self.values:
                try:
                    Arrival(**{**steady, self.param: value})
                except ConfigError as exc:
                    raise ConfigError(f"{where} values = {list(self.values)!r}: {exc}") from None
        check(len(set(self.values)) == len(self.values), f"{where} values", list(self.values),
              "values must be distinct")
        if self.param in STACK_PARAMS:
            check(self.stack is not None, f"{where} stack", self.stack,
                  f"a stack parameter ({self.param}) needs the stack it varies")
        else:
            check(self.stack is None, f"{where} stack", self.stack,
                  f"a workload parameter ({self.param}) applies to every stack: leave stack out")
        if self.second is not None:
            check(self.second.second is None, "[sweep.second] second", "...",
                  "a sweep has at most two axes")
            check(self.second.param != self.param, "[sweep.second] param", self.second.param,
                  "the two axes must vary different parameters")

    @property
    def axes(self) -> tuple[Sweep, ...]:
        """The first axis and, when there is one, the second."""
        return (self,) if self.second is None else (self, self.second)

    @property
    def workload_params(self) -> tuple[str, ...]:
        """The workload parameters swept (empty for a pure stack sweep)."""
        return tuple(a.param for a in self.axes if a.stack is None)

    def variant(self, value: Value) -> str:
        """The variant of a one-axis stack sweep with ``param = value``."""
        return variant_name(self.stack or "", ((self.param, value),))

    def expand(self, stacks: list[str]) -> list[Variant]:
        """Every variant of ``stacks`` (in their order), axis values in the order given."""
        variants = []
        for base in stacks:
            axes = [a for a in self.axes if a.stack in (None, base)]
            for combo in itertools.product(*(a.values for a in axes)):
                pairs = tuple((a.param, v) for a, v in zip(axes, combo, strict=True))
                stack_values = tuple(p for p in pairs if p[0] in STACK_PARAMS)
                workload = tuple(p for p in pairs if p[0] not in STACK_PARAMS)
                variants.append(Variant(variant_name(base, stack_values + workload), base,
                                        stack_values, workload))
        return variants

    def variants(self) -> dict[str, Variant]:
        """The variants of the config's stacks, by name."""
        return {v.name: v for v in self.expand(list(self.bases))}

    def baseline_of(self, stack: str) -> str | None:
        """The variant ``stack`` is compared with: the baseline's, at the same workload."""
        variants = self.variants()
        mine = variants.get(stack)
        if mine is None or self.baseline is None:
            return self.baseline
        return next((v.name for v in variants.values()
                     if v.label == self.baseline and v.workload == mine.workload), None)

    def resolved(self) -> dict[str, Any]:
        """As written to the manifest: the axes, each variant's values and its baseline."""
        variants = self.variants()
        data: dict[str, Any] = {"stack": self.stack, "param": self.param,
                                "values": list(self.values), "bases": list(self.bases),
                                "baseline": self.baseline}
        data["second"] = None if self.second is None else {
            "stack": self.second.stack, "param": self.second.param,
            "values": list(self.second.values)}
        data["variants"] = {name: dict(v.stack_values + v.workload)
                            for name, v in variants.items() if name != v.base}
        data["variant_of"] = {name: v.base for name, v in variants.items()}
        data["baselines"] = {name: self.baseline_of(name) for name in variants}
        return data


def sweep_from_resolved(data: dict[str, Any]) -> Sweep:
    """Rebuild a Sweep from ``Sweep.resolved()`` (a manifest); older manifests hold one
    stack axis and no bases (their baseline was a plain stack)."""
    second = data.get("second")
    return Sweep(param=data["param"], values=tuple(data["values"]), stack=data.get("stack"),
                 second=None if not second else Sweep(
                     param=second["param"], values=tuple(second["values"]),
                     stack=second.get("stack")),
                 bases=tuple(data.get("bases") or ()), baseline=data.get("baseline"))
