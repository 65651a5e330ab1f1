"""The quick config under several interpreters: every stack also runs under 3.12 and 3.13
(from their locked environments, .pythons/LABEL), its trials are ok, and every record
carries the version of the interpreter its server ran under.

An interpreter whose environment is missing is skipped with the reason the run gives,
which names the command that builds it (``nox -s pythons -- 3.13``).
"""

from __future__ import annotations

import json
import platform
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.errors import TargetError
from harness.targets import interpreters
from tests.behaviour import LIMITS_OFF

ROOT = Path(__file__).resolve().parents[2]
LABELS = ("3.12", "3.13")
RUNNING = interpreters.running_label()


def missing(label: str) -> str | None:
    """Why ``label`` cannot run here, or None when its environment is ready."""
    try:
        interpreters.resolve(label)
    except TargetError as exc:
        return str(exc)
    return None


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One round of the quick config under the running interpreter and every ready one."""
    ready = [label for label in LABELS if label != RUNNING and missing(label) is None]
    if not ready:
        pytest.skip("; ".join(m for label in LABELS if (m := missing(label))))
    folder = tmp_path_factory.mktemp("pythons")
    quick = (ROOT / "configs" / "quick.toml").read_text(encoding="utf-8")
    labels = ", ".join(f'"{label}"' for label in [RUNNING, *ready])
    config = folder / "quick-pythons.toml"
    # What is tested is the harness's behaviour under each interpreter, not a measurement.
    run_table = f"[run]\npythons = [{labels}]\nquiet_wait_s = 0\n"
    config.write_text(quick.replace("[run]\n", run_table, 1) + LIMITS_OFF, encoding="utf-8")
    code = main(["run", "--config", str(config), "--rounds", "1", "--out", str(folder / "out"),
                 "--no-report"])
    assert code == 0
    (run_dir,) = (folder / "out").iterdir()
    records = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    manifest = json.loads((run_dir / "manifest.json").read_text())
    return {"records": [r for r in records if not r.get("retried")], "manifest": manifest,
            "ready": ready}


@pytest.mark.parametrize("label", LABELS)
def test_the_quick_config_runs_under_the_interpreter(run: dict[str, Any], label: str) -> None:
    if label == RUNNING:
        suffix, version = "", platform.python_version()
    elif label not in run["ready"]:
        pytest.skip(missing(label) or f"{label} is not ready")
    else:
        suffix, version = f"@{label}", run["manifest"]["pythons"][label]["version"]
    recorded = run["manifest"]["pythons"].get(label) or {}
    assert version.startswith(f"{label.rstrip('t')}.")
    assert recorded.get("free_threaded") is not None and "gil_disabled" in recorded
    mine = [r for r in run["records"] if r["stack"].endswith(suffix) and
            ("@" in r["stack"]) == bool(suffix)]
    stacks = {r["stack"] for r in mine}
    assert stacks == {f"{name}{suffix}" for name in
                      ("flask-gunicorn", "quart-hypercorn", "fastapi-uvicorn")}
    assert len(mine) == 3 * 4  # stacks x (2 fanout + 2 clients levels), one round
    for record in mine:
        assert record["status"] == "ok", record["error"]
        assert record["python"] == version
    for r in mine:  # sequential calls under every interpreter, concurrent ones too
        if r["scenario"] == "fanout" and r["level"] == 5:
            sequential = r["stack"].startswith("flask-gunicorn")
            assert (r["metrics"]["duration_s"] >= 0.100) == sequential


def test_the_run_says_what_it_found_of_free_threaded_builds(run: dict[str, Any]) -> None:
    note = run["manifest"]["pythons_note"]
    assert "\n" not in note and "free-threaded" in note
    assert run["manifest"]["config"]["pythons"][0] == RUNNING
