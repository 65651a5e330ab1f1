"""Server or paradigm: the headline ratio split exactly into its parts, each with its interval,
on hand-computed values."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.analyse import pairs, split, stats
from harness.analyse.summary import summarise
from harness.rundir.reader import Run

FG, FR, QH, QR = "flask-gunicorn", "flask-granian", "quart-hypercorn", "quart-granian"
# fan-out N = 10 durations (s); means 1.1, 0.55, 0.11 and 0.11
ARMS = {FG: [1.0, 1.1, 1.2], FR: [0.5, 0.55, 0.6], QH: [0.10, 0.11, 0.12],
        QR: [0.105, 0.11, 0.115]}


def trial(stack: str, i: int, duration: float, scenario: str = "fanout",
          level: int = 10) -> dict[str, Any]:
    metrics = {"duration_s": duration}
    metrics["calls_per_s" if scenario == "fanout" else "throughput_rps"] = level / duration
    return {"trial_id": f"r{i:03d}-{stack}-{scenario}-{level}", "round": i, "order": 0,
            "scenario": scenario, "stack": stack, "level": level, "status": "ok",
            "metrics": metrics, "resources": None}


def run_of(arms: dict[str, Sequence[float]], scenario: str = "fanout", level: int = 10,
           baseline: str = FG) -> Run:
    trials = [trial(stack, i, d, scenario, level)
              for stack, xs in arms.items() for i, d in enumerate(xs, 1)]
    config = {"baseline": baseline, "confidence": 0.95, "stacks": {key: {} for key in arms}}
    return Run(Path("r"), {"run_id": "r", "seed": 3, "config": config}, trials)


def parts(row: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {p["part"]: p for p in row["parts"]}


def test_the_headline_is_the_paradigm_times_the_server_parts() -> None:
    summary = summarise(run_of(ARMS))
    (row,) = summary["split"]
    assert (row["scenario"], row["level"], row["suffix"], row["metric"]) == (
        "fanout", 10, "", "duration_s")
    found = parts(row)
    assert [p["part"] for p in row["parts"]] == list(split.PARTS)
    # durations: above 1 the first stack is faster, mean(compared with) / mean(stack)
    assert found["headline"]["ratio"] == pytest.approx(1.1 / 0.11)       # 10
    assert found["paradigm"]["ratio"] == pytest.approx(0.55 / 0.11)      # 5
    assert found["sync_server"]["ratio"] == pytest.approx(1.1 / 0.55)    # 2
    assert found["async_server"]["ratio"] == pytest.approx(0.11 / 0.11)  # 1
    assert found["headline"]["ratio"] == pytest.approx(
        found["paradigm"]["ratio"] * found["sync_server"]["ratio"]
        / found["async_server"]["ratio"])
    assert row["server_factor"] == pytest.approx(2.0)
    assert [(p["stack"], p["compared_with"]) for p in row["parts"]] == [
        (QH, FG), (QR, FR), (FR, FG), (QR, QH)]


def test_each_part_has_fieller_interval_in_the_widened_headline_family() -> None:
    summary = summarise(run_of(ARMS))
    # three speedups against flask-gunicorn, plus the two comparisons only the split makes
    assert summary["family"]["headline_tests"] == 5
    assert summary["family"]["split_tests"] == 2
    level = 1 - 0.05 / 5
    found = parts(summary["split"][0])
    for name, (stack, other) in (("paradigm", (QR, FR)), ("async_server", (QR, QH))):
        want = stats.primary_interval(ARMS[other], ARMS[stack], level)
        assert (found[name]["ci_low"], found[name]["ci_high"]) == pytest.approx(
            (want.low, want.high))
        assert found[name]["confidence"] == pytest.approx(level)
    # the parts the summary already has are the very same numbers
    for name, stack in (("headline", QH), ("sync_server", FR)):
        sp = next(s for s in summary["speedups"]
                  if s["stack"] == stack and s["metric"] == "duration_s")
        assert (found[name]["ratio"], found[name]["ci_low"], found[name]["ci_high"]) == (
            sp["ratio"], sp["ci_low"], sp["ci_high"])
        assert sp["confidence"] == pytest.approx(level)
    assert found["async_server"]["verdict"] == "inconclusive"
    assert found["paradigm"]["verdict"] == "faster"


def test_throughput_splits_on_the_durations_as_the_speedups_do() -> None:
    summary = summarise(run_of(ARMS, scenario="clients", level=200))
    (row,) = summary["split"]
    assert row["metric"] == "throughput_rps"
    assert parts(row)["paradigm"]["ratio"] == pytest.approx(5.0)


def test_no_split_without_all_four_stacks() -> None:
    for missing in (FG, FR, QH, QR):
        arms = {k: v for k, v in ARMS.items() if k != missing}
        summary = summarise(run_of(arms, baseline=next(iter(arms))))
        assert summary["split"] == []
        assert summary["family"]["split_tests"] == 0


def test_variants_split_among_themselves_and_other_names_are_not_variants() -> None:
    cells = [("clients", 50, name) for name in (
        FG, FR, QH, QR, *(f"{n}@3.13" for n in (FG, FR, QH, QR)),
        f"{FG}[pool_size=50]", f"{FR}[pool_size=50]", f"{QH}[pool_size=50]",
        "flask-gunicorn-threadpool", "fastapi-granian")]
    found = split.split_cells(cells)
    assert [(c.suffix, c.split.async_shared) for c in found] == [("", QR), ("@3.13", QR + "@3.13")]
    assert found[1].split.sync_home == FG + "@3.13"
    assert split.split_cells([("fanout", 1, n) for n in (FG, FR, QH, QR)],
                             splits=[split.Split(FG, FR, QH, "nope")]) == []


def test_new_tests_are_the_comparisons_no_speedup_makes() -> None:
    keys = split.pair_keys(split.split_cells([("fanout", 10, n) for n in (FG, FR, QH, QR)]))
    against_flask = [("fanout", 10, s, FG) for s in (FR, QH, QR)]
    assert pairs.new_tests(keys, against_flask) == 2
    against_quart = [("fanout", 10, s, QH) for s in (FG, FR, QR)]
    # headline, paradigm and sync server are new; quart-granian/quart-hypercorn is not
    assert pairs.new_tests(keys, against_quart) == 3
    assert pairs.new_tests(set(), against_flask) == 0
