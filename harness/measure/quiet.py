"""Measuring waits for a quiet machine: no round starts, and no trial disturbed by other
processes is run again, until the CPU that processes outside the run use has stayed under
``[limits] foreign_cpu_max`` for ``QUIET_WINDOW_S``.

The wait gives up after ``[run] quiet_wait_s`` (0 turns the gate off) with a
``MachineBusyError`` naming the busiest processes; the runner then stops, keeping every
record written so far.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from harness.errors import MachineBusyError
from harness.loadgen.foreign import ForeignLoad, measure_foreign

QUIET_WINDOW_S = 2.0    # consecutive quiet time needed
SAMPLE_S = 1.0          # one measurement of the foreign load
NOTE_EVERY_S = 10.0     # how often the progress line repeats while waiting

Sampler = Callable[[float, Iterable[int]], ForeignLoad]


def waiting_words(load: ForeignLoad) -> str:
    """``waiting for a quiet machine: 1.9 cores busy (python3, python3)``."""
    names = ", ".join(name for name, _ in load.top)
    return (f"waiting for a quiet machine: {load.cores:.1f} cores busy"
            + (f" ({names})" if names else ""))


def wait_for_quiet(limit: float, wait_s: float, note: Callable[[str], None], *,
                   own: Iterable[int] = (), sample: Sampler = measure_foreign,
                   clock: Callable[[], float] = time.monotonic) -> ForeignLoad | None:
    """Block until the foreign load has stayed at most ``limit`` cores for the quiet window.

    Returns the last measurement (None when ``wait_s`` is 0: the gate is off). ``note``
    hears a progress line when the wait starts and every ``NOTE_EVERY_S`` after.

    Raises:
        MachineBusyError: still busy after ``wait_s`` seconds.
    """
    if wait_s <= 0:
        return None
    own = list(own)
    deadline = clock() + wait_s
    quiet_for = 0.0
    noted_at: float | None = None
    while True:
        load = sample(SAMPLE_S, own)
        if load.cores <= limit:
            quiet_for += load.wall_s
            if quiet_for >= QUIET_WINDOW_S:
                return load
        else:
            quiet_for = 0.0
            if noted_at is None or clock() - noted_at >= NOTE_EVERY_S:
                note(waiting_words(load))
                noted_at = clock()
        if clock() >= deadline:
            raise MachineBusyError(
                f"the machine did not get quiet within {wait_s:g} s: {load.describe()} > limit "
                f"{limit:.2f}; stop them, or raise [run] quiet_wait_s or [limits] "
                "foreign_cpu_max")
