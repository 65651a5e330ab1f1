"""Every sweep a config may not ask for is one line naming the key and the value."""

from __future__ import annotations

import pytest

from harness.config.sweep import SWEEPABLE, Sweep
from harness.errors import ConfigError


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Sweep("colour", (1, 2)), f"[sweep] param = 'colour': must be one of {', '.join(SWEEPABLE)}"),
    (lambda: Sweep("cpu_ms", (1,)), "[sweep] values = [1]: a sweep needs at least two values"),
    (lambda: Sweep("cpu_ms", (1, 2.5)), "[sweep] values = [1, 2.5]: every value must be an integer"),
    (lambda: Sweep("delay_ms", (1, 2.5)), "[sweep] values = [1, 2.5]: every value must be an integer"),
    (lambda: Sweep("threads", (1, 2.5), stack="s"), "[sweep] values = [1, 2.5]: every value must be an integer"),
    (lambda: Sweep("quota_rps", (1, "x")), "[sweep] values = [1, 'x']: every value must be a number"),
    (lambda: Sweep("cpu_ms", (2, 2)), "[sweep] values = [2, 2]: values must be distinct"),
    (lambda: Sweep("threads", (1, 2)), "[sweep] stack = None: a stack parameter (threads) needs the stack it varies"),
    (lambda: Sweep("cpu_ms", (1, 2), stack="s"), "[sweep] stack = 's': a workload parameter (cpu_ms) applies to every stack: leave stack out"),
    (lambda: Sweep("cpu_ms", (1, 2), second=Sweep("delay_ms", (1, 2), second=Sweep("quota_rps", (1, 2)))),
     "[sweep.second] second = '...': a sweep has at most two axes"),
    (lambda: Sweep("cpu_ms", (1, 2), second=Sweep("cpu_ms", (3, 4))),
     "[sweep.second] param = 'cpu_ms': the two axes must vary different parameters"),
])
def test_a_bad_sweep_is_one_line_naming_the_key(make: object, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        make()  # type: ignore[operator]
    assert str(info.value) == message


def test_good_sweeps_build() -> None:
    assert Sweep("quota_rps", (1, 2.5)).values == (1, 2.5)   # a profile field may be fractional
    two = Sweep("threads", (1, 2), stack="s", second=Sweep("cpu_ms", (0, 5)))
    assert [a.param for a in two.axes] == ["threads", "cpu_ms"]
    assert two.workload_params == ("cpu_ms",)
