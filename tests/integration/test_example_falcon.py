"""The README's "Measure your own app" walk-through, run as CI runs it: the Falcon example
(examples/falcon, not a framework the harness ships) measured by its own config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from harness.cli.main import main
from tests.procs import living_children

ROOT = Path(__file__).resolve().parents[2]
CONFIG = ROOT / "examples" / "falcon" / "asyncbench.toml"


def test_the_falcon_example_runs_and_reports(tmp_path: Path, capsys: Any) -> None:
    assert main(["check", "--config", str(CONFIG)]) == 0, capsys.readouterr().out
    capsys.readouterr()
    code = main(["run", "--config", str(CONFIG), "--rounds", "2", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0, out
    run_dir = Path(out.split("run folder: ")[1].splitlines()[0])
    records = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    records = [r for r in records if not r.get("retried")]  # a disturbed attempt is kept and run again
    assert len(records) == 2 * 2 * 4
    assert all(r["status"] in ("ok", "invalid") for r in records), [r["error"] for r in records]
    assert all(r["resources"]["cpu_s"] is not None for r in records)
    sync_five = [r["metrics"]["duration_s"] for r in records
                 if (r["stack"], r["scenario"], r["level"]) == ("falcon-gunicorn", "fanout", 5)]
    assert min(sync_five) >= 0.1  # five 20 ms calls, one after another
    report = (run_dir / "report.md").read_text()
    assert "| Metric | falcon-gunicorn (baseline) | falcon-uvicorn |" in report
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["config"]["stacks"]["falcon-uvicorn"]["cwd"] == "examples/falcon"
    assert living_children() == []
