"""How the clients of the ``clients`` scenario arrive: the ``[run.arrival]`` table.

    mode = "bursts"     C clients released together, one request each; ``[run]
                        bursts_per_trial`` bursts one after another on the same running
                        stack, each on new connections (new clients)
      gap_ms            pause from one burst's end (its clients gone) to the next one's
                        release (default 0: back to back)
      connection        "keep-alive" (default): a client's connection stays open until its
                        burst ends; "close": every request carries ``Connection: close``, so
                        the server closes the connection once it has answered
      ramp_ms           the clients start evenly spread over this window (client i at
                        i x ramp_ms / C) instead of at one instant (default 0)
    mode = "sustained"  C keep-alive connections, each sending its next request as soon as
                        its last one is answered (wrk's closed loop), for ``duration_s``;
                        throughput and latency count the steady window, the answers that
                        arrive from ``warmup_s`` to ``duration_s``

Each mode reads only its own keys; a table stating a key of the other mode is refused,
unless a ``[sweep]`` varies ``mode`` (then each variant reads its own mode's keys).
A trial records its arrival in ``params["arrival"]`` (:meth:`Arrival.params`), the one
thing a driver reads, so the same driver runs wherever a trial runs.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from harness.config.rules import check, is_int, is_number
from harness.errors import ConfigError

MODES = ("bursts", "sustained")
CONNECTIONS = ("keep-alive", "close")
BURSTS_KEYS = ("gap_ms", "connection", "ramp_ms")
SUSTAINED_KEYS = ("duration_s", "warmup_s")
ARRIVAL_PARAMS = ("mode", *BURSTS_KEYS, *SUSTAINED_KEYS)
"""The table's keys: each may also be a ``[sweep]`` axis (a workload parameter)."""
TEXT_PARAMS = ("mode", "connection")
MAX_GAP_MS = 600_000
MAX_RAMP_MS = 600_000
MAX_BURSTS = 100


@dataclass(frozen=True)
class Arrival:
    """The arrival process of the clients scenario (see the module's docstring)."""

    mode: str = "bursts"
    gap_ms: int = 0
    connection: str = "keep-alive"
    ramp_ms: int = 0
    duration_s: float = 10.0
    warmup_s: float = 1.0

    def __post_init__(self) -> None:
        where = "[run.arrival]"
        check(self.mode in MODES, f"{where} mode", self.mode, f"must be one of {', '.join(MODES)}")
        check(is_int(self.gap_ms) and 0 <= self.gap_ms <= MAX_GAP_MS, f"{where} gap_ms",
              self.gap_ms, f"must be an integer in 0..{MAX_GAP_MS} (ms)")
        check(self.connection in CONNECTIONS, f"{where} connection", self.connection,
              f"must be one of {', '.join(CONNECTIONS)}")
        check(is_int(self.ramp_ms) and 0 <= self.ramp_ms <= MAX_RAMP_MS, f"{where} ramp_ms",
              self.ramp_ms, f"must be an integer in 0..{MAX_RAMP_MS} (ms)")
        check(is_number(self.duration_s) and 1 <= self.duration_s <= 3600,
              f"{where} duration_s", self.duration_s, "must be a number of seconds in 1..3600")
        check(is_number(self.warmup_s) and 0 <= self.warmup_s < self.duration_s,
              f"{where} warmup_s", self.warmup_s,
              f"must be a number of seconds in [0, duration_s) (duration_s = {self.duration_s})")

    @classmethod
    def from_table(cls, table: Mapping[str, Any], mode_swept: bool = False) -> Arrival:
        """From the ``[run.arrival]`` table (its keys and types already checked), refusing a
        key the chosen mode does not read, unless a sweep varies the mode (then each
        variant reads its own mode's keys)."""
        mode = table.get("mode", cls.mode)
        foreign = () if mode_swept else SUSTAINED_KEYS if mode == "bursts" \
            else BURSTS_KEYS if mode == "sustained" else ()
        for key in foreign:
            if key in table:
                raise ConfigError(f"[run.arrival] {key} = {table[key]!r}: applies to mode = "
                                  f"\"{'sustained' if mode == 'bursts' else 'bursts'}\" only "
                                  f"(mode is {mode!r})")
        return cls(**table)

    def with_values(self, values: Mapping[str, Any]) -> Arrival:
        """A copy with some values changed (a sweep's), re-validated."""
        return dataclasses.replace(self, **values) if values else self

    def resolved(self) -> dict[str, Any]:
        """As written to the manifest: every key."""
        return dataclasses.asdict(self)

    def params(self, bursts: int = 1) -> dict[str, Any]:
        """What a trial records and its driver reads: the mode and that mode's keys
        (``bursts`` is ``[run] bursts_per_trial``, for the bursts mode)."""
        if self.mode == "sustained":
            return {"mode": self.mode, "duration_s": self.duration_s, "warmup_s": self.warmup_s}
        return {"mode": self.mode, "bursts": bursts, "gap_ms": self.gap_ms,
                "connection": self.connection, "ramp_ms": self.ramp_ms}


@dataclass(frozen=True)
class TrialArrival:
    """A trial's arrival as its driver reads it: :class:`Arrival` and the burst count."""

    arrival: Arrival
    bursts: int = 1

    @classmethod
    def from_params(cls, params: Mapping[str, Any]) -> TrialArrival:
        """From a trial's ``params`` (a record may come from someone else's run folder).

        A record without ``arrival`` was made before arrivals were stated: bursts of
        clients released at once, back to back, on keep-alive connections, ``bursts``
        of them (the harness's only arrival then).

        Raises:
            ConfigError: ``params["arrival"]`` is not a valid arrival.
        """
        raw = params.get("arrival")
        if raw is None:
            bursts = params.get("bursts", 1)
            check(is_int(bursts) and 1 <= bursts <= MAX_BURSTS, "params bursts", bursts,
                  f"must be an integer in 1..{MAX_BURSTS}")
            return cls(Arrival(), int(bursts))
        if not isinstance(raw, Mapping):
            raise ConfigError(f"params arrival = {raw!r}: must be a table")
        fields = dict(raw)
        bursts = fields.pop("bursts", 1)
        known = {f.name for f in dataclasses.fields(Arrival)}
        for key in fields:
            if key not in known:
                raise ConfigError(f"params arrival {key} = {fields[key]!r}: unknown key; known "
                                  f"keys: {', '.join(sorted([*known, 'bursts']))}")
        check(is_int(bursts) and 1 <= bursts <= MAX_BURSTS, "params arrival bursts", bursts,
              f"must be an integer in 1..{MAX_BURSTS}")
        return cls(Arrival(**fields), int(bursts))
