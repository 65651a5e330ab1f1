"""The open-loop driver's end: a request still unanswered ``timeout + GRACE_S`` after the
last intended send is cut, counted as a timeout with how late it was, and counted before
``drive`` returns (its tally is frozen into a partial right then)."""

from __future__ import annotations

import asyncio

import pytest

from harness.loadgen import openloop
from harness.loadgen.drivers import Outcome
from harness.loadgen.openloop import drive
from tests.virtual_loop import VirtualLoop


def test_a_cut_request_is_counted_when_drive_returns_with_its_lateness(loop: VirtualLoop) -> None:
    calls = iter(range(100))

    async def send() -> Outcome:
        if next(calls) == 1:
            await asyncio.sleep(10_000.0)  # never answers within the trial
        return Outcome("ok", 0.0)

    async def trial() -> tuple[dict[str, int], str | None, float]:
        start = loop.time()
        tally = await drive([0.0, 0.1, 0.2], send, start=start, timeout_s=2.0,
                            max_in_flight=10, clock=loop.time)
        return dict(tally.counts), tally.first_timeout, loop.time() - start

    counts, error, took = loop.run_until_complete(trial())
    assert counts["timeout"] == 1 and counts["ok"] == 2
    late = 0.2 + 2.0 + openloop.GRACE_S - 0.1
    assert error == f"no answer {late:.1f} s after its intended send (cut at the end of the trial)"
    assert took == pytest.approx(0.2 + 2.0 + openloop.GRACE_S)
