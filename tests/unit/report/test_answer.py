"""The report's opening sentences and the fan-out section's causes, from summary entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.measure.manifest import typed_command
from harness.paths import PROJECT_ROOT
from harness.report.answer import answer_sentences, fanout_causes

STACKS = [
    {"name": "flask-gunicorn", "kind": "production", "concurrency_slots": 8,
     "fanout_mode": "sequential", "paradigm": "sync"},
    {"name": "flask-gunicorn-threadpool", "kind": "production", "concurrency_slots": 8,
     "fanout_mode": "concurrent", "paradigm": "sync"},
    {"name": "fastapi-uvicorn", "kind": "production", "concurrency_slots": 4000,
     "fanout_mode": "concurrent", "paradigm": "async"},
    {"name": "fastapi-dev", "kind": "dev", "concurrency_slots": 1000,
     "fanout_mode": "concurrent", "paradigm": "async"},
]


def sp(scenario: str, level: int, stack: str, metric: str, ratio: float,
       verdict: str) -> dict[str, Any]:
    return {"scenario": scenario, "level": level, "stack": stack, "metric": metric,
            "ratio": ratio, "ci_low": ratio * 0.9, "ci_high": ratio * 1.1, "verdict": verdict}


def summary(*speedups: dict[str, Any]) -> dict[str, Any]:
    return {"baseline": "flask-gunicorn", "speedups": list(speedups)}


def test_the_opening_leads_with_low_levels_and_clients_not_with_fanout() -> None:
    text = answer_sentences(summary(
        sp("fanout", 1, "fastapi-uvicorn", "duration_s", 1.0, "no significant difference"),
        sp("fanout", 50, "fastapi-uvicorn", "duration_s", 40.0, "faster"),
        sp("clients", 1, "fastapi-uvicorn", "throughput_rps", 1.01, "equivalent"),
        sp("clients", 100, "fastapi-uvicorn", "throughput_rps", 16.0, "faster"),
        sp("clients", 100, "fastapi-dev", "throughput_rps", 30.0, "faster"),
        sp("clients", 100, "fastapi-uvicorn", "cpu_ms_per_request", 1 / 0.55, "faster"),
        sp("clients", 100, "fastapi-uvicorn", "peak_rss_mb", 1 / 1.5, "slower"),
    ), STACKS)
    assert text == [
        "At one upstream call per request or one client there is no significant difference "
        "from flask-gunicorn.",
        "At C = 100 concurrent clients (flask-gunicorn serves 8 at a time), fastapi-uvicorn "
        "serves 16.00x [14.40, 17.60] the requests per second of flask-gunicorn.",
        "It uses 45% [39%, 50%] less CPU per request and 50% [36%, 67%] more memory "
        "(peak RSS).",
    ]
    assert not any("40.00x" in s for s in text)  # fan-out's gain by construction is not led with


def test_the_opening_says_so_when_no_stack_is_ahead() -> None:
    text = answer_sentences(summary(
        sp("clients", 1, "fastapi-uvicorn", "throughput_rps", 0.5, "slower"),
        sp("clients", 10, "fastapi-uvicorn", "throughput_rps", 1.1, "inconclusive"),
    ), STACKS)
    assert text[0].startswith("At one client, against flask-gunicorn: fastapi-uvicorn is slower")
    assert text[1] == ("At C = 10 concurrent clients (flask-gunicorn serves 8 at a time), no "
                       "stack serves significantly more requests per second than flask-gunicorn.")
    assert answer_sentences(summary(), STACKS) == []


def test_fanout_causes_separate_concurrent_calls_from_an_async_server() -> None:
    causes = fanout_causes(STACKS)
    assert [c["stacks"] for c in causes] == [["flask-gunicorn"], ["flask-gunicorn-threadpool"],
                                             ["fastapi-uvicorn"]]
    assert "thread pool" in causes[1]["words"] and "async server" in causes[2]["words"]


def test_the_recorded_command_is_runnable_from_the_project(tmp_path: Path) -> None:
    config = PROJECT_ROOT / "configs" / "quick.toml"
    command = typed_command(["run", "--config", str(config), "--rounds", "2",
                             f"--out={tmp_path}", "--stacks", "a,b"])
    assert command == (f"python -m harness run --config configs/quick.toml --rounds 2 "
                       f"--out={tmp_path} --stacks a,b")


def test_the_opening_names_only_comparisons_with_the_run_baseline() -> None:
    twin = {**sp("clients", 200, "quart-hypercorn@3.13", "throughput_rps", 30.0, "faster"),
            "baseline": "flask-gunicorn@3.13"}
    own = {**sp("clients", 200, "quart-hypercorn", "throughput_rps", 20.0, "faster"),
           "baseline": "flask-gunicorn"}
    views = [{"name": n, "kind": "production", "concurrency_slots": 8}
             for n in ("flask-gunicorn", "quart-hypercorn", "quart-hypercorn@3.13")]
    text = answer_sentences(summary(twin, own), views)
    assert text == ["At C = 200 concurrent clients (flask-gunicorn serves 8 at a time), "
                    "quart-hypercorn serves 20.00x [18.00, 22.00] the requests per second of "
                    "flask-gunicorn."]
