"""The coverage simulation's adaptive stopping rule: it stops where the rule says."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[3] / "scripts" / "coverage_sim.py"


@pytest.fixture(scope="module")
def sim() -> ModuleType:
    spec = importlib.util.spec_from_file_location("coverage_sim", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tight_trials_stop_at_the_first_look(sim: ModuleType) -> None:
    result = sim.sequential((0.001, 0.001), 20, 1, (20, 40), 0.03, 0.95)
    assert result["mean_n"] == 20 and result["early"] == 1.0
    assert 0.0 <= result["sequential"] <= 1.0


def test_noisy_trials_run_to_the_last_round(sim: ModuleType) -> None:
    result = sim.sequential((0.5, 0.5), 20, 1, (20, 40), 0.03, 0.95)
    assert result["mean_n"] == 40 and result["early"] == 0.0
    # Never stopping early, the rule reports the fixed-n interval at the last round.
    assert result["sequential"] == result["fixed-max"]


@pytest.fixture(scope="module")
def family() -> ModuleType:
    spec = importlib.util.spec_from_file_location("family_sim", SCRIPT.parent / "family_sim.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_family_simulation_runs_the_allocation_and_compares_with_fixed_rounds(
        family: ModuleType) -> None:
    result = family.family_rule(3, 7, None)  # target: fixed 10 rounds' widest width
    assert result["fixed_load"] == pytest.approx(10 * sum(
        cost for *_, (_, cost), stacks in family.EXAMPLE_FAMILY
        for cost in [cost, *(s[1] for s in stacks)]))
    assert result["all_met"] == 1.0  # the fixed run's own widest width is reachable
    assert 0 < result["load"] < result["fixed_load"]
    assert result["wall"] > result["load"]
    for key in ("cell_min", "cell_mean", "together", "fixed_together"):
        assert 0.0 <= result[key] <= 1.0
    assert result["cell_min"] <= result["cell_mean"]


def test_a_tight_family_stops_at_the_floor(family: ModuleType) -> None:
    tight = (("fanout", 1, (0.001, 1.0), ((0.001, 1.0, 2.0),)),)
    result = family.family_rule(2, 1, 0.05, floor=4, family=tight, rounds=(2, 10))
    assert result["all_met"] == 1.0
    assert result["load"] == pytest.approx(2 * 4 * 1.0)  # two arms, four trials each
    # Two full rounds, then two rounds to reach the floor: no round planned longer than a
    # full one (one trial an arm).
    assert result["rounds"] == 4
