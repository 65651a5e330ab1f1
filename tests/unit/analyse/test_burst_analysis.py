"""The scatter of the clients cells and the words for how clients arrived, from records
shaped like the trial writer's, with hand-computed values."""

from __future__ import annotations

import statistics
from typing import Any

import pytest

from harness.analyse.arrival import arrival_words, common_words, pair_words, trial_arrival
from harness.analyse.bursts import (
    FOLLOWS_R,
    half_width_pct,
    scatter_rows,
    share_relation,
    share_sentence,
)
from harness.analyse.sentences import headline_sentence
from harness.config.arrival import Arrival, TrialArrival

GTHREAD = {"paradigm": "sync", "workers": 4, "concurrency_slots": 8}
QUART = {"paradigm": "async", "workers": 4, "concurrency_slots": 4000}
CONFIG = {"stacks": {"flask-gunicorn": GTHREAD, "quart-hypercorn": QUART}}
BURSTS = {"mode": "bursts", "bursts": 3, "gap_ms": 0, "connection": "keep-alive",
          "ramp_ms": 0}


def burst(duration: float, busiest: int | None, clients: int = 200) -> dict[str, Any]:
    return {"duration_s": duration, "throughput_rps": clients / duration, "ok": clients,
            "connections": None if busiest is None else clients,
            "busiest_worker": busiest, "workers": None}


def trial(round_: int, bursts: list[dict[str, Any]], stack: str = "flask-gunicorn",
          clients: int = 200, arrival: dict[str, Any] | None = None) -> dict[str, Any]:
    steady = [b["duration_s"] for b in bursts[1:] or bursts
              if isinstance(b.get("duration_s"), float)] or [1.0]
    duration = statistics.fmean(steady)
    return {"trial_id": f"r{round_:03d}-{stack}-clients-{clients}", "round": round_,
            "scenario": "clients", "stack": stack, "level": clients, "status": "ok",
            "params": {"clients": clients, "delay_ms": 100, "arrival": arrival or BURSTS},
            "metrics": {"duration_s": duration, "throughput_rps": clients / duration},
            "bursts": bursts}


def test_every_burst_is_a_point_and_the_first_stands_apart() -> None:
    trials = [trial(1, [burst(10.0, 200), burst(5.0, 100), burst(2.5, 50)]),
              trial(2, [burst(8.0, 160), burst(4.0, 80), burst(5.0, 100)])]
    [row] = scatter_rows({("clients", 200, "flask-gunicorn"): trials}, CONFIG)
    assert [p["duration_s"] for p in row["points"]] == [10.0, 5.0, 2.5, 8.0, 4.0, 5.0]
    assert [p["first"] for p in row["points"]] == [True, False, False] * 2
    assert row["mode"] == "bursts"
    assert row["arrival"] == "200 clients arriving at once, 3 back-to-back bursts, keep-alive"
    steady = row["steady"]
    assert steady["n"] == 4
    assert steady["mean_rps"] == pytest.approx(200 / statistics.fmean([5.0, 2.5, 4.0, 5.0]))
    assert (steady["min_rps"], steady["max_rps"]) == (40.0, 80.0)
    assert steady["cv_duration"] == pytest.approx(
        statistics.stdev([5.0, 2.5, 4.0, 5.0]) / statistics.fmean([5.0, 2.5, 4.0, 5.0]))
    assert row["first"]["n"] == 2 and row["first"]["mean_rps"] == pytest.approx(200 / 9.0)
    # the trials' steady means are 3.75 and 4.5 s: t(0.975, 1) = 12.706
    assert row["precision_pct"] == pytest.approx(
        100 * 12.7062 * statistics.stdev([3.75, 4.5]) / 2 ** 0.5 / 4.125, rel=1e-4)
    share = row["share"]
    assert (share["n"], share["min"], share["max"], share["of"]) == (4, 50, 100, 200)
    assert share["r"] == pytest.approx(1.0)  # burst time = share / 2 x 0.1 s exactly
    assert share["model_ratio"] == pytest.approx(1.0)
    assert share["slots_per_worker"] == 2 and share["delay_s"] == 0.1


def test_a_sustained_trial_is_one_point_with_its_window_share() -> None:
    sustained = {"mode": "sustained", "duration_s": 10.0, "warmup_s": 1.0}
    record = trial(1, [], stack="quart-hypercorn", clients=50, arrival=sustained)
    del record["bursts"]
    record["metrics"] = {"duration_s": 0.1, "throughput_rps": 500.0}
    record["window"] = {"start_s": 1.0, "end_s": 10.0, "requests": 4500,
                        "busiest_worker": 14, "connections": 50}
    [row] = scatter_rows({("clients", 50, "quart-hypercorn"): [record]}, CONFIG)
    assert row["mode"] == "sustained" and row["first"] is None
    assert row["points"] == [{"trial_id": record["trial_id"], "round": 1, "burst": None,
                              "first": False, "duration_s": 0.1, "throughput_rps": 500.0,
                              "busiest_worker": 14, "connections": 50}]
    assert row["arrival"] == ("50 keep-alive connections sending back to back for 10 s "
                              "(steady window from 1 s)")
    assert row["share"]["model_ratio"] is None  # an event loop has no thread model


def test_hostile_bursts_are_left_out_not_fatal() -> None:
    record = trial(1, [burst(2.0, 40), {"duration_s": "slow"}, {"duration_s": 0,
                                                                "throughput_rps": 1}])
    [row] = scatter_rows({("clients", 200, "flask-gunicorn"): [record]}, CONFIG)
    assert len(row["points"]) == 1
    record["bursts"] = "many"
    [row] = scatter_rows({("clients", 200, "flask-gunicorn"): [record]}, CONFIG)
    assert row["points"][0]["burst"] is None  # read from the trial's own metrics


def test_r_needs_three_points_that_vary() -> None:
    points = [{"busiest_worker": b, "duration_s": d, "first": False}
              for b, d in ((50, 2.5), (100, 5.0))]
    assert share_relation(points, 200, 2, 0.1)["r"] is None  # type: ignore[index]
    same = [{"busiest_worker": 50, "duration_s": d, "first": False} for d in (1, 2, 3)]
    assert share_relation(same, 200, 2, 0.1)["r"] is None  # type: ignore[index]
    assert share_relation([{"busiest_worker": None, "duration_s": 1.0}], 200, 2, 0.1) is None


def test_half_width_of_the_mean() -> None:
    assert half_width_pct([1.0]) is None
    assert half_width_pct([0.0, 0.0]) is None
    assert half_width_pct([9.0, 11.0]) == pytest.approx(100 * 12.7062 * 2 ** 0.5 / 2 ** 0.5
                                                         / 10, rel=1e-4)


def share_row(r: float | None) -> dict[str, Any]:
    return {"stack": "flask-gunicorn", "level": 200,
            "share": {"n": 12, "of": 200, "min": 57, "max": 200, "r": r,
                      "slots_per_worker": 2, "delay_s": 0.1, "model_ratio": 1.08}}


@pytest.mark.parametrize(("r", "words"), [
    (FOLLOWS_R, "burst time follows that share (r = 0.50)"),
    (FOLLOWS_R - 0.001, "burst time does not follow that share (r = 0.50)"),
    (0.93, "burst time follows that share (r = 0.93), at 1.08x the model ceil(share / 2) x "
           "delay (median)."),
])
def test_the_share_sentence_says_follows_from_the_threshold_up(r: float, words: str) -> None:
    sentence = share_sentence(share_row(r))
    assert sentence is not None and words in sentence
    assert sentence.startswith("flask-gunicorn at C = 200: the busiest worker held 57 to 200 "
                               "of 200 connections over 12 bursts")


def test_without_a_share_there_is_no_sentence_and_too_few_bursts_say_so() -> None:
    assert share_sentence({"stack": "x", "level": 1, "share": None}) is None
    assert "(too few, or too alike, to relate to burst time)." in (
        share_sentence(share_row(None)) or "")


@pytest.mark.parametrize(("arrival", "bursts", "clients", "words"), [
    (Arrival(), 3, 200, "200 clients arriving at once, 3 back-to-back bursts, keep-alive"),
    (Arrival(gap_ms=650, connection="close"), 6, 200,
     "200 clients arriving at once, 6 bursts 650 ms apart, Connection: close"),
    (Arrival(ramp_ms=500), 1, 1, "1 client arriving over 500 ms, one burst per trial, "
                                 "keep-alive"),
    (Arrival(mode="sustained", duration_s=20, warmup_s=2.5), 1, 50,
     "50 keep-alive connections sending back to back for 20 s (steady window from 2.5 s)"),
    (Arrival(), 3, None, "C clients arriving at once, 3 back-to-back bursts, keep-alive"),
])
def test_arrival_words(arrival: Arrival, bursts: int, clients: int | None, words: str) -> None:
    assert arrival_words(TrialArrival(arrival, bursts), clients) == words


def test_a_cell_has_words_only_when_its_trials_arrived_alike() -> None:
    a = trial(1, [burst(1.0, 10)])
    b = trial(2, [burst(1.0, 10)], arrival={**BURSTS, "gap_ms": 650})
    assert common_words([a]) == "200 clients arriving at once, 3 back-to-back bursts, keep-alive"
    assert common_words([a, b]) is None
    assert common_words([{**a, "params": {"arrival": "x"}}]) is None
    assert trial_arrival("not a table") is None
    old = {**a, "params": {"clients": 200, "bursts": 3}}  # before arrivals were stated
    assert common_words([old]) == common_words([a])
    assert pair_words("A", "flask", "A") == "A"
    assert pair_words("A", "flask", None) == "A; flask: arrival not recorded"


def test_the_headline_sentence_names_the_arrival() -> None:
    entry = {"scenario": "clients", "level": 200, "stack": "quart-hypercorn",
             "baseline": "flask-gunicorn", "metric": "throughput_rps", "ratio": 24.68,
             "ci_low": 20.6, "ci_high": 29.2, "verdict": "faster", "magnitude": "none",
             "verdict_why": None, "attrition": None, "n_stack": 10, "n_baseline": 10,
             "method": "fieller", "confidence": 0.95,
             "arrival": "200 clients arriving at once, 3 back-to-back bursts, keep-alive"}
    sentence = headline_sentence(entry, 0.95)
    assert sentence.startswith("clients C=200 (200 clients arriving at once, 3 back-to-back "
                               "bursts, keep-alive): quart-hypercorn is faster than "
                               "flask-gunicorn on throughput, 24.68x [20.60, 29.20]")
    entry["arrival"] = None
    assert headline_sentence(entry, 0.95).startswith("clients C=200: quart-hypercorn")
