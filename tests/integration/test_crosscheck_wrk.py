"""crosscheck against a real stack on 127.0.0.1: the harness's sustained loop and wrk on
the same running Quart, C = 10 connections of a 100 ms upstream call, so both should see
about C / delay = 100 requests a second (a busy machine only slows them down)."""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path

import pytest

from harness.cli.main import main

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None,
                                reason="wrk is not installed (Debian package 'wrk')")


def test_harness_and_wrk_measure_the_same_cell(tmp_path: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    config = tmp_path / "crosscheck.toml"
    config.write_text('[run]\nstacks = ["quart-hypercorn"]\nbaseline = "quart-hypercorn"\n'
                      'delay_ms = 100\nwarmup_requests = 5\n'
                      '[scenarios.clients]\nlevels = [10]\n')
    before = set(Path(tempfile.gettempdir()).glob("asyncbench-crosscheck-*"))
    code = main(["crosscheck", "quart-hypercorn", "--config", str(config), "--clients", "10",
                 "--duration-s", "3", "--warmup-s", "0.5", "--tolerance-pct", "1000",
                 "--repeat", "2", "--no-quiet-wait", "--json"])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    result = json.loads(captured.out)
    mine, theirs = result["harness"], result["wrk"]
    assert mine["errors"] is None and theirs["errors"] == 0
    for rps in (mine["rps"], theirs["rps"]):
        assert 50 <= rps <= 105, result  # C / delay = 100 req/s at most
    assert result["ratio"] == pytest.approx(mine["rps"] / theirs["rps"])
    # two pairs on the one server, the order alternating; each figure the median of two
    for measured in (mine, theirs):
        assert [run["pair"] for run in measured["runs"]] == [1, 2]
        assert measured["rps"] == pytest.approx(sum(r["rps"] for r in measured["runs"]) / 2)
    # each wrk run read from its own output: two 3 s runs never print the same rate to
    # the hundredth (one log read twice would)
    assert theirs["runs"][0]["rps"] != theirs["runs"][1]["rps"]
    assert [run["first"] for run in mine["runs"]] == [True, False]
    assert [run["first"] for run in theirs["runs"]] == [False, True]
    assert captured.err.count("connections for 3 s") == 4  # the progress, run by run
    assert result["within"] is True
    assert result["threads_per_worker"] is None and result["matched"] is None  # async
    assert theirs["threads"] == 1 and theirs["requests"] >= 300  # 2 x 3 s of it
    for run in mine["runs"]:  # Quart's 4 workers hold the 10 connections
        assert len(run["workers"]) == 4 and sum(run["workers"]) == 10
    # wrk first opens (and at once closes) one probe connection, which a worker may
    # still hold when the run's own connections arrive
    for run in theirs["runs"]:
        assert len(run["workers"]) == 4 and sum(run["workers"]) in (10, 11)
    assert 90 <= theirs["latency_ms"]["p50"] <= 400  # one 100 ms call per request
    assert set(Path(tempfile.gettempdir()).glob("asyncbench-crosscheck-*")) <= before  # removed
