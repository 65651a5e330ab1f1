"""Verdicts that cannot mislead: the small data sets of each case, through the summary,
the report's figures and the comparison gate."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest

from harness.analyse import family, stats
from harness.analyse.compare import compare_runs, to_json
from harness.analyse.summary import summarise
from harness.cli.main import main
from harness.report.figures import make_figures
from harness.report.render import render_html, render_markdown
from harness.report.tables import render_tables
from harness.rundir.reader import Run

BASE, ASYNC, FAST = "flask-gunicorn", "quart-hypercorn", "fastapi-uvicorn"
CONFIG: dict[str, Any] = {"baseline": BASE, "confidence": 0.95, "delay_ms": 100,
                          "stacks": {BASE: {}, ASYNC: {}, FAST: {}}}


def trial(stack: str, i: int, duration: float, *, status: str = "ok", level: int = 10,
          resources: dict[str, float] | None = None) -> dict[str, Any]:
    return {"trial_id": f"r{i:03d}-{stack}-fanout-{level}", "round": i, "order": 0,
            "scenario": "fanout", "stack": stack, "level": level, "status": status,
            "metrics": {"duration_s": duration, "calls_per_s": level / duration},
            "resources": resources}


def run_of(arms: dict[str, Sequence[float]], extra: Sequence[dict[str, Any]] = (),
           run_id: str = "run-1", **config: Any) -> Run:
    trials = [trial(stack, i, d) for stack, xs in arms.items() for i, d in enumerate(xs, 1)]
    manifest = {"run_id": run_id, "seed": 3, "config": {**CONFIG, **config},
                "compat_id": "c", "machine_id": "m"}
    return Run(path=Path(run_id), manifest=manifest, trials=[*trials, *extra])


def entry(summary: dict[str, Any], stack: str, metric: str = "duration_s") -> dict[str, Any]:
    return next(sp for sp in summary["speedups"] if sp["stack"] == stack
                and sp["metric"] == metric)


BASELINE_1S = [1.00, 1.01, 0.99, 1.02, 0.98, 1.00, 1.01, 0.99, 1.00, 1.00]
STALLED = [0.30] * 4 + [0.31, 0.29, 0.30, 0.30, 0.31] + [8.0]  # mean 1.072 s


def test_an_unbounded_interval_gives_undetermined_never_a_contradiction() -> None:
    # Item 1: the stack's mean (1.07 s) is worse than the baseline's, so the ratio of
    # means is below 1; Fieller's set is unbounded. No geometric-mean interval may stand
    # in beside it ("faster ... 0.93x [1.14, 5.01]" before).
    summary = summarise(run_of({BASE: BASELINE_1S, FAST: STALLED}))
    sp = entry(summary, FAST)
    assert sp["ratio"] == pytest.approx(sum(BASELINE_1S) / sum(STALLED))
    assert sp["ratio"] < 1
    assert (sp["ci_low"], sp["ci_high"], sp["p_value"]) == (None, None, None)
    assert sp["verdict"] == "undetermined" and "no bounded interval" in sp["verdict_why"]
    assert sp["method"] == "fieller (unbounded)" and sp["magnitude"] is None
    head = summary["headlines"][0]
    assert "faster" not in head["sentence"] and "undetermined" in head["sentence"]
    # The figure draws the point without a bar instead of crashing on a negative one.
    svgs = make_figures(summary, {"config": CONFIG})
    assert "fanout_speedup" in svgs
    # The stopping rule sees no interval and keeps measuring.
    assert summary["precision"]["widest"] is None


def test_every_point_estimate_lies_inside_its_interval() -> None:
    summary = summarise(run_of({BASE: BASELINE_1S, FAST: [0.3, 0.31, 0.29, 0.33, 0.3],
                                ASYNC: STALLED}))
    for sp in summary["speedups"]:
        if sp["ci_low"] is not None:
            assert sp["ci_low"] <= sp["ratio"] <= sp["ci_high"]


def test_the_p_value_is_the_intervals_own_test() -> None:
    # Item 2: with a single comparison (family of 1) p < 0.05 exactly when the interval
    # excludes 1; the test is Welch's t on the difference of the means.
    base = [1.00, 1.10, 0.95, 1.05, 1.02]
    for stack_arm in ([0.90, 0.97, 0.93, 1.00, 0.92], [0.95, 1.12, 0.90, 1.04, 0.99],
                      [0.80, 0.99, 0.90, 1.03, 0.88]):
        sp = entry(summarise(run_of({BASE: base, FAST: stack_arm})), FAST)
        assert sp["confidence"] == pytest.approx(0.95)
        excluded = not sp["ci_low"] <= 1.0 <= sp["ci_high"]
        assert (sp["p_value"] < 0.05) == excluded
        assert sp["p_value"] == pytest.approx(stats.fieller_test(base, stack_arm))


def test_no_spread_is_degenerate_not_certain() -> None:
    # Item 3: three identical values per arm said "4.00x [4.00, 4.00], faster, p = 0.0".
    summary = summarise(run_of({BASE: [2.0, 2.0, 2.0], FAST: [0.5, 0.5, 0.5]}))
    sp = entry(summary, FAST)
    assert sp["ratio"] == pytest.approx(4.0)
    assert (sp["verdict"], sp["verdict_why"]) == ("degenerate", "no spread observed")
    assert (sp["ci_low"], sp["ci_high"], sp["p_value"], sp["magnitude"]) == (None,) * 4
    assert "degenerate (no spread observed" in summary["headlines"][0]["sentence"]


def test_survivorship_withholds_the_verdict() -> None:
    # Item 4: quart-hypercorn times out in 5 of 11 trials; its 6 good ones look fast.
    failed = [trial(ASYNC, 20 + i, 120.0, status="failed") for i in range(5)]
    run = run_of({BASE: [*BASELINE_1S, 1.0], ASYNC: [0.30, 0.31, 0.29, 0.30, 0.32, 0.30]},
                 extra=failed)
    summary = summarise(run)
    sp = entry(summary, ASYNC)
    note = f"{ASYNC} failed or was invalid in 5 of 11 trials, {BASE} in 0 of 11"
    assert sp["attrition"] == note
    assert sp["verdict"] == "undetermined" and sp["verdict_why"] == f"survivorship: {note}"
    assert sp["ci_low"] is not None  # the interval is still shown, the verdict withheld
    assert note in summary["headlines"][0]["sentence"]
    assert note in render_tables(summary)
    # One lost trial of 11 is said, not held against the verdict.
    mild = summarise(run_of({BASE: [*BASELINE_1S, 1.0], ASYNC: [0.3, 0.31, 0.29] * 3 + [0.3]},
                            extra=failed[:1]))
    sp = entry(mild, ASYNC)
    assert sp["verdict"] == "faster" and "1 of 11" in sp["attrition"]


def test_the_headline_family_is_declared_and_controlled() -> None:
    # Item 5: two stacks at two levels -> 4 headline tests (duration at fanout); calls/s
    # shares the durations' test; resources are exploratory.
    trials = []
    for level in (1, 10):
        for stack, scale in ((BASE, 1.0), (ASYNC, 0.5), (FAST, 0.45)):
            for i, noise in enumerate((0.98, 1.0, 1.03), 1):
                trials.append(trial(stack, i, scale * level * 0.1 * noise, level=level,
                                    resources={"cpu_ms_per_request": 2.0 * noise / scale,
                                               "peak_rss_mb": 40.0 * noise}))
    run = Run(Path("fam"), {"run_id": "fam", "seed": 1, "config": CONFIG}, trials)
    summary = summarise(run)
    assert summary["family"] == {"headline_tests": 4, "split_tests": 0, "interpreter_tests": 0,
                                 "exploratory_tests": 8,
                                 "adjustment": "bonferroni", "familywise_confidence": 0.95,
                                 "equivalence_pct": 5.0}
    for sp in summary["speedups"]:
        if sp["metric"] in ("duration_s", "calls_per_s"):
            assert sp["family"] == "headline" and sp["adjustment"] == "bonferroni"
            assert sp["confidence"] == pytest.approx(1 - 0.05 / 4)
            assert sp["p_adjusted"] == pytest.approx(min(1.0, 4 * sp["p_value"]))
        else:
            assert sp["family"] == "exploratory" and sp["adjustment"] is None
            assert sp["confidence"] == 0.95
        assert sp["verdict"] in family.verdicts.VOCABULARY
    # Item 8: resources use their own words.
    cpu = entry(summary, ASYNC, "cpu_ms_per_request")
    assert cpu["verdict"] == "uses more CPU per request"  # 4 ms vs 2 ms per request
    assert cpu["magnitude"] == "moderate to large increase"  # ratio 0.5: its interval spans both
    words = {sp["verdict"] for sp in summary["speedups"] if sp["metric"] == "cpu_ms_per_request"}
    assert not words & {"faster", "slower"}


def test_equivalent_and_inconclusive() -> None:
    # Item 7: twelve trials a side within 1% of each other are "equivalent within 5%";
    # three noisy ones straddling 1 are "inconclusive", without a number of trials to
    # promise (too few to estimate from); ten noisy ones give that estimate.
    base = [1.00, 1.01, 0.99, 1.00, 1.02, 0.98] * 2
    same = [1.00, 0.99, 1.01, 1.00, 1.01, 0.99] * 2
    sp = entry(summarise(run_of({BASE: base, FAST: same})), FAST)
    assert (sp["verdict"], sp["verdict_why"]) == ("equivalent", "within 5%")
    wide = entry(summarise(run_of({BASE: [1.0, 1.2, 0.8], FAST: [0.9, 1.15, 1.0]})), FAST)
    assert wide["verdict"] == "inconclusive" and wide["trials_needed"] is None
    assert wide["verdict_why"] == "need more trials (too few, 3 in an arm, to estimate how many)"
    noisy = entry(summarise(run_of({BASE: [1.0, 1.2, 0.8, 1.1, 0.9] * 2,
                                    FAST: [0.9, 1.15, 1.0, 1.05, 0.95] * 2})), FAST)
    assert noisy["verdict"] == "inconclusive" and 10 < noisy["trials_needed"] <= 100
    assert noisy["verdict_why"] == f"need more trials: about {noisy['trials_needed']} per arm"
    tight = entry(summarise(run_of({BASE: base, FAST: same}, equivalence_pct=0.1)), FAST)
    assert tight["verdict"] == "inconclusive"


# --- item 9: the regression gate ------------------------------------------------------------

A_ARMS = {BASE: [1.0, 1.02, 0.98, 1.01], ASYNC: [0.30, 0.31, 0.29, 0.30]}


def gate_of(a: Run, b: Run, pct: float, allow_missing: bool = False) -> dict[tuple[str, str], Any]:
    return {(g.stack, g.metric): g for g in compare_runs(a, b).gate(pct, allow_missing)}


def test_the_gate_fails_on_a_lost_cell_unless_allowed() -> None:
    a = run_of(A_ARMS, run_id="a")
    lost = [trial(ASYNC, i, 120.0, status="failed") for i in range(1, 5)]
    b = run_of({BASE: A_ARMS[BASE]}, extra=lost, run_id="b")
    gate = gate_of(a, b, 10)
    assert gate[(ASYNC, "duration_s")].outcome == "fail"
    assert gate[(ASYNC, "duration_s")].reason == "missing in B (4 of 4 trials not ok)"
    assert gate_of(a, b, 10, allow_missing=True)[(ASYNC, "duration_s")].outcome == "pass"
    assert gate[(BASE, "duration_s")].outcome == "pass"


def test_the_gate_fails_on_a_single_trial() -> None:
    a = run_of(A_ARMS, run_id="a")
    b = run_of({BASE: A_ARMS[BASE], ASYNC: [0.30]}, run_id="b")
    row = gate_of(a, b, 10)[(ASYNC, "duration_s")]
    assert row.outcome == "fail" and row.reason == "insufficient data (4 vs 1 ok trials)"


def test_the_gate_compares_resources() -> None:
    cheap = {"cpu_ms_per_request": 2.0, "peak_rss_mb": 40.0}
    a = Run(Path("a"), {"run_id": "a", "seed": 1, "config": CONFIG},
            [trial(BASE, i, d, resources={k: v * (1 + i / 100) for k, v in cheap.items()})
             for i, d in enumerate(A_ARMS[BASE], 1)])
    b = Run(Path("b"), {"run_id": "b", "seed": 1, "config": CONFIG},
            [trial(BASE, i, d, resources={k: 10 * v * (1 + i / 100) for k, v in cheap.items()})
             for i, d in enumerate(A_ARMS[BASE], 1)])
    gate = gate_of(a, b, 10)
    assert gate[(BASE, "cpu_ms_per_request")].outcome == "fail"
    assert gate[(BASE, "cpu_ms_per_request")].reason == (
        "uses more CPU per request by 900.0%, more than 10%")
    assert gate[(BASE, "peak_rss_mb")].reason == "uses more memory by 900.0%, more than 10%"
    assert gate[(BASE, "duration_s")].outcome == "pass"
    assert gate_of(a, b, 901)[(BASE, "cpu_ms_per_request")].outcome == "pass"


def test_the_threshold_reads_on_the_worse_direction(tmp_path: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    a = run_of(A_ARMS, run_id="a")
    b = run_of({k: [2 * x for x in v] for k, v in A_ARMS.items()}, run_id="b")
    gate = gate_of(a, b, 99)
    assert gate[(ASYNC, "duration_s")].reason == "slower by 100.0%, more than 99%"
    assert gate[(ASYNC, "calls_per_s")].reason == "slower by 100.0%, more than 99%"
    assert gate_of(a, b, 101)[(ASYNC, "duration_s")].outcome == "pass"
    for run in (a, b):
        folder = tmp_path / str(run.manifest["run_id"])
        folder.mkdir()
        (folder / "manifest.json").write_text(json.dumps(run.manifest))
        (folder / "trials.jsonl").write_text("".join(
            json.dumps({"schema_version": 1, "run_id": run.manifest["run_id"], **t}) + "\n"
            for t in run.trials))
    args = ["compare", str(tmp_path / "a"), str(tmp_path / "b"), "--json"]
    assert main([*args, "--fail-on-regression", "150"]) == 0
    capsys.readouterr()
    assert main([*args, "--fail-on-regression", "50"]) == 1
    data = json.loads(capsys.readouterr().out)
    assert data["threshold"] == "slower by more than 50%"
    assert len(data["gate"]) == len(data["rows"]) == 4
    assert all(g["reason"] for g in data["gate"])
    assert data == json.loads(json.dumps(to_json(compare_runs(a, b), 50.0)))


def test_the_report_states_the_family_and_renders_an_undetermined_row() -> None:
    # Item 1 crashed `report` (and the end of `run`) in the figures; item 5 wants the
    # number of comparisons and the family-wise control in the methodology.
    fixtures = Path(__file__).resolve().parents[2] / "fixtures" / "report"
    manifest = json.loads((fixtures / "manifest.json").read_text(encoding="utf-8"))
    summary = summarise(run_of({BASE: BASELINE_1S, FAST: STALLED,
                                ASYNC: [0.30, 0.31, 0.29, 0.30, 0.32, 0.30, 0.3, 0.31, 0.3, 0.3]}))
    svgs = make_figures(summary, manifest)
    md = render_markdown(summary, manifest, {n: f"figures/{n}.svg" for n in svgs})
    # Two stacks against the baseline at one level: 2 headline tests (duration, with
    # calls/s sharing them), 4 comparisons.
    assert ("4 comparisons in all. The headline family (2 tests: one per scenario, level "
            "and stack") in md
    assert "is held at 95% family-wise by Bonferroni: each headline interval is a 97.5%" in md
    assert "closed vocabulary: faster, slower, equivalent, inconclusive, undetermined" in md
    assert "| undetermined: no bounded interval for the ratio of means" in md
    assert "| Fieller unbounded: no interval |" in md
    assert "Fieller, 97.5% (headline, family-wise)" in md
    html = render_html(summary, manifest, svgs)
    assert "4 comparisons in all" in html and "undetermined" in html


def test_an_undetermined_row_fails_the_gate_only_beyond_the_threshold() -> None:
    a = run_of({BASE: BASELINE_1S, FAST: BASELINE_1S}, run_id="a")
    # B's stack stalls once: no bounded interval, a point estimate 7% worse.
    b = run_of({BASE: BASELINE_1S, FAST: STALLED}, run_id="b")
    row = gate_of(a, b, 10)[(FAST, "duration_s")]
    assert row.outcome == "pass" and row.reason.startswith("undetermined (no bounded")
    # Three stalls: 2.4x worse on the point estimate, still no bounded interval.
    worse = run_of({BASE: BASELINE_1S, FAST: [0.3] * 7 + [8.0, 8.0, 8.0]}, run_id="b")
    row = gate_of(a, worse, 10)[(FAST, "duration_s")]
    assert row.outcome == "fail" and row.reason.startswith("undetermined")
    assert "slower by 161.0%, more than 10%" in row.reason
    assert gate_of(a, worse, 10, allow_missing=True)[(FAST, "duration_s")].outcome == "pass"
    # A run against itself never fails, whatever its noise.
    assert compare_runs(b, b).regressions(0) == []


def test_the_gate_fails_when_b_loses_more_trials() -> None:
    fast = [0.30, 0.31, 0.29, 0.30, 0.32, 0.30, 0.31, 0.29, 0.30, 0.30]
    a = run_of({BASE: BASELINE_1S, ASYNC: fast}, run_id="a")
    lost = [trial(ASYNC, 20 + i, 120.0, status="failed") for i in range(8)]
    b = run_of({BASE: BASELINE_1S, ASYNC: fast}, extra=lost, run_id="b")
    row = gate_of(a, b, 10)[(ASYNC, "duration_s")]
    assert row.outcome == "fail"
    assert row.reason == ("B lost more trials: survivorship: B failed or was invalid in 8 of 18 "
                          "trials, A in 0 of 10")
    # Not a hole --allow-missing can open: losing trials is a regression in itself.
    assert gate_of(a, b, 10, allow_missing=True)[(ASYNC, "duration_s")].outcome == "fail"
    # A losing more trials than B is no regression of B's.
    assert gate_of(b, a, 10, allow_missing=True)[(ASYNC, "duration_s")].outcome == "pass"


def test_family_membership_follows_the_headlines_data() -> None:
    # Item 6: rows estimated from the headline's own durations share its test.
    assert family.family_of("clients", "throughput_rps") == "headline"
    assert family.family_of("clients", "duration_s") == "headline"
    assert family.family_of("fanout", "calls_per_s") == "headline"
    assert family.family_of("clients", "mean_response_s") == "exploratory"
    assert family.family_of("rate", "p50_ms") == "exploratory"
    assert family.family_of("rate", "p99_ms") == "headline"
    assert family.basis_in("throughput_rps", {"duration_s", "throughput_rps"}) == "duration_s"
    assert family.basis_in("throughput_rps", {"throughput_rps"}) == "throughput_rps"
    keys = [("fanout", 1, ASYNC, "duration_s"), ("fanout", 1, ASYNC, "calls_per_s"),
            ("fanout", 1, FAST, "duration_s"), ("clients", 5, FAST, "duration_s")]
    assert family.family_size(keys) == 2 and family.family_size([]) == 0
