"""Handler CPU work flattens async's lead: a small crossover run on real servers.

One worker per stack, so the CPU work is serialised by one GIL on either side: at
cpu_ms = 0 the async stack serves C = 50 clients in about one delay while the sync
one needs C / threads delays; at cpu_ms = 20 both spend about C x 20 ms computing,
and the lead must shrink. Asserted on the intervals, with the instrument's limits
opened wide because the point here is the direction, not a publishable figure. Five rounds:
with three, a family-wise interval at 2 degrees of freedom is unbounded as soon as an arm's
trials vary by a fifth (as they can on a machine still busy from the tests before), and the
cell has none.
"""

from __future__ import annotations

from pathlib import Path

from harness.analyse.crossover import crossover_maps
from harness.analyse.summary import summarise
from harness.config.load import config_from_dict
from harness.measure.runner import SilentProgress, start_run
from harness.rundir.reader import load_run
from tests.procs import living_children

CONFIG = {
    "run": {"stacks": ["flask-gunicorn", "fastapi-uvicorn"], "rounds": 5, "delay_ms": 100,
            "warmup_requests": 2, "seed": 19, "quiet_wait_s": 0},
    "scenarios": {"clients": {"levels": [50]}},
    "stacks": {"flask-gunicorn": {"workers": 1, "threads": 8},
               "fastapi-uvicorn": {"workers": 1}},
    "sweep": {"param": "cpu_ms", "values": [0, 20]},
    # Other processes' CPU too (tests/behaviour.py): a trial judged invalid for the
    # machine's state would leave a cell without an interval.
    "limits": {"foreign_cpu_max": 64.0, "loadgen_wait_max": 1.0, "loadgen_cpu_max": 1.0,
               "upstream_loop_lag_max_ms": 5000.0, "upstream_overshoot_p99_max_ms": 500.0},
}


def test_cpu_work_shrinks_the_async_lead(tmp_path: Path) -> None:
    outcome = start_run(config_from_dict(CONFIG, "crossover-test.toml"), tmp_path,
                        SilentProgress())
    assert outcome.counts["failed"] == 0, outcome
    run = load_run(outcome.run_dir)
    assert run.manifest["cpu_work"]["iterations_per_ms"] >= 1
    assert {t["params"]["cpu_ms"] for t in run.trials} == {0, 20}
    summary = summarise(run)
    [m] = crossover_maps(summary, run.manifest["config"]["sweep"])
    idle, busy = m.cell(50, 0), m.cell(50, 20)
    assert idle is not None and busy is not None
    assert idle.low is not None and busy.high is not None, (
        summary["warnings"], [(t["stack"], t["status"], t.get("error")) for t in run.trials])
    assert idle.verdict == "faster"
    assert busy.high < idle.low, (idle, busy)
    assert living_children() == []
