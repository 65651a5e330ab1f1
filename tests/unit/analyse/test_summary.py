"""harness.analyse.summary on small synthetic run folders with realistic trial records."""

from __future__ import annotations

import json
import math
import random
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
from hdrh.histogram import HdrHistogram
from scipy import stats as sps

from harness.analyse import stats
from harness.analyse.summary import summarise
from harness.report.tables import format_ratio, render_tables
from harness.rundir.reader import RunDirError, load_run

BASE, ASYNC = "flask-gunicorn", "quart-hypercorn"
CONFIG: dict[str, Any] = {
    "baseline": BASE,
    "confidence": 0.95,
    "model_min_efficiency": 0.5,
    "delay_ms": 100,
    "stacks": {
        BASE: {
            "app": "servers.flask_app:app",
            "server": "gunicorn",
            "workers": 2,
            "threads": 4,
            "worker_class": "gthread",
            "fanout_mode": "sequential",
            "concurrency_slots": 8,
        },
        ASYNC: {
            "app": "servers.quart_app:app",
            "server": "hypercorn",
            "workers": 1,
            "threads": 1,
            "worker_class": "asyncio",
            "fanout_mode": "concurrent",
            "concurrency_slots": None,
        },
    },
}


def hdr_of(latencies_us: Sequence[int]) -> str:
    hist = HdrHistogram(1, 60_000_000, 3)
    for value in latencies_us:
        hist.record_value(value)
    encoded: bytes = hist.encode()
    return encoded.decode("ascii")


def record(
    trial_id: str,
    scenario: str,
    stack: str,
    level: int,
    metrics: dict[str, float],
    *,
    status: str = "ok",
    error: str | None = None,
    latencies_us: Sequence[int] = (100_000,),
    round_: int = 0,
) -> dict[str, Any]:
    """A trial line shaped like the records writer's output."""
    ms = sorted(v / 1000 for v in latencies_us)

    def pct(p: float) -> float:
        return ms[min(len(ms) - 1, math.ceil(p / 100 * len(ms)) - 1)]

    total = len(latencies_us)
    return {
        "schema_version": 1,
        "run_id": "run-1",
        "trial_id": trial_id,
        "round": round_,
        "order": 0,
        "scenario": scenario,
        "stack": stack,
        "level": level,
        "params": {"level": level, "delay_ms": 100},
        "status": status,
        "error": error,
        "requests": {
            "total": total,
            "ok": total if status == "ok" else 0,
            "connect": 0 if status == "ok" else total,
            "timeout": 0,
            "http_status": 0,
            "bad_body": 0,
        },
        "latency_ms": {
            "mean": sum(ms) / len(ms),
            "p50": pct(50),
            "p90": pct(90),
            "p99": pct(99),
            "p999": pct(99.9),
            "max": ms[-1],
        },
        "metrics": metrics,
        "hdr": hdr_of(latencies_us),
        "checks": {"loadgen_cpu": 0.1},
        "resources": {"cpu_s": 0.5, "peak_rss_mb": 50.0},
    }


def fanout(trial_id: str, stack: str, level: int, duration: float, **kw: Any) -> dict[str, Any]:
    metrics = {"duration_s": duration, "calls_per_s": level / duration}
    return record(trial_id, "fanout", stack, level, metrics, **kw)


def clients(trial_id: str, stack: str, level: int, rps: float, **kw: Any) -> dict[str, Any]:
    duration = level / rps
    metrics = {"duration_s": duration, "mean_response_s": duration / 2, "throughput_rps": rps}
    return record(trial_id, "clients", stack, level, metrics, **kw)


def rate(trial_id: str, stack: str, p99: float, lat: Sequence[int]) -> dict[str, Any]:
    metrics = {"achieved_rps": 200.0, "p50_ms": p99 / 2, "p99_ms": p99, "p999_ms": p99 * 1.1}
    return record(trial_id, "rate", stack, 200, metrics, latencies_us=lat)


def write_run(
    folder: Path,
    trials: Sequence[dict[str, Any]],
    *,
    config: dict[str, Any] | None = None,
    tail: str = "",
) -> Path:
    folder.mkdir(parents=True)
    manifest = {"run_id": "run-1", "seed": 1234, "config": config or CONFIG}
    (folder / "manifest.json").write_text(json.dumps(manifest, sort_keys=True))
    lines = "".join(json.dumps(t, sort_keys=True) + "\n" for t in trials)
    (folder / "trials.jsonl").write_text(lines + tail)
    return folder


def standard_trials() -> list[dict[str, Any]]:
    return [
        # fanout N=10: baseline 0.9/1.0/1.1 s, async exactly ten times faster per trial
        fanout("f1", BASE, 10, 0.9, round_=0),
        fanout("f2", BASE, 10, 1.0, round_=1),
        fanout("f3", BASE, 10, 1.1, round_=2),
        fanout("f4", ASYNC, 10, 0.09, round_=0),
        fanout("f5", ASYNC, 10, 0.10, round_=1),
        fanout("f6", ASYNC, 10, 0.11, round_=2),
        # fanout N=50: the async stack has a single ok trial
        fanout("f7", BASE, 50, 5.0),
        fanout("f8", BASE, 50, 5.2),
        fanout("f9", ASYNC, 50, 0.1),
        # clients C=100: async well below its model of 1000 req/s
        clients("c1", BASE, 100, 70.0),
        clients("c2", BASE, 100, 77.0),
        clients("c3", BASE, 100, 84.0),
        clients("c4", ASYNC, 100, 400.0),
        clients("c5", ASYNC, 100, 450.0),
        clients("c6", ASYNC, 100, 500.0),
        clients("x1", ASYNC, 100, 1.0, status="failed", error="server crashed"),
        clients("x2", ASYNC, 100, 1.0, status="failed", error="server crashed"),
        clients("x3", BASE, 100, 1.0, status="invalid", error="upstream overshoot"),
        # rate 200 req/s: latency histograms to pool
        rate("r1", BASE, 1.0, [1000] * 50),
        rate("r2", BASE, 3.0, [3000] * 50),
        rate("r3", ASYNC, 1.0, [1000] * 50),
        rate("r4", ASYNC, 1.1, [1100] * 50),
    ]


@pytest.fixture
def summary(tmp_path: Path) -> dict[str, Any]:
    return summarise(load_run(write_run(tmp_path / "run", standard_trials())))


def find(rows: list[dict[str, Any]], **where: Any) -> dict[str, Any]:
    matches = [r for r in rows if all(r[k] == v for k, v in where.items())]
    assert len(matches) == 1, (where, matches)
    return matches[0]


def test_top_level(summary: dict[str, Any]) -> None:
    assert summary["schema_version"] == 1
    assert summary["run_id"] == "run-1"
    assert summary["baseline"] == BASE
    assert summary["confidence"] == 0.95
    assert summary["counts"] == {"ok": 19, "failed": 2, "invalid": 1, "skipped_lines": 0}
    json.dumps(summary, allow_nan=False)  # plain JSON, no NaN or infinity


def test_failed_and_invalid_are_counted_not_sampled(summary: dict[str, Any]) -> None:
    assert summary["excluded"] == [
        {"status": "failed", "reason": "server crashed", "count": 2},
        {"status": "invalid", "reason": "upstream overshoot", "count": 1},
    ]
    cell = find(
        summary["cells"], scenario="clients", level=100, stack=ASYNC, metric="throughput_rps"
    )
    assert cell["n"] == 3 and cell["min"] == 400.0


def test_cells_describe_ok_trials(summary: dict[str, Any]) -> None:
    cell = find(summary["cells"], scenario="fanout", level=10, stack=BASE, metric="duration_s")
    # 0.9, 1.0, 1.1: mean 1.0, sd sqrt((0.01+0+0.01)/2) = 0.1
    assert cell["n"] == 3
    assert cell["mean"] == pytest.approx(1.0)
    assert cell["median"] == 1.0
    assert cell["sd"] == pytest.approx(0.1)
    assert (cell["min"], cell["max"]) == (0.9, 1.1)
    keys = [(c["scenario"], c["level"], c["stack"], c["metric"]) for c in summary["cells"]]
    assert keys[0][0] == "fanout" and keys[-1][0] == "rate"
    assert len(keys) == len(set(keys))


def test_fanout_speedup_by_hand(summary: dict[str, Any]) -> None:
    sp = find(summary["speedups"], scenario="fanout", level=10, stack=ASYNC, metric="duration_s")
    # ratio = mean(baseline)/mean(stack) = 1.0/0.1 = 10. Both arms are multiples of
    # 9,10,11 so Fieller reduces to num = den = 9,10,11 scaled by 10: R = 1, v = 1/3 each,
    # df = 4, bounds = 10 (100 -+ t4 sqrt(200/3 - t4^2/9)) / (100 - t4^2/3); a headline
    # of a family of 4 (fanout 10 and 50, clients 100, rate 200): t4 at 1 - 0.05/4/2.
    t4 = float(sps.t.ppf(1 - 0.05 / 4 / 2, 4))
    low, high = (10 * (100 + sign * t4 * math.sqrt(200 / 3 - t4**2 / 9)) / (100 - t4**2 / 3)
                 for sign in (-1, 1))
    assert sp["ratio"] == pytest.approx(10.0)
    assert (sp["ci_low"], sp["ci_high"]) == pytest.approx((low, high))
    assert (sp["family"], sp["adjustment"]) == ("headline", "bonferroni")
    assert sp["confidence"] == pytest.approx(0.9875)
    assert sp["p_adjusted"] == pytest.approx(4 * sp["p_value"])
    assert sp["method"] == "fieller"
    assert (sp["n_stack"], sp["n_baseline"]) == (3, 3)
    assert sp["verdict"] == "faster"
    assert sp["magnitude"] == "major speedup"
    assert sp["higher_is_better"] is False
    assert sp["headline"] is True
    assert sp["bootstrap"] is None
    assert sp["baseline"] == BASE
    assert 0 < sp["p_value"] < 0.001


def test_higher_is_better_orientation(summary: dict[str, Any]) -> None:
    sp = find(
        summary["speedups"], scenario="clients", level=100, stack=ASYNC, metric="throughput_rps"
    )
    # Item 6: throughput is C / duration, so its speedup is the rate of mean durations
    # (C / mean duration), never a mean of per-trial rates: the two rows agree.
    base_d, async_d = [100 / r for r in (70, 77, 84)], [100 / r for r in (400, 450, 500)]
    assert sp["ratio"] == pytest.approx(sum(base_d) / sum(async_d))
    assert sp["ratio"] != pytest.approx(450 / 77)  # the mean of rates would say this
    ci = stats.fieller_ratio_ci(base_d, async_d, 0.9875)
    assert (sp["ci_low"], sp["ci_high"]) == pytest.approx((ci.low, ci.high))
    assert sp["higher_is_better"] is True and sp["estimated_from"] == "duration_s"
    dur = find(summary["speedups"], scenario="clients", level=100, stack=ASYNC, metric="duration_s")
    assert dur["headline"] is False and dur["family"] == "headline"
    assert (dur["ratio"], dur["ci_low"], dur["ci_high"], dur["verdict"]) == (
        sp["ratio"], sp["ci_low"], sp["ci_high"], sp["verdict"])
    # Item 4: the arms lost different shares of their trials; said, not hidden.
    assert sp["attrition"] == (f"{ASYNC} failed or was invalid in 2 of 5 trials, "
                               f"{BASE} in 1 of 4")
    head = find(summary["headlines"], scenario="clients", level=100)
    assert sp["attrition"] in head["sentence"]


def test_insufficient_trials(summary: dict[str, Any]) -> None:
    sp = find(summary["speedups"], scenario="fanout", level=50, stack=ASYNC, metric="duration_s")
    assert sp["method"] == "insufficient-trials"
    assert sp["verdict"] == "insufficient data"
    assert (sp["ci_low"], sp["ci_high"], sp["magnitude"], sp["p_value"]) == (None,) * 4
    assert sp["ratio"] == pytest.approx(5.1 / 0.1)
    assert any("fanout N=50, quart-hypercorn: 1 ok trial(s)" in w for w in summary["warnings"])
    head = find(summary["headlines"], scenario="fanout", level=50)
    assert ("insufficient data (fewer than 2 ok trials in an arm; 1 vs 2 ok trials)"
            in head["sentence"])


def test_latency_means_and_pooled(summary: dict[str, Any]) -> None:
    row = find(summary["latency"], scenario="rate", level=200, stack=BASE)
    assert row["n"] == 2
    assert row["p50_mean"] == pytest.approx(2.0)  # (1.0 + 3.0) / 2
    assert row["p99_mean"] == pytest.approx(2.0)
    pooled = row["pooled"]
    assert pooled["p50"] == pytest.approx(1.0, rel=1e-3)  # half the requests at 1 ms
    assert pooled["p99"] == pytest.approx(3.0, rel=1e-3)
    assert pooled["max"] == pytest.approx(3.0, rel=1e-3)


def test_model_rows(summary: dict[str, Any]) -> None:
    base = find(summary["model"], scenario="fanout", level=10, stack=BASE, metric="duration_s")
    # sequential: 10 calls x 0.1 s = 1.0 s, measured mean 1.0 s
    assert base["expected"] == pytest.approx(1.0)
    assert base["efficiency"] == pytest.approx(1.0)
    assert base["flagged"] is False
    fast = find(summary["model"], scenario="fanout", level=10, stack=ASYNC, metric="calls_per_s")
    assert fast["expected"] == pytest.approx(100.0)  # 10 calls in one 0.1 s wave
    tput = find(
        summary["model"], scenario="clients", level=100, stack=ASYNC, metric="throughput_rps"
    )
    # unbounded slots: 100 / 0.1 = 1000 req/s expected, 450 measured -> 0.45 < 0.5
    assert tput["expected"] == pytest.approx(1000.0)
    assert tput["efficiency"] == pytest.approx(0.45)
    assert tput["flagged"] is True
    sync = find(
        summary["model"], scenario="clients", level=100, stack=BASE, metric="throughput_rps"
    )
    assert sync["expected"] == pytest.approx(100 / 1.3)  # 8 slots: 13 waves of 0.1 s
    assert not any(r["scenario"] == "rate" for r in summary["model"])


def test_headlines(summary: dict[str, Any]) -> None:
    assert [(h["scenario"], h["level"], h["metric"]) for h in summary["headlines"]] == [
        ("fanout", 10, "duration_s"),
        ("fanout", 50, "duration_s"),
        ("clients", 100, "throughput_rps"),
        ("rate", 200, "p99_ms"),
    ]
    head = summary["headlines"][0]
    assert head["sentence"] == (
        "fanout N=10: quart-hypercorn is faster than flask-gunicorn on total duration, "
        "10.00x [6.96, 14.36] (major speedup; 98.75% family-wise CI, fieller, "
        "3 vs 3 ok trials)."
    )
    rate_head = summary["headlines"][3]
    # two noisy trials a side at the family-wise level: Fieller's set is unbounded, and
    # no interval of another quantity stands in.
    assert rate_head["verdict"] == "undetermined"
    assert (rate_head["ci_low"], rate_head["ci_high"], rate_head["magnitude"]) == (None,) * 3
    assert "vs flask-gunicorn on p99 latency: undetermined (no bounded interval" in (
        rate_head["sentence"])


def test_skipped_lines_are_counted_and_warned(tmp_path: Path) -> None:
    trials = standard_trials()
    tail = json.dumps(fanout("f99", BASE, 10, 1.0), sort_keys=True)[:60]
    run = load_run(write_run(tmp_path / "run", trials, tail="garbage\n" + tail))
    summary = summarise(run)
    assert summary["counts"]["skipped_lines"] == 2
    n = len(trials)
    first, second = summary["warnings"][:2]
    assert first == f"trials.jsonl line {n + 1} skipped: invalid JSON at column 1: Expecting value"
    assert second.startswith(
        f"trials.jsonl line {n + 2} skipped: truncated last line (no newline at end of file): "
        "invalid JSON"
    )
    assert summary["counts"]["ok"] == 19  # the cut-off trial is not counted


def test_missing_baseline_is_warned(tmp_path: Path) -> None:
    trials = [t for t in standard_trials() if not (t["stack"] == BASE and t["level"] == 10)]
    summary = summarise(load_run(write_run(tmp_path / "run", trials)))
    assert any(
        "baseline 'flask-gunicorn' has no ok trials at fanout N=10" in w
        for w in summary["warnings"]
    )
    sp = find(summary["speedups"], scenario="fanout", level=10, stack=ASYNC, metric="duration_s")
    assert sp["verdict"] == "insufficient data" and sp["n_baseline"] == 0 and sp["ratio"] is None


def many_trials(seed: int) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    trials = standard_trials()
    for i in range(20):
        trials.append(fanout(f"b{i}", BASE, 5, rng.lognormvariate(math.log(0.5), 0.1), round_=i))
        trials.append(fanout(f"a{i}", ASYNC, 5, rng.lognormvariate(math.log(0.1), 0.1), round_=i))
    return trials


def test_same_folder_gives_identical_json(tmp_path: Path) -> None:
    folder = write_run(tmp_path / "run", many_trials(3))
    first = json.dumps(summarise(load_run(folder)), sort_keys=True)
    second = json.dumps(summarise(load_run(folder)), sort_keys=True)
    assert first == second
    summary = json.loads(first)
    sp = find(summary["speedups"], scenario="fanout", level=5, stack=ASYNC, metric="duration_s")
    assert sp["bootstrap"]["method"] == "bca-bootstrap"
    assert sp["bootstrap"]["ci_low"] < sp["ratio"] < sp["bootstrap"]["ci_high"]
    assert sp["method"] == "fieller"


def test_line_order_does_not_matter(tmp_path: Path) -> None:
    trials = many_trials(4)
    shuffled = trials[:]
    random.Random(0).shuffle(shuffled)
    a = summarise(load_run(write_run(tmp_path / "a", trials)))
    b = summarise(load_run(write_run(tmp_path / "b", shuffled)))
    assert json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)


def test_bad_config_is_a_run_dir_error(tmp_path: Path) -> None:
    config = {**CONFIG, "confidence": 95}
    with pytest.raises(RunDirError, match="confidence"):
        summarise(load_run(write_run(tmp_path / "run", standard_trials(), config=config)))


def test_defaults_when_config_is_sparse(tmp_path: Path) -> None:
    summary = summarise(load_run(write_run(tmp_path / "run", standard_trials(), config={"x": 1})))
    assert summary["baseline"] == "flask-gunicorn"
    assert summary["confidence"] == 0.95
    assert summary["model"] == []
    assert any("no model" in w for w in summary["warnings"])


def test_empty_run(tmp_path: Path) -> None:
    summary = summarise(load_run(write_run(tmp_path / "run", [])))
    assert summary["cells"] == [] and summary["speedups"] == [] and summary["headlines"] == []
    assert summary["warnings"] == ["no ok trials: nothing to summarise"]
    assert render_tables(summary) == "No speedups to tabulate.\n"


def test_format_ratio() -> None:
    assert format_ratio(4.6212, 4.4149, 4.8499) == "4.62x [4.41, 4.85]"
    assert format_ratio(2.0, None, None) == "2.00x (no CI)"
    assert format_ratio(None, None, None) == "n/a"
    assert format_ratio(0.0123, 0.01, 0.015) == "0.0123x [0.01, 0.015]"


def test_render_tables(summary: dict[str, Any]) -> None:
    text = render_tables(summary)
    block = text.split("\n\n")[0].splitlines()
    assert block[0] == "fanout N=10: quart-hypercorn vs flask-gunicorn"
    assert block[1].split(" | ") == ["Metric            ", BASE, ASYNC, "Improvement"]
    assert block[3].startswith("Total duration (s) | 1.0000")
    assert block[3].endswith("10.00x [6.96, 14.36]")
    assert block[4].startswith("Upstream calls/s")
    assert block[5].startswith("Verdict: fanout N=10: quart-hypercorn is faster")
    assert "Mean response time (s)" in text and "Throughput (req/s)" in text
    assert "p99 latency (ms)" in text


def test_a_workload_sweep_compares_each_variant_with_the_baseline_at_its_workload(
        tmp_path: Path) -> None:
    variants = {f"{stack}[cpu_ms={c}]": stack for stack in (BASE, ASYNC) for c in (0, 8)}
    sweep = {"param": "cpu_ms", "values": [0, 8], "stack": None, "second": None,
             "variant_of": variants,
             "variants": {name: {"cpu_ms": int(name[-2])} for name in variants},
             "baselines": {name: f"{BASE}[cpu_ms={name[-2]}]" for name in variants}}
    config = {**CONFIG, "baseline": f"{BASE}[cpu_ms=0]", "sweep": sweep}
    rps = {(BASE, "0"): 100.0, (ASYNC, "0"): 800.0, (BASE, "8"): 90.0, (ASYNC, "8"): 99.0}
    trials = [clients(f"c{i}-{name}", name, 50, rps[(base, name[-2])] * (1 + 0.01 * i),
                      round_=i)
              for name, base in variants.items() for i in range(3)]
    summary = summarise(load_run(write_run(tmp_path / "run", trials, config=config)))
    pairs = {(s["stack"], s["baseline"]): s["ratio"] for s in summary["speedups"]
             if s["metric"] == "throughput_rps"}
    assert pairs == {
        (f"{ASYNC}[cpu_ms=0]", f"{BASE}[cpu_ms=0]"): pytest.approx(8.0),
        (f"{ASYNC}[cpu_ms=8]", f"{BASE}[cpu_ms=8]"): pytest.approx(1.1),
    }
    # The table shows the arm each ratio was taken against, not the run's baseline.
    block = next(b for b in render_tables(summary).split("\n\n")
                 if b.startswith(f"clients C=50: {ASYNC}[cpu_ms=8]")).splitlines()
    assert block[0] == f"clients C=50: {ASYNC}[cpu_ms=8] vs {BASE}[cpu_ms=8]"
    assert block[1].split(" | ")[1].strip() == f"{BASE}[cpu_ms=8]"
    # A re-analysis against one chosen stack compares everything with it.
    chosen = summarise(load_run(tmp_path / "run"), baseline=f"{BASE}[cpu_ms=0]")
    assert {s["baseline"] for s in chosen["speedups"]} == {f"{BASE}[cpu_ms=0]"}


def test_the_configs_pairs_of_like_variants_choose_each_stacks_baseline(tmp_path: Path) -> None:
    """A run without a sweep whose config pairs ``NAME[settings]`` with the baseline's
    ``[settings]`` (``Config.resolved()["baselines"]``) compares like with like."""
    twin, mine = f"{BASE}[pool_size=50]", f"{ASYNC}[pool_size=50]"
    config = {**CONFIG, "baselines": {mine: twin}}
    rps = {BASE: 100.0, ASYNC: 150.0, twin: 400.0, mine: 500.0}
    trials = [clients(f"c{i}-{name}", name, 50, value * (1 + 0.01 * i), round_=i)
              for name, value in rps.items() for i in range(3)]
    summary = summarise(load_run(write_run(tmp_path / "run", trials, config=config)))
    pairs = {(s["stack"], s["baseline"]): s["ratio"] for s in summary["speedups"]
             if s["metric"] == "throughput_rps"}
    assert pairs == {(ASYNC, BASE): pytest.approx(1.5), (twin, BASE): pytest.approx(4.0),
                     (mine, twin): pytest.approx(1.25)}
