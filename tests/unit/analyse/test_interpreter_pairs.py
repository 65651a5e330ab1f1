"""Interpreters in the summary: like with like under each interpreter, and each stack under
another interpreter against itself under the default one, on hand-computed values."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.analyse.interpreters import interpreter_pairs
from harness.analyse.summary import summarise
from harness.report.render import render_html, render_markdown
from harness.rundir.reader import Run

FG, QH = "flask-gunicorn", "quart-hypercorn"
# concurrent clients at C = 200, durations (s)
ARMS = {FG: [2.0, 2.2, 2.4], QH: [0.20, 0.21, 0.22],
        f"{FG}@3.13": [1.0, 1.1, 1.2], f"{QH}@3.13": [0.20, 0.21, 0.22]}
CONFIG: dict[str, Any] = {
    "baseline": FG, "confidence": 0.95, "delay_ms": 100, "pythons": ["3.11", "3.13"],
    "stacks": {name: {"python": "3.13" if "@" in name else "3.11"} for name in ARMS},
    "stack_order": list(ARMS), "baselines": {f"{QH}@3.13": f"{FG}@3.13"}}
MANIFEST: dict[str, Any] = {
    "run_id": "py", "seed": 2, "config": CONFIG, "target": "local",
    "environment": {"python": "3.11.7"},
    "pythons": {"3.11": {"version": "3.11.7", "implementation": "CPython", "build": "main",
                         "free_threaded": False, "gil_disabled": False, "environment": None},
                "3.13": {"version": "3.13.0", "implementation": "CPython", "build": "main",
                         "free_threaded": False, "gil_disabled": False,
                         "environment": ".pythons/3.13"}},
    "pythons_note": "no free-threaded build (3.13t, 3.14t, 3.15t) is named in [run] pythons "
                    "or found on PATH, by uv or pyenv: every interpreter runs with its GIL"}


def summary() -> dict[str, Any]:
    trials = [{"trial_id": f"r{i}-{stack}", "round": i, "order": 0, "scenario": "clients",
               "stack": stack, "level": 200, "status": "ok", "resources": None,
               "python": "3.13.0" if "@" in stack else "3.11.7",
               "metrics": {"duration_s": d, "throughput_rps": 200 / d}}
              for stack, xs in ARMS.items() for i, d in enumerate(xs, 1)]
    return summarise(Run(Path("py"), MANIFEST, trials))


def entry(result: dict[str, Any], stack: str) -> dict[str, Any]:
    return next(sp for sp in result["speedups"]
                if sp["stack"] == stack and sp["metric"] == "throughput_rps")


def test_like_with_like_under_each_interpreter() -> None:
    result = summary()
    assert entry(result, QH)["baseline"] == FG
    assert entry(result, QH)["ratio"] == pytest.approx(2.2 / 0.21)
    assert entry(result, f"{QH}@3.13")["baseline"] == f"{FG}@3.13"
    assert entry(result, f"{QH}@3.13")["ratio"] == pytest.approx(1.1 / 0.21)
    # the baseline's own variant against the baseline under the default interpreter
    assert entry(result, f"{FG}@3.13")["baseline"] == FG
    assert entry(result, f"{FG}@3.13")["ratio"] == pytest.approx(2.2 / 1.1)


def test_each_stack_against_itself_under_the_default_interpreter() -> None:
    result = summary()
    rows = {r["stack"]: r for r in result["interpreters"]}
    assert set(rows) == {f"{FG}@3.13", f"{QH}@3.13"}
    assert (rows[f"{FG}@3.13"]["compared_with"], rows[f"{FG}@3.13"]["python"]) == (FG, "3.13")
    assert rows[f"{FG}@3.13"]["ratio"] == pytest.approx(2.0)
    assert rows[f"{QH}@3.13"]["ratio"] == pytest.approx(1.0)
    # three speedups, plus quart's interpreter pair (flask's is a speedup already)
    assert result["family"]["interpreter_tests"] == 1
    assert result["family"]["headline_tests"] == 4
    assert rows[f"{QH}@3.13"]["confidence"] == pytest.approx(1 - 0.05 / 4)


def test_pairs_need_the_stack_under_the_default_interpreter() -> None:
    cells = [("clients", 200, f"{QH}@3.13"), ("clients", 200, FG), ("fanout", 5, f"{FG}@3.12"),
             ("fanout", 5, FG), ("check", 1, f"{FG}@3.12"), ("check", 1, FG)]
    assert interpreter_pairs(cells) == [("fanout", 5, f"{FG}@3.12", FG)]


def test_the_report_shows_the_interpreters_and_each_against_the_default() -> None:
    result = summary()
    text = render_markdown(result, MANIFEST, {})
    section = text.split("## Interpreters", 1)[1].split("\n## ", 1)[0]
    assert "| 3.11 (default) | 3.11.7 | CPython main | on | the harness's own |" in section
    assert "| 3.13 | 3.13.0 | CPython main | on | .pythons/3.13 |" in section
    assert "every interpreter runs with its GIL." in section
    assert "### C = 200 concurrent clients" in section
    assert f"| {FG} | 3.13 | " in section and "| 2.00x [" in section
    html = render_html(result, MANIFEST, {})
    assert '<a href="#interpreters">Interpreters</a>' in html
    part = html.split('<section id="interpreters">', 1)[1].split("</section>", 1)[0]
    assert part.count('data-stack="quart-hypercorn@3.13"') == 1
    assert "Interpreters" not in render_markdown(
        result, {**MANIFEST, "config": {k: v for k, v in CONFIG.items() if k != "pythons"}}, {})
