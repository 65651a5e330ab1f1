"""What enters a cell: only ok trials, in run order, and only positive finite values (each
other value left out with a warning naming the trial; a null silently); server resources
when the record measured them; and the trials each cell lost."""

from __future__ import annotations

import math
import zlib
from typing import Any

from harness.analyse.cells import (
    Attrition,
    attrition,
    cell_seed,
    finite,
    group_ok,
    is_number,
    metric_values,
    where,
)


def trial(tid: str, value: Any, *, status: str = "ok", round_no: Any = 1, order: Any = 0,
          resources: Any = None, stack: str = "s") -> dict[str, Any]:
    return {"trial_id": tid, "scenario": "fanout", "level": 5, "stack": stack, "status": status,
            "round": round_no, "order": order, "metrics": {"duration_s": value},
            "resources": resources}


def test_only_positive_finite_numbers_enter_and_the_rest_are_named() -> None:
    trials = [trial("t1", 0.5), trial("t2", 1e-300), trial("t3", 0), trial("t4", -1.0),
              trial("t5", math.nan), trial("t6", math.inf), trial("t7", True), trial("t8", "1"),
              trial("t9", None)]
    warnings: list[str] = []
    values = metric_values(group_ok(trials), warnings)
    assert values == {("fanout", 5, "s", "duration_s"): [0.5, 1e-300]}
    assert warnings == [
        "trial t3: metric duration_s = 0 is not a positive number; left out",
        "trial t4: metric duration_s = -1.0 is not a positive number; left out",
        "trial t5: metric duration_s = nan is not a positive number; left out",
        "trial t6: metric duration_s = inf is not a positive number; left out",
        "trial t7: metric duration_s = True is not a positive number; left out",
        "trial t8: metric duration_s = '1' is not a positive number; left out",
    ]


def test_resources_are_values_when_measured() -> None:
    measured = trial("t1", 0.5, resources={"cpu_ms_per_request": 2.5, "peak_rss_mb": None,
                                           "processes": 3})
    values = metric_values(group_ok([measured, trial("t2", 0.6, resources=None)]), [])
    assert values[("fanout", 5, "s", "cpu_ms_per_request")] == [2.5]
    assert ("fanout", 5, "s", "peak_rss_mb") not in values
    assert ("fanout", 5, "s", "processes") not in values  # not a resource metric
    assert values[("fanout", 5, "s", "duration_s")] == [0.5, 0.6]


def test_ok_trials_are_grouped_in_run_order() -> None:
    trials = [trial("c", 3.0, round_no=2, order=0), trial("b", 2.0, round_no=1, order=1),
              trial("a", 1.0, round_no=1, order=1), trial("z", 9.0, round_no=None, order=None),
              trial("x", 5.0, round_no=1, order=0, status="invalid"),
              trial("y", 6.0, round_no=True, order=0)]
    [group] = group_ok(trials).values()
    assert [t["trial_id"] for t in group] == ["z", "y", "a", "b", "c"]  # missing: -1


def test_attrition_counts_every_trial_not_ok() -> None:
    trials = [trial("1", 1.0), trial("2", 1.0, status="failed"), trial("3", 1.0, status="invalid"),
              trial("4", 1.0, stack="t")]
    assert attrition(trials) == {("fanout", 5, "s"): Attrition(2, 3),
                                 ("fanout", 5, "t"): Attrition(0, 1)}


def test_seeds_names_and_numbers() -> None:
    key = ("fanout", 5, "s", "duration_s")
    assert cell_seed(7, key) == (7 + zlib.crc32(b"fanout|5|s|duration_s")) % 2**64
    assert cell_seed(2**64 - 1, key) == (2**64 - 1 + zlib.crc32(b"fanout|5|s|duration_s")) % 2**64
    assert where(("clients", 50, "quart-hypercorn", "x")) == "clients C=50, quart-hypercorn"
    assert finite(2) == 2.0 and isinstance(finite(2), float)
    assert finite(math.inf) is None and finite(math.nan) is None and finite(None) is None
    assert is_number(1) and is_number(0.5) and not is_number(True) and not is_number(math.nan)
    assert not is_number("1") and not is_number(None)
