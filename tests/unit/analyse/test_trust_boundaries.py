"""Thresholds that decide a verdict, each just inside and just outside: survivorship in the
middle (a note, not a withheld verdict), the comparison gate's degenerate and both-lost
cases, the model's rounding of waves, and the crossover boundary of a row never faster."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.analyse import family, model
from harness.analyse.cells import Attrition
from harness.analyse.compare import FAIL, PASS, MetricComparison, compare_runs, config_differences
from harness.analyse.crossover import CrossoverMap, MapCell
from harness.analyse.summary import summarise
from harness.rundir.reader import Run

BASE, ASYNC = "flask-gunicorn", "quart-hypercorn"
BASELINE_1S = [1.00, 1.01, 0.99, 1.02, 0.98, 1.00, 1.01, 0.99, 1.00, 1.00, 1.00]
FAST = [0.30, 0.31, 0.29, 0.30, 0.32, 0.30, 0.31, 0.29]


def trial(stack: str, i: int, duration: float, status: str = "ok") -> dict[str, Any]:
    return {"trial_id": f"r{i:03d}-{stack}-fanout-10", "round": i, "order": 0,
            "scenario": "fanout", "stack": stack, "level": 10, "status": status,
            "metrics": {"duration_s": duration, "calls_per_s": 10 / duration}}


def run(arms: dict[str, list[float]], lost: dict[str, int] | None = None,
        run_id: str = "run") -> Run:
    trials = [trial(stack, i, d) for stack, xs in arms.items() for i, d in enumerate(xs, 1)]
    trials += [trial(stack, 100 + i, 120.0, "failed")
               for stack, n in (lost or {}).items() for i in range(n)]
    config = {"baseline": BASE, "confidence": 0.95, "delay_ms": 100,
              "stacks": {BASE: {}, ASYNC: {}}}
    manifest = {"run_id": run_id, "seed": 3, "config": config, "compat_id": "c",
                "machine_id": "m"}
    return Run(path=Path(run_id), manifest=manifest, trials=trials)


def duration_entry(summary: dict[str, Any]) -> dict[str, Any]:
    return next(sp for sp in summary["speedups"]
                if sp["stack"] == ASYNC and sp["metric"] == "duration_s")


# --- survivorship ---------------------------------------------------------------------

def test_three_of_eleven_lost_against_none_keeps_the_verdict_and_says_so() -> None:
    # Fisher's exact p for 3/11 against 0/11 is 0.214: far from 0.05, yet below 0.95.
    summary = summarise(run({BASE: BASELINE_1S, ASYNC: FAST}, lost={ASYNC: 3}))
    sp = duration_entry(summary)
    note = f"{ASYNC} failed or was invalid in 3 of 11 trials, {BASE} in 0 of 11"
    assert sp["attrition"] == note
    assert sp["verdict"] == "faster"
    assert "survivorship" not in (sp["verdict_why"] or "")
    assert note in summary["headlines"][0]["sentence"]


@pytest.mark.parametrize(("confidence", "withheld"), [(0.80, False), (0.78, True)])
def test_the_survivorship_test_is_judged_at_one_minus_confidence(confidence: float,
                                                                  withheld: bool) -> None:
    # p = 0.2143: withheld at alpha 0.22, kept at alpha 0.20.
    note, withhold = family.attrition_note("s", Attrition(3, 11), "b", Attrition(0, 11),
                                           confidence)
    assert note == "s failed or was invalid in 3 of 11 trials, b in 0 of 11"
    assert withhold is withheld


def test_equal_shares_lost_say_nothing_whatever_the_totals() -> None:
    assert family.attrition_note("s", Attrition(2, 10), "b", Attrition(1, 5), 0.95) == (None, False)
    assert family.attrition_note("s", Attrition(0, 10), "b", Attrition(0, 0), 0.95) == (None, False)
    assert family.attrition_note("s", Attrition(0, 0), "b", Attrition(1, 4), 0.95) == (None, False)
    note, _ = family.attrition_note("s", Attrition(2, 10), "b", Attrition(1, 4), 0.95)
    assert note == "s failed or was invalid in 2 of 10 trials, b in 1 of 4"


# --- the comparison gate --------------------------------------------------------------

def degenerate(ratio: float) -> MetricComparison:
    """B against A with no spread in either run: no interval, only the point estimate."""
    return MetricComparison(
        scenario="fanout", level=10, stack=ASYNC, metric="duration_s",
        higher_is_better=False, headline=True, n_a=3, n_b=3, mean_a=1.0, mean_b=1.0 / ratio,
        ratio=ratio, ci_low=None, ci_high=None, method="none", p_value=None,
        verdict="degenerate", verdict_why="no spread observed", status="degenerate")


def test_a_degenerate_regression_beyond_the_threshold_fails() -> None:
    outcome, reason = degenerate(0.5).judge(10)
    assert outcome == FAIL
    assert reason == "slower by 100.0% (no spread observed), more than 10%"
    # Just inside and just outside the threshold: 2x slower is 100% worse.
    assert degenerate(0.5).judge(100)[0] == PASS
    assert degenerate(0.5).judge(99.9)[0] == FAIL
    assert degenerate(0.96).judge(10) == (PASS, "degenerate (no spread observed), within threshold")


def test_a_degenerate_twice_as_slow_run_fails_the_gate_end_to_end() -> None:
    a = run({BASE: [1.0] * 3, ASYNC: [0.5] * 3}, run_id="a")
    b = run({BASE: [1.0] * 3, ASYNC: [1.0] * 3}, run_id="b")
    [row] = [g for g in compare_runs(a, b).gate(10)
             if g.stack == ASYNC and g.metric == "duration_s"]
    assert row.outcome == FAIL and "no spread observed" in row.reason


def lost_gate(a: Run, b: Run) -> tuple[MetricComparison, str]:
    comparison = compare_runs(a, b)
    row = next(r for r in comparison.rows if r.stack == ASYNC and r.metric == "duration_s")
    gate = next(g for g in comparison.gate(10) if g.stack == ASYNC and g.metric == "duration_s")
    return row, gate.outcome


def test_when_both_runs_lost_trials_only_a_larger_share_in_b_fails() -> None:
    # A lost 10 of 12 (83%), B 10 of 30 (33%): significant, but A lost more.
    a = run({BASE: BASELINE_1S, ASYNC: FAST[:2]}, lost={ASYNC: 10}, run_id="a")
    b = run({BASE: BASELINE_1S, ASYNC: (FAST * 3)[:20]}, lost={ASYNC: 10}, run_id="b")
    row, outcome = lost_gate(a, b)
    assert (row.lost_a, row.total_a, row.lost_b, row.total_b) == (10, 12, 10, 30)
    assert row.b_lost_more is False and outcome == PASS
    # The other way round B lost the larger share: the gate fails.
    row, outcome = lost_gate(b, a)
    assert (row.lost_a, row.total_a, row.lost_b, row.total_b) == (10, 30, 10, 12)
    assert row.b_lost_more is True and outcome == FAIL


# --- the model's waves ------------------------------------------------------------------

def test_waves_are_rounded_up() -> None:
    assert model.expected_fanout_duration_s(51, 0.1, "concurrent", pool=10) == pytest.approx(0.6)
    assert model.expected_fanout_duration_s(50, 0.1, "concurrent", pool=10) == pytest.approx(0.5)
    assert model.expected_fanout_duration_s(49, 0.1, "concurrent", pool=10) == pytest.approx(0.5)
    # A pool as large as the fan-out, or larger, waits one delay.
    assert model.expected_fanout_duration_s(10, 0.1, "concurrent", pool=10) == pytest.approx(0.1)
    assert model.expected_fanout_duration_s(10, 0.1, "concurrent", pool=11) == pytest.approx(0.1)
    assert model.expected_fanout_duration_s(11, 0.1, "concurrent", pool=10) == pytest.approx(0.2)
    # An empty pool is taken as one connection: one call after another.
    assert model.expected_fanout_duration_s(3, 0.1, "concurrent", pool=0) == pytest.approx(0.3)
    assert model.expected_clients_duration_s(17, 0.1, 8) == pytest.approx(0.3)
    assert model.expected_clients_duration_s(16, 0.1, 8) == pytest.approx(0.2)
    assert model.expected_clients_duration_s(1, 0.1, 8) == pytest.approx(0.1)


# --- the crossover boundary ---------------------------------------------------------------

def crossover(verdicts: list[str]) -> CrossoverMap:
    values = tuple(float(v) for v in range(len(verdicts)))
    cells = tuple(MapCell(10, v, 1.0, 0.9, 1.1, word) for v, word in zip(values, verdicts, strict=True))
    return CrossoverMap("fanout", ASYNC, BASE, "cpu_ms", (), (10,), values, cells)


@pytest.mark.parametrize(("verdicts", "boundary"), [
    (["slower", "slower", "slower"], None),                # never faster: no boundary
    (["equivalent", "inconclusive", "slower"], None),
    (["faster", "faster", "faster"], None),                # stays faster
    (["faster", "equivalent", "slower"], 1.0),
    (["faster", "faster", "slower"], 2.0),
    (["slower", "faster", "inconclusive"], 2.0),           # from the first faster value on
])
def test_the_boundary_is_where_a_faster_row_stops_being_faster(verdicts: list[str],
                                                               boundary: float | None) -> None:
    assert crossover(verdicts).boundary(10) == boundary
    assert crossover(verdicts).boundary(99) is None  # a level never measured


# --- the comparison's settings and rows -----------------------------------------------------

def with_config(base: Run, **config: Any) -> Run:
    manifest = {**base.manifest, "config": {**base.manifest["config"], **config}}
    return Run(path=base.path, manifest=manifest, trials=base.trials)


@pytest.mark.parametrize(("value", "used"), [
    (0.9, 0.9), (0.5, 0.5), (0.999, 0.999),
    (1.0, 0.95), (0, 0.95), (-0.5, 0.95), (True, 0.95), ("0.9", 0.95), (None, 0.95)])
def test_the_comparison_reads_run_as_confidence_or_falls_back(value: Any, used: float) -> None:
    a = with_config(run({BASE: BASELINE_1S, ASYNC: FAST}, run_id="a"), confidence=value)
    assert compare_runs(a, run({BASE: BASELINE_1S, ASYNC: FAST}, run_id="b")).confidence == used


def test_the_equivalence_band_comes_from_run_a() -> None:
    # B 3% slower with a tight spread: equivalent within 5% (the default), not within 1%.
    slower = [x * 1.03 for x in BASELINE_1S]
    a = run({BASE: BASELINE_1S, ASYNC: BASELINE_1S}, run_id="a")
    b = run({BASE: BASELINE_1S, ASYNC: slower}, run_id="b")

    def verdict(first: Run) -> str:
        comparison = compare_runs(first, b)
        return next(r.verdict for r in comparison.rows
                    if r.stack == ASYNC and r.metric == "duration_s")

    assert verdict(a) == "equivalent"
    assert verdict(with_config(a, equivalence_pct=1)) == "slower"
    # 30% slower: outside 5%, inside 50%; a band of 100% is out of range, so 5% is used.
    b = run({BASE: BASELINE_1S, ASYNC: [x * 1.3 for x in BASELINE_1S]}, run_id="b")
    assert verdict(with_config(a, equivalence_pct=50)) == "equivalent"
    assert verdict(with_config(a, equivalence_pct=100)) == "slower"


def test_a_cell_only_in_b_has_no_mean_in_a_and_rates_share_the_durations_test() -> None:
    a = run({BASE: BASELINE_1S}, run_id="a")
    b = run({BASE: BASELINE_1S, ASYNC: FAST}, run_id="b")
    comparison = compare_runs(a, b)
    row = next(r for r in comparison.rows if r.stack == ASYNC and r.metric == "duration_s")
    assert (row.n_a, row.mean_a, row.n_b) == (0, None, len(FAST))
    assert row.mean_b == pytest.approx(sum(FAST) / len(FAST))
    slower = run({BASE: BASELINE_1S, ASYNC: [x * 1.1 for x in FAST]}, run_id="c")
    rows = {r.metric: r for r in compare_runs(b, slower).rows if r.stack == ASYNC}
    assert rows["duration_s"].p_value is not None and rows["duration_s"].p_value < 0.05
    assert rows["calls_per_s"].p_value == rows["duration_s"].p_value
    assert (rows["calls_per_s"].ci_low, rows["calls_per_s"].ci_high) == (
        rows["duration_s"].ci_low, rows["duration_s"].ci_high)
    assert rows["calls_per_s"].method == rows["duration_s"].method == "fieller"


def clients_trial(stack: str, i: int, rps: float, level: int = 20) -> dict[str, Any]:
    return {"trial_id": f"r{i:03d}-{stack}-clients-{level}", "round": i, "order": 1,
            "scenario": "clients", "stack": stack, "level": level, "status": "ok",
            "metrics": {"duration_s": level / rps, "throughput_rps": rps}}


def test_rows_come_in_the_usual_scenario_order_and_bad_values_are_warned_about() -> None:
    base = run({BASE: BASELINE_1S[:3], ASYNC: FAST[:3]}, run_id="a")
    extra = [clients_trial(s, i, r) for s in (BASE, ASYNC) for i, r in enumerate((40.0, 41.0, 39.0))]
    bad = {**trial(ASYNC, 50, 0.3), "metrics": {"duration_s": -1.0, "calls_per_s": 10}}
    a = Run(path=base.path, manifest=base.manifest, trials=[*extra, *base.trials, bad])
    b = Run(path=base.path, manifest={**base.manifest, "run_id": "b"},
            trials=[*base.trials, *extra, {**bad, "trial_id": "b-bad"}])
    comparison = compare_runs(a, b)
    # fanout before clients (the usual order), though clients sorts first by name
    assert [r.scenario for r in comparison.rows][:1] == ["fanout"]
    assert [r.scenario for r in comparison.rows][-1] == "clients"
    assert comparison.headline_tests == 4  # two stacks at fanout N=10 and clients C=20
    assert [w for w in comparison.warnings if "left out" in w] == [
        f"trial {bad['trial_id']}: metric duration_s = -1.0 is not a positive number; left out",
        "trial b-bad: metric duration_s = -1.0 is not a positive number; left out"]


def test_cells_in_one_run_only_are_listed_in_the_usual_order() -> None:
    both = {BASE: BASELINE_1S[:3]}
    a = run(both, run_id="a")
    extra_b = [clients_trial(ASYNC, i, 40.0 + i) for i in range(3)]
    fan_b = [trial(ASYNC, i, 0.3) for i in range(3)]
    b0 = run(both, run_id="b")
    b = Run(path=b0.path, manifest=b0.manifest, trials=[*b0.trials, *extra_b, *fan_b])
    comparison = compare_runs(a, b)
    assert comparison.only_in_b == [f"fanout N=10, {ASYNC}", f"clients C=20, {ASYNC}"]
    assert compare_runs(b, a).only_in_a == [f"fanout N=10, {ASYNC}", f"clients C=20, {ASYNC}"]
    assert comparison.only_in_a == []


def test_config_differences_leave_out_whole_ignored_tables_and_say_what_is_absent() -> None:
    a = {"seed": {"x": 1}, "delay_ms": 50, "cpu_ms": 0, "stacks": {"s": {"workers": 2}}}
    b = {"seed": {"x": 2}, "delay_ms": 60, "stacks": {"s": {"workers": 2, "threads": None}}}
    assert config_differences(a, b) == ["cpu_ms: 0 -> (absent)", "delay_ms: 50 -> 60",
                                        "stacks.s.threads: (absent) -> None"]
    assert config_differences(b, a) == ["cpu_ms: (absent) -> 0", "delay_ms: 60 -> 50",
                                        "stacks.s.threads: None -> (absent)"]
    warnings = compare_runs(with_config(run({BASE: BASELINE_1S}, run_id="a"), delay_ms=50, cpu_ms=1),
                            run({BASE: BASELINE_1S}, run_id="b")).warnings
    assert warnings[0] == ("configs differ in more than seed/rounds: cpu_ms: 1 -> (absent); "
                           "delay_ms: 50 -> 100")


def test_an_unknown_metric_is_left_out_without_hiding_the_others() -> None:
    base = run({BASE: BASELINE_1S[:3], ASYNC: FAST[:3]}, run_id="a")
    trials = [{**t, "metrics": {**t["metrics"], "aaa_custom": 1.0}} for t in base.trials]
    odd = Run(path=base.path, manifest=base.manifest, trials=trials)
    comparison = compare_runs(odd, odd)
    assert {r.metric for r in comparison.rows} == {"duration_s", "calls_per_s"}
    assert "metric 'aaa_custom' has no known orientation: not compared" in comparison.warnings


def test_an_ignored_table_is_left_out_at_any_depth() -> None:
    assert config_differences({"seed": {"a": {"b": 1}}}, {"seed": {"a": {"b": 2}}}) == []


def test_survivorship_reads_both_arms_lost_and_kept_trials() -> None:
    # 6 of 11 lost against 1 of 11: Fisher's p = 0.064, kept at 0.95 (the baseline's
    # kept trials are 10, not 12).
    note, withhold = family.attrition_note("s", Attrition(6, 11), "b", Attrition(1, 11), 0.95)
    assert note == "s failed or was invalid in 6 of 11 trials, b in 1 of 11"
    assert withhold is False
    # A cell of one trial is a cell like any other.
    assert family.attrition_note("s", Attrition(1, 1), "b", Attrition(0, 5), 0.95)[0] == (
        "s failed or was invalid in 1 of 1 trials, b in 0 of 5")
    assert family.attrition_note("s", Attrition(0, 5), "b", Attrition(1, 1), 0.95)[0] == (
        "s failed or was invalid in 0 of 5 trials, b in 1 of 1")
