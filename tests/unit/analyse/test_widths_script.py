"""``scripts/widths.py``: runs of one config side by side, cell by cell."""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[3]
EXAMPLE = ROOT / "results" / "example"


@pytest.fixture(scope="module")
def widths() -> ModuleType:
    spec = importlib.util.spec_from_file_location("widths", ROOT / "scripts" / "widths.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_runs_side_by_side(widths: ModuleType, tmp_path: Path,
                               capsys: pytest.CaptureFixture[str]) -> None:
    budgeted = tmp_path / "budgeted"
    shutil.copytree(EXAMPLE, budgeted)
    manifest = json.loads((budgeted / "manifest.json").read_text())
    manifest["allocation"] = {"mode": "adaptive", "spent_s": 299.6}  # what a budget counted
    (budgeted / "manifest.json").write_text(json.dumps(manifest))
    assert widths.main([str(EXAMPLE), str(budgeted)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split(" | ") == ["cell".ljust(45), "example".ljust(14), "budgeted"]
    assert "clients 200 quart-hypercorn vs flask-gunicorn | ±17.8% (10/10) | ±17.8% (10/10)" in lines
    # The example's wall time from its start and end (23:18:21 to 23:28:22), the other's
    # from its budget's count.
    assert lines[-3].split(" | ") == ["wall time".ljust(45), "10m1s".ljust(14), "5m0s"]
    assert lines[-2].startswith("trial-seconds")
    assert lines[-1].split(" | ")[1:] == ["±22.8%".ljust(14), "±22.8%"]


def test_runs_of_other_cells_or_no_run_are_refused(widths: ModuleType, tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    assert widths.main([str(EXAMPLE), "/nonexistent-run"]) == 2
    assert "run folder not found" in capsys.readouterr().err
    fewer = tmp_path / "fewer"
    shutil.copytree(EXAMPLE, fewer)
    kept = [line for line in (fewer / "trials.jsonl").read_text().splitlines()
            if json.loads(line)["stack"] != "fastapi-uvicorn"]
    (fewer / "trials.jsonl").write_text("\n".join(kept) + "\n")
    assert widths.main([str(EXAMPLE), str(fewer)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "different headline cells" in err
