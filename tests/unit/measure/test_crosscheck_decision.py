"""crosscheck's decision, wrk's command line, and the CLI's one-line refusals (no stack is
started by any of these)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from harness.cli import crosschecking as command
from harness.cli.crosschecking import crosscheck_lines
from harness.cli.main import main
from harness.config.catalogue import BUILTIN_STACKS
from harness.config.schema import StackSpec
from harness.errors import LoadGeneratorError
from harness.measure.crosscheck import (
    Agreement,
    Crosscheck,
    busy_threads,
    find_wrk,
    matched,
    order,
    run_wrk,
    summary,
    threads_per_worker,
    wrk_command,
)


@pytest.mark.parametrize(("harness", "within"), [
    (110.0, True),     # 10% above wrk: still "at most the tolerance"
    (109.99, True),    # just inside, above
    (110.01, False),   # just outside, above
    (90.01, True),     # just inside, below
    (89.99, False),    # just outside, below
    (100.0, True),
])
def test_the_tolerance_decides_just_inside_and_just_outside(harness: float, within: bool) -> None:
    agreement = Agreement(harness, 100.0, 10.0)
    assert agreement.within is within
    assert agreement.ratio == pytest.approx(harness / 100)


def test_a_stated_tolerance_moves_the_limit() -> None:
    assert Agreement(104.9, 100.0, 5.0).within
    assert not Agreement(105.1, 100.0, 5.0).within
    assert Agreement(100.0, 100.0, 0.0).within


def test_no_wrk_rate_never_agrees() -> None:
    agreement = Agreement(50.0, 0.0, 10.0)
    assert agreement.ratio is None and not agreement.within


def test_wrk_keeps_c_connections_for_whole_seconds_with_the_harness_timeout() -> None:
    command = wrk_command("/usr/bin/wrk", "http://127.0.0.1:5/single", 200, 10, 1, 60.0)
    assert command == ["/usr/bin/wrk", "-t1", "-c200", "-d10s", "--timeout=60s", "--latency",
                       "http://127.0.0.1:5/single"]
    # never more threads than connections (wrk refuses that)
    assert wrk_command("wrk", "u", 2, 3, 4, 0.4)[1:5] == ["-t2", "-c2", "-d3s", "--timeout=1s"]


def test_a_missing_wrk_is_one_line() -> None:
    with pytest.raises(LoadGeneratorError) as caught:
        find_wrk("/nonexistent/wrk")
    assert str(caught.value) == ("crosscheck needs wrk and '/nonexistent/wrk' was not found "
                                 "(Debian: apt-get install wrk; or name it with --wrk PATH)")


def test_the_cli_refuses_a_missing_wrk_before_starting_anything(
        capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["crosscheck", "quart-hypercorn", "--clients", "5", "--wrk", "/nonexistent/wrk"])
    err = capsys.readouterr().err
    assert code == 2
    assert err.strip().count("\n") == 0 and "crosscheck needs wrk" in err


@pytest.mark.parametrize(("argv", "message"), [
    (["--clients", "5", "--duration-s", "2", "--warmup-s", "2"],
     "--warmup-s 2: must be below --duration-s (2)"),
    (["--clients", "0"], "argument --clients: '0' is not a positive integer"),
    ([], "the following arguments are required: --clients"),
])
def test_bad_arguments_are_one_line(argv: list[str], message: str,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["crosscheck", "quart-hypercorn", *argv])
    err = capsys.readouterr().err
    assert code == 2 and message in err and err.strip().count("\n") == 0


def test_the_result_reads_as_both_figures_and_their_ratio() -> None:
    result = Crosscheck("flask-gunicorn", 200, 10, 1.0, 100, "none",
                        {"rps": 79.6, "requests": 716, "latency_ms": {"p50": 2500.0,
                                                                       "p99": 2650.5},
                         "errors": None, "workers": [108, 57, 35, 0]},
                        {"rps": 80.1, "requests": 801, "errors": 0, "threads": 1,
                         "latency_ms": {"p50": 2490.0, "p99": 2700.0}, "workers": None},
                        Agreement(79.6, 80.1, 10.0))
    lines = crosscheck_lines(result)
    assert lines[1].startswith("harness (sustained, steady window 1-10 s): 79.6 req/s")
    assert lines[2].startswith("wrk (1 thread(s), whole run): 80.1 req/s, 801 requests")
    assert lines[3] == ("connections per worker at the peak: harness [108, 57, 35, 0], wrk "
                        "not seen")
    assert lines[4] == "harness / wrk = 0.994: within the ±10% tolerance"


def fake_result(harness_rps: float, wrk_rps: float, wrk_errors: int = 0,
                harness_errors: str | None = None) -> Crosscheck:
    return Crosscheck("quart-hypercorn", 50, 10, 1.0, 100, "none",
                      {"rps": harness_rps, "requests": 4000, "latency_ms": {},
                       "errors": harness_errors},
                      {"rps": wrk_rps, "requests": 5000, "errors": wrk_errors, "threads": 1,
                       "latency_ms": {}},
                      Agreement(harness_rps, wrk_rps, 10.0))


@pytest.mark.parametrize(("result", "code", "said"), [
    (fake_result(495.0, 500.0), 0, "within the ±10% tolerance"),
    (fake_result(440.0, 500.0), 1, "outside the ±10% tolerance"),
    (fake_result(500.0, 500.0, wrk_errors=3), 1, "requests failed, so the figures do not "
                                                 "compare (wrk: 3 errors)"),
    (fake_result(500.0, 500.0, harness_errors="2 of 9 requests failed"), 1,
     "(harness: 2 of 9 requests failed)"),
])
def test_the_exit_code_follows_the_decision(result: Crosscheck, code: int, said: str,
                                            monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setattr(command, "find_wrk", lambda path: "/usr/bin/wrk")
    monkeypatch.setattr(command, "crosscheck", lambda *args, **kwargs: result)
    assert main(["crosscheck", "quart-hypercorn", "--clients", "50"]) == code
    captured = capsys.readouterr()
    assert said in captured.out + captured.err


def test_pairs_alternate_which_instrument_meets_the_server_first() -> None:
    assert [order(pair) for pair in range(4)] == [("harness", "wrk"), ("wrk", "harness")] * 2


def run(rps: float, errors: object = None, workers: list[int] | None = None) -> dict[str, Any]:
    return {"rps": rps, "requests": 10, "errors": errors, "workers": workers,
            "latency_ms": {"p50": rps}}


def test_an_odd_count_takes_the_middle_run_and_keeps_every_run() -> None:
    runs = [run(30.0, workers=[50, 0]), run(60.0, workers=[30, 20]), run(45.0, workers=[40, 10])]
    summed = summary(runs)
    assert summed["rps"] == 45.0 and summed["workers"] == [40, 10]
    assert summed["latency_ms"] == {"p50": 45.0}  # the middle run's details
    assert summed["requests"] == 30 and summed["runs"] == runs and summed["errors"] is None


def test_an_even_count_takes_the_mean_of_the_middle_two() -> None:
    summed = summary([run(30.0), run(60.0), run(40.0), run(50.0)])
    assert summed["rps"] == 45.0
    assert summed["latency_ms"] == {"p50": 40.0}  # details from the lower median


def test_errors_add_up_for_wrk_and_the_first_is_named_for_the_harness() -> None:
    assert summary([run(1.0, errors=0), run(2.0, errors=3), run(3.0, errors=2)])["errors"] == 5
    assert summary([run(1.0, errors=0), run(2.0, errors=0)])["errors"] == 0
    assert summary([run(1.0), run(2.0, errors="2 of 9 requests failed"),
                    run(3.0, errors="1 of 9 requests failed")])["errors"] == \
        "2 of 9 requests failed"
    with pytest.raises(ValueError):
        summary([])


def test_several_pairs_read_as_medians_with_each_pair_in_its_order() -> None:
    harness_runs = [run(57.4, workers=[23, 14, 13, 0]), run(70.0, workers=[20, 20, 10, 0]),
                    run(60.0, workers=[25, 15, 10, 0])]
    wrk_runs = [{**run(19.2, errors=0, workers=[50, 0, 0, 0]), "threads": 1},
                {**run(66.9, errors=0, workers=[21, 17, 11, 1]), "threads": 1},
                {**run(58.0, errors=0, workers=None), "threads": 1}]
    mine, theirs = summary(harness_runs), summary(wrk_runs)
    lines = crosscheck_lines(Crosscheck("flask-gunicorn", 50, 10, 1.0, 100, "none", mine,
                                        theirs, Agreement(mine["rps"], theirs["rps"], 10.0)))
    assert "median of 3 runs: 60.0 req/s, 30 requests in the windows" in lines[1]
    assert "median of 3 runs: 58.0 req/s, 30 requests, 0 errors" in lines[2]
    assert lines[3:6] == [
        "pair 1 (harness first): harness 57.4 req/s [23, 14, 13, 0], wrk 19.2 req/s "
        "[50, 0, 0, 0]",
        "pair 2 (wrk first): harness 70.0 req/s [20, 20, 10, 0], wrk 66.9 req/s "
        "[21, 17, 11, 1]",
        "pair 3 (harness first): harness 60.0 req/s [25, 15, 10, 0], wrk 58.0 req/s not seen"]
    assert lines[6] == "harness / wrk = 1.034 (medians): within the ±10% tolerance"


def test_repeat_reaches_the_measurement_and_must_be_positive(
        monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    seen: dict[str, Any] = {}
    monkeypatch.setattr(command, "find_wrk", lambda path: "/usr/bin/wrk")
    monkeypatch.setattr(command, "crosscheck",
                        lambda *args, **kwargs: seen.update(kwargs) or fake_result(1.0, 1.0))
    assert main(["crosscheck", "quart-hypercorn", "--clients", "50", "--repeat", "3"]) == 0
    assert seen["repeat"] == 3
    assert main(["crosscheck", "quart-hypercorn", "--clients", "50", "--repeat", "0"]) == 2
    assert "argument --repeat: '0' is not a positive integer" in capsys.readouterr().err


def fake_wrk(tmp_path: Path, rps: float) -> list[str]:
    """A stand-in for wrk printing its summary with the given rate (a real child process)."""
    script = tmp_path / f"wrk-{rps:g}.sh"
    script.write_text("#!/bin/sh\ncat <<'END'\n  10 requests in 1.00s, 1.00KB read\n"
                      f"Requests/sec:   {rps}\nEND\n")
    script.chmod(0o755)
    return [str(script)]


def test_every_wrk_run_of_one_check_is_read_from_its_own_log(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    first = run_wrk(fake_wrk(tmp_path, 37.6), logs, 30.0, name="wrk-1")
    second = run_wrk(fake_wrk(tmp_path, 66.9), logs, 30.0, name="wrk-2")
    assert (first["rps"], second["rps"]) == (37.6, 66.9)
    assert sorted(p.name for p in logs.iterdir()) == ["wrk-1.log", "wrk-2.log"]


def test_busy_threads_is_each_workers_threads_or_connections_whichever_is_fewer() -> None:
    assert busy_threads([19, 18, 11, 2], 2) == 8
    assert busy_threads([29, 22, 0, 0], 2) == 4
    assert busy_threads([38, 12, 1, 0], 2) == 5  # a worker holding one keeps one busy
    assert busy_threads([50, 0, 0, 0], 2) == 2
    assert busy_threads(None, 2) is None and busy_threads([3, 4], None) is None


def busy(rps: float, count: int | None) -> dict[str, Any]:
    return {**run(rps), "busy_threads": count}


def test_matched_runs_compare_the_instruments_at_the_same_busy_threads() -> None:
    harness_runs = [busy(76.4, 8), busy(75.3, 8), busy(76.2, 8), busy(55.6, 6), busy(57.6, 6)]
    wrk_runs = [busy(76.0, 8), busy(35.8, 4), busy(38.1, 4), busy(36.7, 5), busy(19.0, 2)]
    same = matched(harness_runs, wrk_runs, 10.0)
    assert same == {"busy_threads": 8, "harness_rps": 76.2, "harness_runs": 3,
                    "wrk_rps": 76.0, "wrk_runs": 1, "ratio": pytest.approx(76.2 / 76.0),
                    "within": True}


def test_matched_takes_the_count_with_most_runs_then_the_higher_and_its_own_tolerance() -> None:
    # 6 busy: 2 + 1 runs; 8 busy: 1 + 1: the count with more runs wins
    same = matched([busy(50.0, 6), busy(70.0, 6), busy(80.0, 8)],
                   [busy(66.0, 6), busy(40.0, 8)], 10.0)
    assert same is not None and same["busy_threads"] == 6
    assert same["harness_rps"] == 60.0 and same["ratio"] == pytest.approx(60 / 66)
    assert same["within"] is True  # 60 against 66 is 9.1% below
    assert matched([busy(50.0, 6), busy(80.0, 8)], [busy(40.0, 6), busy(40.0, 8)],
                   10.0)["busy_threads"] == 8  # a tie: the higher count
    assert matched([busy(50.0, 6)], [busy(56.0, 6)], 10.0)["within"] is False  # 10.7%


def test_matched_is_none_for_an_async_stack_or_without_a_shared_count() -> None:
    assert matched([busy(400.0, None)], [busy(410.0, None)], 10.0) is None
    assert matched([busy(76.0, 8)], [busy(38.0, 4)], 10.0) is None


def test_a_sync_stack_reads_with_busy_threads_and_the_matched_runs() -> None:
    harness_runs = [busy(76.4, 8) | {"workers": [19, 18, 11, 2]},
                    busy(55.6, 6) | {"workers": [39, 8, 3, 0]}]
    wrk_runs = [busy(76.0, 8) | {"workers": [20, 12, 10, 8], "errors": 0, "threads": 1},
                busy(19.0, 2) | {"workers": [50, 0, 0, 0], "errors": 0, "threads": 1}]
    mine, theirs = summary(harness_runs), summary(wrk_runs)
    lines = crosscheck_lines(Crosscheck(
        "flask-gunicorn", 50, 10, 1.0, 100, "none", mine, theirs,
        Agreement(mine["rps"], theirs["rps"], 10.0), 2, matched(harness_runs, wrk_runs, 10.0)))
    assert lines[3] == ("pair 1 (harness first): harness 76.4 req/s [19, 18, 11, 2] (8 threads "
                        "busy), wrk 76.0 req/s [20, 12, 10, 8] (8 threads busy)")
    assert lines[5] == "harness / wrk = 1.389 (medians): outside the ±10% tolerance"
    assert lines[6] == ("runs with the same 8 threads busy (2 a worker): harness 76.4 req/s "
                        "(1 run(s)), wrk 76.0 req/s (1), harness / wrk = 1.005: within the "
                        "±10% tolerance (those threads' ceiling: 80.0 req/s)")


def test_threads_a_worker_for_sync_stacks_only() -> None:
    def spec(name: str, **changes: Any) -> StackSpec:
        return dataclasses.replace(StackSpec(name=name, **BUILTIN_STACKS[name]), **changes)

    assert threads_per_worker(spec("flask-gunicorn")) == 2  # gthread 4 x 2
    assert threads_per_worker(spec("flask-gunicorn", workers=2, threads=8)) == 8
    assert threads_per_worker(spec("flask-granian")) == 2
    assert threads_per_worker(spec("quart-hypercorn")) is None
    assert threads_per_worker(spec("fastapi-uvicorn")) is None
