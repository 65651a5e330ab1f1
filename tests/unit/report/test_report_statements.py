"""What the report says about its own numbers, on the shipped example run: the interval
statement is true of every interval printed, no size word contradicts the estimate beside
it, no inconclusive verdict promises trials it cannot, and the summary table opens the
headline findings with one cell per level and stack."""

from __future__ import annotations

import re
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from harness.analyse import verdicts
from harness.analyse.summary import summarise
from harness.report import render
from harness.report.figures import make_figures
from harness.report.overview import verdict_tone
from harness.rundir.reader import load_run

EXAMPLE = Path(__file__).resolve().parents[3] / "results" / "example"
STATEMENT = re.compile(
    r"Each headline interval is a ([\d.]+)% confidence interval, so that the (\d+) headline "
    r"intervals hold together with ([\d.]+)% confidence \(family-wise, Bonferroni\); every "
    r"other interval is a ([\d.]+)% interval on its own\.")
RATIO = re.compile(r"(\d+\.\d+)x \\?\[(\d+\.\d+), (\d+\.\d+)\\?\]")
SIZES = ("small", "moderate", "large", "major")
SIZE_WORDS = re.compile(
    r"\b(small|moderate|large|major)(?: to (small|moderate|large|major))? "
    r"(speedup|slowdown|saving|increase)\b")


@pytest.fixture(scope="module")
def example() -> tuple[dict[str, Any], dict[str, Any]]:
    run = load_run(EXAMPLE)
    return summarise(run), run.manifest


@pytest.fixture(scope="module")
def svgs(example: tuple[dict[str, Any], dict[str, Any]]) -> dict[str, str]:
    return make_figures(*example)


@pytest.fixture(scope="module")
def markdown(example: tuple[dict[str, Any], dict[str, Any]], svgs: dict[str, str]) -> str:
    return render.render_markdown(*example, {name: f"figures/{name}.svg" for name in svgs})


@pytest.fixture(scope="module")
def html(example: tuple[dict[str, Any], dict[str, Any]], svgs: dict[str, str]) -> str:
    return render.render_html(*example, svgs)


# --- item 3: one true statement about the intervals ----------------------------------------

def test_the_interval_statement_is_true_of_every_interval_printed(
        example: tuple[dict[str, Any], dict[str, Any]], markdown: str, html: str,
        svgs: dict[str, str]) -> None:
    summary, _ = example
    for text in (markdown, " ".join(html.split())):
        stated = STATEMENT.search(text)
        assert stated is not None, "the report states no interval level"
        per_test, tests, together, other = stated.groups()
        assert int(tests) == summary["family"]["headline_tests"]
        assert float(together) == summary["family"]["familywise_confidence"] * 100
        # The levels the rows print: headline rows at the stated per-test level, the rest
        # at the stated exploratory level; and the summary's entries agree.
        headline_rows = set(re.findall(r"Fieller(?: on level / mean duration)?, ([\d.]+)% "
                                       r"\(headline, family-wise\)", text))
        other_rows = set(re.findall(r"Fieller, ([\d.]+)%(?! \(headline)", text))
        assert headline_rows == {per_test} and other_rows == {other}
        assert {f"{e['confidence'] * 100:.2f}".rstrip("0").rstrip(".")
                for e in summary["speedups"] if e["family"] == "headline"} == {per_test}
        assert f"{per_test}% family-wise CI" in text  # the headline sentences
        assert "95% confidence intervals" not in text and "the 95% confidence" not in text
    assert f"{per_test}% headline intervals ({together}% family-wise), others {other}%" in html
    for name in ("fanout_speedup", "clients_speedup"):  # the charts draw headline intervals
        assert f"({per_test}% CI, {together}% family-wise)" in svgs[name]


# --- item 4: size words and promised trials --------------------------------------------------

def _size_claims(text: str) -> list[tuple[float, float, float, str]]:
    """(ratio, low, high, size words) for every line, table row or list item that sizes a
    ratio (one ratio and one size each)."""
    claims = []
    for line in re.split(r"</tr>|</li>" if text.startswith("<!DOCTYPE") else r"\n", text):
        line = " ".join(re.sub(r"<[^>]+>", " ", line).split())  # HTML: the text alone
        ratios, words = set(RATIO.findall(line)), SIZE_WORDS.findall(line)
        if not ratios or not words:
            continue
        assert len(ratios) == 1 and len(words) == 1, line
        claims.append((*map(float, ratios.pop()), SIZE_WORDS.search(line).group(0)))  # type: ignore[union-attr]
    return claims


def test_no_size_word_contradicts_the_estimate_beside_it(markdown: str, html: str) -> None:
    for text in (markdown, html):
        claims = _size_claims(text)
        assert len(claims) > 20
        for ratio, low, high, words in claims:
            first, last = SIZE_WORDS.match(words).group(1, 2)  # type: ignore[union-attr]
            named = SIZES[SIZES.index(first):SIZES.index(last or first) + 1]
            assert verdicts.size_word(ratio) in named, (ratio, low, high, words)
            assert verdicts.magnitude(low, high).split()[0] == first


def test_the_issues_interval_reads_as_the_sizes_it_spans() -> None:
    assert verdicts.magnitude(1.07, 5.82) == "small to major speedup"
    assert verdicts.size_word(3.44) == "large"


def test_no_inconclusive_verdict_promises_more_than_the_cap(markdown: str, html: str) -> None:
    for text in (markdown, html):
        promised = [int(n) for n in re.findall(r"need more trials: about (\d+) per arm", text)]
        assert promised and max(promised) <= verdicts.MAX_TRIALS_PROMISED


# --- item 5: the summary table ---------------------------------------------------------------

def _expected(summary: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    from harness.analyse.metrics import level_label
    from harness.report.overview import SCENARIO_WORDS
    return {(f"{SCENARIO_WORDS[e['scenario']]} {level_label(e['scenario'], e['level'])}",
             e["stack"]): e for e in summary["speedups"] if e["headline"]}


def test_the_markdown_summary_table_opens_the_headline_findings(
        example: tuple[dict[str, Any], dict[str, Any]], markdown: str) -> None:
    summary, _ = example
    section = markdown.split("## Headline findings\n\n", 1)[1]
    table = section.split("\n\n", 1)[0].splitlines()
    header = [c.strip() for c in table[0].strip("|").split("|")]
    assert header == ["Scenario", "Metric", "quart-hypercorn", "fastapi-uvicorn"]
    expected = _expected(summary)
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in table[2:]]
    assert len(rows) == len({label for label, _ in expected})
    for row in rows:
        for stack, cell in zip(header[2:], row[2:], strict=True):
            e = expected[(row[0], stack)]
            assert cell == (f"{e['ratio']:.2f}x [{e['ci_low']:.2f}, {e['ci_high']:.2f}] "
                            f"{e['verdict']}")
    assert section.index("| Scenario |") < section.index("- **")  # the sentences follow


class _Overview(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.inside = False
        self.cells: list[tuple[str, str]] = []  # (class, text)
        self._cell: tuple[str, list[str]] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        if tag == "table" and found.get("class") == "overview":
            self.inside = True
        elif self.inside and tag == "td":
            self._cell = (found.get("class") or "", [])

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self.inside = False
        elif tag == "td" and self._cell is not None:
            self.cells.append((self._cell[0], " ".join("".join(self._cell[1]).split())))
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell[1].append(data)


def test_the_html_summary_table_colours_each_cell_by_its_verdict(
        example: tuple[dict[str, Any], dict[str, Any]], html: str) -> None:
    summary, _ = example
    parser = _Overview()
    parser.feed(html)
    coloured = [(cls, text) for cls, text in parser.cells if "verdict-" in cls]
    headline = [e for e in summary["speedups"] if e["headline"]]
    assert len(coloured) == len(headline)
    by_text = {f"{e['ratio']:.2f}x [{e['ci_low']:.2f}, {e['ci_high']:.2f}]{e['verdict']}": e
               for e in headline}
    for cls, text in coloured:
        e = by_text[text]
        assert cls == f"num verdict-{verdict_tone(e['verdict'])}"
    assert html.index('<table class="overview">') < html.index('<ol class="headlines">')
