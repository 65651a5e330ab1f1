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
