"""Shared test settings: tests under tests/integration/ are marked ``integration``,
dead children adopted by the test process are reaped after every test, and SIGINT reaches
the programs the tests start."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import psutil
import pytest

from tests.virtual_loop import VirtualLoop

INTEGRATION = Path(__file__).parent / "integration"

# A shell starts a background job (`make test &`, `nohup ... &` in a script) with SIGINT
# ignored, and every child inherits that: the harness, rightly, keeps an ignored SIGINT
# ignored, and the tests that press Ctrl-C on it would see a run that never stops. Handled
# here, each child starts with SIGINT at its default again.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if INTEGRATION in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.integration)


@pytest.fixture(autouse=True)
def _reap_adopted_zombies() -> Iterator[None]:
    """The harness makes its process a child subreaper, so orphans of any program a
    test starts (a browser's helpers, say) are re-parented to the test process;
    reap the dead ones so that "no child left" checks see only living processes."""
    yield
    for child in psutil.Process().children():
        with contextlib.suppress(psutil.Error, ChildProcessError, OSError):
            if child.status() == psutil.STATUS_ZOMBIE:
                os.waitpid(child.pid, os.WNOHANG)


@pytest.fixture
def loop() -> Iterator[VirtualLoop]:
    """An event loop on virtual time (``tests/virtual_loop.py``), closed after the test."""
    vloop = VirtualLoop()
    try:
        yield vloop
    finally:
        vloop.close()
