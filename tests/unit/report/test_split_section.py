"""The "Server or paradigm?" section: shown with its four parts when the run measured the
stacks a split needs, absent otherwise."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from harness.analyse.summary import summarise
from harness.report.answer import answer_sentences
from harness.report.render import render_html, render_markdown
from harness.report.split import split_section
from harness.rundir.reader import Run

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "report"
FG, FR, QH, QR = "flask-gunicorn", "flask-granian", "quart-hypercorn", "quart-granian"
# concurrent clients at C = 200, durations (s): throughput ratios 10, 5, 2 and 1
ARMS = {FG: [1.0, 1.1, 1.2], FR: [0.5, 0.55, 0.6], QH: [0.10, 0.11, 0.12],
        QR: [0.105, 0.11, 0.115]}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


def split_summary() -> dict[str, Any]:
    trials = [{"trial_id": f"r{i}-{stack}", "round": i, "order": 0, "scenario": "clients",
               "stack": stack, "level": 200, "status": "ok", "resources": None,
               "metrics": {"duration_s": d, "throughput_rps": 200 / d}}
              for stack, xs in ARMS.items() for i, d in enumerate(xs, 1)]
    config = {"baseline": FG, "confidence": 0.95, "stacks": {k: {} for k in ARMS}}
    return summarise(Run(Path("r"), {"run_id": "r", "seed": 1, "config": config}, trials))


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    base = load("summary.json")
    made = split_summary()
    return {**base, "split": made["split"], "family": {**base.get("family", {}), **made["family"]}}


def test_the_section_is_absent_without_a_split() -> None:
    base = load("summary.json")
    assert split_section(base) is None
    text = render_markdown(base, load("manifest.json"), {})
    assert "Server or paradigm?" not in text
    assert "Server or paradigm?" not in render_html(base, load("manifest.json"), {})


def test_markdown_shows_every_part_with_its_interval(summary: dict[str, Any]) -> None:
    text = render_markdown(summary, load("manifest.json"), {})
    section = text.split("## Server or paradigm?", 1)[1].split("\n## ", 1)[0]
    assert "### C = 200 concurrent clients" in section
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    parts = {p["part"]: p for p in summary["split"][0]["parts"]}
    assert len(rows) == 1 + 4  # the header and the four parts
    for row, name, ratio in zip(rows[1:], ("headline", "paradigm", "sync_server",
                                           "async_server"), ("10.00x", "5.00x", "2.00x", "1.00x"),
                                strict=True):
        assert f"| {ratio} [{parts[name]['ci_low']:.2f}, {parts[name]['ci_high']:.2f}] |" in row
        assert f"| {parts[name]['stack']} | {parts[name]['compared_with']} |" in row
    assert "together the servers account for a factor of 2.00" in section
    assert "the 2 comparisons only this split makes" in section
    assert "plus the 2 comparisons only the server-or-paradigm split makes" in text


def test_html_shows_the_section_and_its_contents_entry(summary: dict[str, Any]) -> None:
    html = render_html(summary, load("manifest.json"), {})
    assert '<a href="#split">Server or paradigm?</a>' in html
    section = html.split('<section id="split">', 1)[1].split("</section>", 1)[0]
    assert section.count('data-part="') == 4
    assert 'data-part="paradigm"' in section and "5.00x" in section


def test_the_opening_says_the_paradigms_part_of_the_headline() -> None:
    views = [{"name": n, "kind": "production", "concurrency_slots": 8} for n in ARMS]
    sentences = answer_sentences(split_summary(), views)
    paradigm = next(p for p in split_summary()["split"][0]["parts"] if p["part"] == "paradigm")
    assert sentences[-1] == (
        f"On one server, quart-granian serves 5.00x [{paradigm['ci_low']:.2f}, "
        f"{paradigm['ci_high']:.2f}] the requests per second of flask-granian: that is the "
        "paradigm's part of quart-hypercorn's 10.00x; the rest is the servers' (see \"Server "
        "or paradigm?\").")
    without = {**split_summary(), "split": []}
    assert not any("On one server" in s for s in answer_sentences(without, views))
