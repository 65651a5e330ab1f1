"""An asyncio loop on virtual time, for tests that drive the load generator without waiting.

``VirtualLoop``'s clock only moves when the loop would otherwise wait: it jumps straight
to the next timer. The ``loop`` fixture (in conftest) gives one per test.
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Mapping
from typing import Any


class _VirtualSelector(selectors.BaseSelector):
    """Delegates to a real selector but never blocks: a wait advances the loop's clock."""

    def __init__(self) -> None:
        self._inner = selectors.DefaultSelector()
        self.loop: VirtualLoop | None = None

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._inner.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._inner.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout is None:
            raise RuntimeError("virtual loop has nothing scheduled: it would block forever")
        assert self.loop is not None
        self.loop.now += timeout
        return self._inner.select(0)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._inner.get_map()

    def close(self) -> None:
        self._inner.close()


class VirtualLoop(asyncio.SelectorEventLoop):
    """A loop whose ``time()`` jumps to the next timer instead of waiting for it."""

    def __init__(self) -> None:
        selector = _VirtualSelector()
        super().__init__(selector)
        selector.loop = self
        self.now = 1000.0

    def time(self) -> float:
        return self.now
