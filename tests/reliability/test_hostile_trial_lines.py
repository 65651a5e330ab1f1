"""Reliability: a shared run folder's ``trials.jsonl`` cannot reach past the reader.

One extra line of 100,000 nested ``[`` (which would exhaust the JSON parser's recursion)
or one extra line of 200 MB (which would be read whole) is skipped with a warning, like
any bad line: ``stats`` and ``report`` answer as for the clean folder, with no traceback,
and reading the folder adds at most :data:`PEAK_LIMIT_KIB` to a process's peak memory
(measured in a fresh process through VmHWM, as the hostile-bundle tests do).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.rundir.reader import MAX_DEPTH, MAX_LINE_BYTES, MAX_SKIPPED_LISTED, load_run

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "results" / "example"
HUGE_BYTES = 200 * 2**20
PEAK_LIMIT_KIB = 8 * 1024  # the stated bound: a few lines of at most 1 MiB, far below 200 MB


def _copy_example(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(EXAMPLE, run)
    return run


def nested(run: Path) -> Path:
    with (run / "trials.jsonl").open("ab") as fh:
        fh.write(b"[" * 100_000 + b"\n")
    return run


def huge(run: Path) -> Path:
    chunk = b'{"pad": "' + b"x" * (2**20 - 10) + b'"'
    with (run / "trials.jsonl").open("ab") as fh:
        for _ in range(HUGE_BYTES // len(chunk)):
            fh.write(chunk)
        fh.write(b"}\n")
    return run


def peak_added_kib(run: Path) -> tuple[int, int, str]:
    """(KiB the reading added to the peak, trials read, the first skip reason) in a fresh
    process."""
    code = ("import sys\n"
            "def hwm():\n"
            "    with open('/proc/self/status') as fh:\n"
            "        return next(int(l.split()[1]) for l in fh if l.startswith('VmHWM:'))\n"
            "from harness.rundir.reader import load_run\n"
            "before = hwm()\n"
            "run = load_run(sys.argv[1])\n"
            "print(hwm() - before, len(run.trials), '|'.join(r for _, r in run.skipped_lines))\n")
    done = subprocess.run([sys.executable, "-c", code, str(run)], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
                          text=True, timeout=120, check=True)
    added, count, reasons = done.stdout.split(" ", 2)
    return int(added), int(count), reasons.strip()


@pytest.mark.parametrize(("make", "reason"), [
    (nested, f"nested 100000 levels deep, deeper than the {MAX_DEPTH} a record may be"),
    (huge, f"a line of {HUGE_BYTES + 1} bytes, longer than the {MAX_LINE_BYTES} a trial "
           "record may be; not read"),
])
def test_a_hostile_line_is_skipped_with_a_warning_in_little_memory(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], make: object, reason: str) -> None:
    clean = load_run(EXAMPLE)
    run = make(_copy_example(tmp_path))  # type: ignore[operator]
    line = len(clean.trials) + 1
    added, count, reasons = peak_added_kib(run)
    assert (count, reasons) == (len(clean.trials), reason)
    assert added < PEAK_LIMIT_KIB, f"reading added {added // 1024} MiB to the peak"

    assert main(["stats", str(run)]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    assert captured.err.strip() == (f"asyncbench: warning: {run / 'trials.jsonl'}:{line}: "
                                    f"skipped ({reason})")
    assert main(["report", str(run)]) == 0
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err and "report: " in captured.out
    assert "unreadable lines skipped: 1." in (run / "report.md").read_text()


def test_a_deeply_nested_manifest_is_refused_in_one_line(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _copy_example(tmp_path)
    (run / "manifest.json").write_bytes(b'{"config": ' + b"[" * 100_000 + b"}")
    assert main(["stats", str(run)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"nests deeper than {MAX_DEPTH} levels" in err, err


def test_past_the_listed_skips_the_rest_are_counted_not_held(tmp_path: Path) -> None:
    run = _copy_example(tmp_path)
    with (run / "trials.jsonl").open("ab") as fh:
        fh.write(b"\n" * (MAX_SKIPPED_LISTED + 500))
    loaded = load_run(run)
    assert len(loaded.skipped_lines) == MAX_SKIPPED_LISTED
    assert loaded.skipped_total == MAX_SKIPPED_LISTED + 500
    assert loaded.skipped_lines[-1][1] == "blank line; and 500 more lines skipped after it, not listed"
