"""How a clients trial's clients arrived, in the words every result about it carries:
``200 clients arriving at once, 3 back-to-back bursts, keep-alive``.

Read from a trial's ``params`` (``config.arrival``); a record made before arrivals were
stated had the only arrival the harness then knew (bursts at once, back to back,
keep-alive). Pure functions; no I/O.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from harness.config.arrival import TrialArrival
from harness.errors import ConfigError


def trial_arrival(params: object) -> TrialArrival | None:
    """The arrival a trial's ``params`` record, or None when they hold no valid one."""
    if not isinstance(params, Mapping):
        return None
    try:
        return TrialArrival.from_params(params)
    except ConfigError:
        return None


def _plural(n: int | None, word: str) -> str:
    """``200 clients``, ``1 client``; ``C clients`` for no number."""
    return f"{'C' if n is None else n} {word}{'' if n == 1 else 's'}"


def _seconds(value: float) -> str:
    return f"{value:g} s"


def arrival_words(plan: TrialArrival, clients: int | None) -> str:
    """The arrival as a phrase: ``200 clients arriving at once, 3 back-to-back bursts,
    keep-alive``; ``50 clients arriving over 500 ms, one burst per trial, Connection:
    close``; ``200 keep-alive connections sending back to back for 10 s (steady window
    from 1 s)``; ``C clients ...`` without a number of clients."""
    a = plan.arrival
    if a.mode == "sustained":
        return (f"{_plural(clients, 'keep-alive connection')} sending back to back for "
                f"{_seconds(a.duration_s)} (steady window from {_seconds(a.warmup_s)})")
    who = _plural(clients, "client")
    when = "at once" if a.ramp_ms == 0 else f"over {a.ramp_ms} ms"
    if plan.bursts == 1:
        bursts = "one burst per trial"
    elif a.gap_ms == 0:
        bursts = f"{plan.bursts} back-to-back bursts"
    else:
        bursts = f"{plan.bursts} bursts {a.gap_ms} ms apart"
    connection = "keep-alive" if a.connection == "keep-alive" else "Connection: close"
    return f"{who} arriving {when}, {bursts}, {connection}"


def common_words(trials: Iterable[Mapping[str, Any]]) -> str | None:
    """The arrival words of clients trials that all arrived alike (None when they differ,
    or one of them records no valid arrival)."""
    said = set()
    for trial in trials:
        plan = trial_arrival(trial.get("params"))
        level = trial.get("level")
        if plan is None or not isinstance(level, int) or isinstance(level, bool):
            return None
        said.add(arrival_words(plan, level))
    return said.pop() if len(said) == 1 else None


def pair_words(stack_words: str | None, baseline: str, baseline_words: str | None) -> str | None:
    """A comparison's arrival: one phrase when both arms arrived alike, else both."""
    if stack_words == baseline_words:
        return stack_words
    return f"{stack_words or 'arrival not recorded'}; {baseline}: " \
           f"{baseline_words or 'arrival not recorded'}"
