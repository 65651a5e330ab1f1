"""``[run] placement`` as a table: explicit CPU lists, and each way a table may be wrong."""

from __future__ import annotations

from typing import Any

import pytest

from harness.config.placement import Placement
from harness.errors import ConfigError


def test_a_table_places_the_stack_and_the_harness() -> None:
    placement = Placement.from_value({"stack": [1, 2], "harness": [0]})
    assert placement == Placement("explicit", (1, 2), (0,))
    assert placement.resolve({0, 1, 2, 3}) == (frozenset({1, 2}), frozenset({0}))
    # A manifest's resolved form names its mode.
    assert Placement.from_value(placement.resolved()) == placement
    assert Placement.from_value({"mode": "split", "stack": [], "harness": []}) == Placement("split")


@pytest.mark.parametrize(("value", "message"), [
    ({"stack": [1]}, "[run] placement = {'stack': [1]}: a table needs the keys stack and harness (and may name upstream)"),
    ({"stack": [1], "harness": [0], "cores": 2}, "a table needs the keys stack and harness (and may name upstream)"),
    ({"stack": 1, "harness": [0]}, "[run] placement = {'stack': 1, 'harness': [0]}: stack, harness and upstream must be lists of CPU numbers"),
    ({"stack": [1], "harness": "0"}, "stack, harness and upstream must be lists of CPU numbers"),
    ({"stack": [1], "harness": [0], "upstream": 2}, "stack, harness and upstream must be lists of CPU numbers"),
    ({"stack": [], "harness": [0]}, "[run] placement stack = []: must be a non-empty list of CPU numbers"),
    ({"stack": [1], "harness": [True]}, "[run] placement harness = [True]: must be a non-empty list of CPU numbers"),
    ({"stack": [4096], "harness": [0]}, "[run] placement stack = [4096]: must be a non-empty"),
    ({"stack": [1, 0], "harness": [0]}, "[run] placement: stack [1, 0] and harness [0] share CPUs"),
    (3, "[run] placement = 3: must be \"none\", \"split\" or a table"),
    ("pinned", "[run] placement = 'pinned': must be \"none\", \"split\" or a table {stack = [CPUs], harness = [CPUs]}"),
])
def test_a_bad_placement_is_one_line(value: Any, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        Placement.from_value(value)
    assert message in str(info.value) and str(info.value).startswith("[run] placement"), str(info.value)


def test_the_largest_cpu_number_is_accepted_and_lists_go_with_explicit_only() -> None:
    assert Placement.from_value({"stack": [4095], "harness": [0]}).stack == (4095,)
    with pytest.raises(ConfigError, match="mode 'split' takes no CPU lists"):
        Placement("split", (1,), ())
