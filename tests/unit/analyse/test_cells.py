"""Arms without an ok trial: what makes a run end non-zero, and the line that says so."""

from __future__ import annotations

from typing import Any

from harness.analyse.cells import arms_without_ok, empty_arms_line


def trial(stack: str, level: int, status: str, scenario: str = "clients",
          error: str | None = None) -> dict[str, Any]:
    return {"scenario": scenario, "level": level, "stack": stack, "status": status,
            "error": error}


def test_an_arm_with_one_ok_trial_is_measured() -> None:
    trials = [trial("a", 1, "failed", error="boom"), trial("a", 1, "ok"),
              trial("a", 1, "invalid", error="foreign load")]
    assert arms_without_ok(trials) == {}


def test_arms_with_only_failed_or_invalid_trials_are_named_with_their_last_error() -> None:
    trials = [trial("b", 10, "failed", error="first"), trial("b", 10, "failed", error="last"),
              trial("b", 1, "invalid", error="foreign load"), trial("a", 1, "ok"),
              trial("b", 5, "failed", scenario="fanout", error="x")]
    empty = arms_without_ok(trials)
    assert empty == {("fanout", 5, "b"): "x", ("clients", 1, "b"): "foreign load",
                     ("clients", 10, "b"): "last"}
    assert list(empty) == [("fanout", 5, "b"), ("clients", 1, "b"), ("clients", 10, "b")]
    assert empty_arms_line(empty) == (
        "no ok trial in 3 headline arms: b at fanout N=5, clients C=1, clients C=10 "
        "(last error: last)")


def test_a_scenario_without_a_headline_metric_is_not_an_arm() -> None:
    assert arms_without_ok([trial("a", 1, "failed", scenario="warmup")]) == {}


def test_one_arm_reads_in_the_singular() -> None:
    line = empty_arms_line(arms_without_ok([trial("a", 2, "failed")]))
    assert line == "no ok trial in 1 headline arm: a at clients C=2"
