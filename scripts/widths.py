"""Every headline interval's width, cell by cell, for runs of the same config side by side
(a fixed run beside an adaptive one), with each run's ok trials per arm, the wall time it
spent, its trial-seconds and its widest width. Reads the run folders only. Usage::

    .venv/bin/python scripts/widths.py results/FIXED results/ADAPTIVE
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.analyse.summary import summarise
from harness.config.duration import duration_words
from harness.errors import AsyncbenchError, RunDirError
from harness.rundir.reader import load_run


def _wall(manifest: dict[str, Any]) -> str:
    """The run's wall time: what its budget counted, else its start to its end."""
    spent = (manifest.get("allocation") or {}).get("spent_s")
    if isinstance(spent, int | float):
        return duration_words(spent)
    try:
        began = dt.datetime.fromisoformat(manifest["created_at"])
        ended = dt.datetime.fromisoformat(manifest["finished_at"])
    except (KeyError, TypeError, ValueError):
        return "unknown"
    return duration_words((ended - began).total_seconds())


def _width(cell: dict[str, object]) -> str:
    width = cell["width"]
    trials = f"({cell['n_stack']}/{cell['n_baseline']})"
    return f"±{width:.1%} {trials}" if isinstance(width, float) else f"none {trials}"


def widths_table(run_dirs: Sequence[Path]) -> str:
    """The side-by-side table as text."""
    runs = [load_run(path) for path in run_dirs]
    precision = [summarise(run)["precision"] for run in runs]
    keys = [[(c["scenario"], c["level"], c["stack"], c["baseline"]) for c in p["cells"]]
            for p in precision]
    if any(k != keys[0] for k in keys):
        raise RunDirError("the runs measure different headline cells; compare runs of one "
                           "config")
    rows = [["cell", *(path.name for path in run_dirs)]]
    for i, (scenario, level, stack, baseline) in enumerate(keys[0]):
        rows.append([f"{scenario} {level} {stack} vs {baseline}",
                     *(_width(p["cells"][i]) for p in precision)])
    for label, value in (
            ("wall time", lambda r, p: _wall(r.manifest)),
            ("trial-seconds", lambda r, p: duration_words(p["trial_s"])),
            ("widest", lambda r, p: f"±{p['widest']:.1%}" if p["widest"] else "none")):
        rows.append([label, *(value(r, p) for r, p in zip(runs, precision, strict=True))])
    sizes = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(" | ".join(cell.ljust(size) for cell, size in zip(row, sizes, strict=True))
                     .rstrip() for row in rows)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run_dirs", type=Path, nargs="+", help="run folders of one config")
    args = parser.parse_args(argv)
    try:
        print(widths_table(args.run_dirs))
    except AsyncbenchError as exc:
        print(f"widths: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
