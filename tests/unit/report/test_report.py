"""Report rendering: numbers survive the templates, strings are escaped, nothing is fetched.

Rendered from ``tests/fixtures/report/`` (see ``generate.py`` there). The tables are
parsed back and every speedup, cell mean, latency and model value is compared with
the summary, rounded as printed.
"""

from __future__ import annotations

import copy
import hashlib
import json
import re
import subprocess
import sys
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import jinja2
import pytest

from harness.analyse.metrics import METRICS, level_title
from harness.report import context as report_context
from harness.report import filters as report_filters
from harness.report import render as report
from harness.report.figures import make_figures

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "report"
RATIO_CI = re.compile(r"^(\d+\.\d{2})x \[(\d+\.\d{2}), (\d+\.\d{2})\]$")
NUMBER = re.compile(r"-?[\d,]+(?:\.\d+)?")
LABEL_TO_METRIC = {m.title: metric for metric, m in METRICS.items()}


def load(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / name).read_text(encoding="utf-8"))
    return data


@pytest.fixture(scope="module")
def summary() -> dict[str, Any]:
    return load("summary.json")


@pytest.fixture(scope="module")
def manifest() -> dict[str, Any]:
    return load("manifest.json")


@pytest.fixture(scope="module")
def svgs(summary: dict[str, Any], manifest: dict[str, Any]) -> dict[str, str]:
    return make_figures(summary, manifest)


@pytest.fixture(scope="module")
def markdown(summary: dict[str, Any], manifest: dict[str, Any], svgs: dict[str, str]) -> str:
    return report.render_markdown(summary, manifest, {n: f"figures/{n}.svg" for n in svgs})


@pytest.fixture(scope="module")
def html(summary: dict[str, Any], manifest: dict[str, Any], svgs: dict[str, str]) -> str:
    return report.render_html(summary, manifest, svgs)


# --- parsing the rendered reports back -------------------------------------------------------


def close_to(text: str, value: float) -> bool:
    """True when ``text`` is ``value`` rounded to the decimals ``text`` shows."""
    number = NUMBER.search(text)
    assert number is not None, f"no number in {text!r}"
    digits = number.group().replace(",", "")
    decimals = len(digits.split(".")[1]) if "." in digits else 0
    return abs(float(digits) - value) <= 0.5 * 10.0**-decimals + 1e-12


def md_cells(line: str) -> list[str]:
    """The cells of a Markdown table row, split on unescaped pipes."""
    return [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]


def md_tables(markdown: str) -> Iterator[tuple[list[str], list[str], list[list[str]]]]:
    """``(headings, header, rows)`` for every table; headings are the h2..h4 above it."""
    headings = ["", "", ""]
    lines = markdown.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        match = re.match(r"^(#{2,4}) (.*)$", line)
        if match:
            depth = len(match.group(1)) - 2
            headings[depth:] = [match.group(2)] + [""] * (2 - depth)
        if line.startswith("|") and i + 1 < len(lines) and lines[i + 1].startswith("|---"):
            header = md_cells(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].startswith("|"):
                rows.append(md_cells(lines[i]))
                assert len(rows[-1]) == len(header), f"broken table row: {lines[i]!r}"
                i += 1
            yield list(headings), header, rows
            continue
        i += 1


def scenario_of(heading: str) -> str | None:
    for name, title in report_context.SCENARIO_TITLES.items():
        if heading.startswith(title):
            return name
    return None


def md_comparisons(markdown: str) -> dict[tuple[str, int, str, str], list[str]]:
    """Comparison rows keyed by (scenario, level, escaped stack, metric)."""
    found: dict[tuple[str, int, str, str], list[str]] = {}
    for headings, header, rows in md_tables(markdown):
        if header[0] != "Metric":
            continue
        scenario = scenario_of(headings[0]) or scenario_of(headings[1])
        assert scenario is not None, headings
        level = int(re.search(r"\d+", headings[2]).group())  # type: ignore[union-attr]
        assert headings[2] == level_title(scenario, level)
        for row in rows:
            key = (scenario, level, header[2], LABEL_TO_METRIC[row[0]])
            assert key not in found, f"row {key} appears twice"
            found[key] = row
    return found


class RowCollector(HTMLParser):
    """Collects the text of every cell of every ``<tr>`` carrying ``data-*`` attributes."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[tuple[dict[str, str], list[str]]] = []
        self._cell: list[str] | None = None
        self._row: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        data = {k[5:]: v or "" for k, v in attrs if k.startswith("data-")}
        if tag == "tr" and data:
            self._row = []
            self.rows.append((data, self._row))
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append(" ".join("".join(self._cell).split()))
            self._cell = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_rows(html: str) -> list[tuple[dict[str, str], list[str]]]:
    parser = RowCollector()
    parser.feed(html)
    return parser.rows


def speedup_key(e: dict[str, Any]) -> tuple[str, str, str, str]:
    return (e["scenario"], str(e["level"]), e["stack"], e["metric"])


# --- numbers ---------------------------------------------------------------------------------


def test_fixture_is_realistic(summary: dict[str, Any], manifest: dict[str, Any]) -> None:
    stacks = manifest["config"]["stacks"]
    assert summary["baseline"] == "flask-gunicorn"
    assert {"flask-gunicorn", "quart-hypercorn", "fastapi-uvicorn", "flask-dev"} <= set(stacks)
    assert stacks["flask-dev"]["kind"] == "dev"
    assert any(e["status"] == "failed" for e in summary["excluded"])
    assert manifest["config"]["scenarios"]["fanout"]["levels"] == [1, 5, 10]
    assert manifest["config"]["scenarios"]["clients"]["levels"] == [1, 20, 100]


def test_markdown_speedups_equal_the_summary(summary: dict[str, Any], markdown: str) -> None:
    rows = md_comparisons(markdown)
    assert len(rows) == len(summary["speedups"])
    cells = {(c["scenario"], c["level"], c["stack"], c["metric"]): c for c in summary["cells"]}
    for e in summary["speedups"]:
        row = rows[(e["scenario"], e["level"], report_filters.md_escape(e["stack"]), e["metric"])]
        match = RATIO_CI.match(row[3])
        assert match, row[3]
        ratio, low, high = (float(g) for g in match.groups())
        assert (ratio, low, high) == (round(e["ratio"], 2), round(e["ci_low"], 2),
                                      round(e["ci_high"], 2))
        assert row[3] == f"{e['ratio']:.2f}x [{e['ci_low']:.2f}, {e['ci_high']:.2f}]"
        assert row[4].startswith(e["verdict"])
        if e["magnitude"] != "none":
            assert f"({e['magnitude']})" in row[4]
        assert row[5].startswith(report_context.METHOD_LABELS[e["method"]])
        assert row[7] == f"{e['n_stack']} / {e['n_baseline']}"
        base = cells[(e["scenario"], e["level"], e["baseline"], e["metric"])]
        mine = cells[(e["scenario"], e["level"], e["stack"], e["metric"])]
        assert close_to(row[1], base["mean"]) and close_to(row[2], mine["mean"])


def test_html_speedups_equal_the_summary(summary: dict[str, Any], html: str) -> None:
    rows = {(d["scenario"], d["level"], d["stack"], d["metric"]): cells
            for d, cells in html_rows(html) if "metric" in d and len(cells) == 8}
    assert len(rows) == len(summary["speedups"])
    for e in summary["speedups"]:
        cells = rows[speedup_key(e)]
        assert cells[3] == f"{e['ratio']:.2f}x [{e['ci_low']:.2f}, {e['ci_high']:.2f}]"
        ratio, low, high = (float(g) for g in RATIO_CI.match(cells[3]).groups())  # type: ignore[union-attr]
        assert abs(ratio - e["ratio"]) <= 0.005 + 1e-12
        assert abs(low - e["ci_low"]) <= 0.005 + 1e-12
        assert abs(high - e["ci_high"]) <= 0.005 + 1e-12
        assert cells[4].startswith(e["verdict"])
        assert cells[5].startswith(report_context.METHOD_LABELS[e["method"]])


def test_headlines_carry_their_intervals(summary: dict[str, Any], markdown: str,
                                         html: str) -> None:
    assert summary["headlines"]
    for h in summary["headlines"]:
        number = f"{h['ratio']:.2f}x"
        interval = f"[{h['ci_low']:.2f}, {h['ci_high']:.2f}]"
        assert f"- **{number}** {interval}: {report_filters.md_escape(h['sentence'])}" in markdown
        assert f'<span class="ratio">{number}</span><span class="ci">{interval}</span>' in html
    cards = html.split('<ol class="headlines">')[1].split("</ol>")[0]
    top = {"fanout": "10", "clients": "100"}
    leads = re.findall(r'data-scenario="(\w+)" data-level="(\d+)" data-stack="([^"]+)"', cards)
    assert sorted(leads) == sorted((sc, top[sc], st) for sc in top
                                   for st in ("quart-hypercorn", "fastapi-uvicorn"))


def test_latency_and_model_values_equal_the_summary(summary: dict[str, Any], markdown: str,
                                                    html: str) -> None:
    keys = ("p50_mean", "p90_mean", "p99_mean", "p999_mean")
    pooled = ("p50", "p90", "p99", "p999", "max")
    latency = {(d["scenario"], d["level"], d["stack"]): cells
               for d, cells in html_rows(html) if "metric" not in d}
    md_latency = {(scenario_of(h[0]) or scenario_of(h[1]), row[0], row[1]): row
                  for h, header, rows in md_tables(markdown)
                  if header[:3] == ["Level", "Stack", "Trials"] for row in rows}
    assert len(latency) == len(md_latency) == len(summary["latency"])
    for e in summary["latency"]:
        values = [e[k] for k in keys] + [e["pooled"][k] for k in pooled]
        for cells in (latency[(e["scenario"], str(e["level"]), e["stack"])][3:],
                      md_latency[(e["scenario"], str(e["level"]), e["stack"])][3:]):
            assert len(cells) == len(values)
            assert all(close_to(c, v) for c, v in zip(cells, values, strict=True)), cells
    model = {(d["scenario"], d["level"], d["stack"], d["metric"]): cells
             for d, cells in html_rows(html) if len(cells) == 7}
    assert len(model) == len(summary["model"])
    for m in summary["model"]:
        cells = model[(m["scenario"], str(m["level"]), m["stack"], m["metric"])]
        assert close_to(cells[3], m["expected"]) and close_to(cells[4], m["measured"])
        assert cells[5] == f"{m['efficiency'] * 100:.0f}%"
        assert ("below model" in cells[6]) == m["flagged"]


def test_dev_stacks_are_reported_apart(markdown: str, html: str, svgs: dict[str, str]) -> None:
    production, dev = markdown.split("## Development servers (not production)")
    assert "flask-dev" not in production.split("## Methodology")[0]
    assert "flask-dev" in dev
    head, dev_html = html.split('<section id="dev" class="dev">')
    assert 'data-stack="flask-dev"' not in head
    assert 'data-stack="flask-dev"' in dev_html
    assert not any("flask-dev" in svg for svg in svgs.values())


def test_methodology_environment_and_reproduce(manifest: dict[str, Any], markdown: str,
                                               html: str) -> None:
    for text in (markdown, html):
        for needle in (manifest["command"], manifest["config_hash"], manifest["lock_hash"],
                       manifest["compat_id"], manifest["git"]["commit"], str(manifest["seed"]),
                       manifest["environment"]["cpu_model"], "Fieller", "BCa bootstrap",
                       "Welch", "shuffled in every round", "Rounds completed: 12",
                       "Worker connections", "Listen backlog", "Keep-alive",
                       "Upstream pool size", "Concurrency slots", "connection reset by peer"):
            assert needle in text, needle
    assert "(clean)" in markdown and "(clean)" in html


def test_the_methodology_names_each_like_with_like_pair(summary: dict[str, Any],
                                                        manifest: dict[str, Any]) -> None:
    """One baseline for all says so; a run whose config pairs ``NAME[settings]`` with the
    baseline's twin lists those pairs instead of claiming one baseline for every stack."""
    one = report.render_markdown(summary, manifest, {})
    assert "every other stack is compared with it." in one
    twin, mine = "flask-gunicorn[pool_size=50]", "quart-hypercorn[pool_size=50]"
    paired, m = with_extra_stacks(summary, manifest, [twin, mine])
    paired["speedups"] = [{**e, "baseline": twin} if e["stack"] == mine else e
                          for e in paired["speedups"]]
    m["config"]["baselines"] = {mine: twin}
    pair = f"{mine} against {twin}"
    for text, expected in ((report.render_markdown(paired, m, {}), report_filters.md_escape(pair)),
                           (report.render_html(paired, m, {}), pair)):
        assert "compared like with like" in text
        assert expected in text


# --- escaping --------------------------------------------------------------------------------


def with_extra_stacks(summary: dict[str, Any], manifest: dict[str, Any],
                      names: list[str]) -> tuple[dict[str, Any], dict[str, Any]]:
    """Copies with ``names`` added as production stacks that measured like quart-hypercorn."""
    summary, manifest = copy.deepcopy(summary), copy.deepcopy(manifest)
    config = manifest["config"]
    for name in names:
        config["stacks"][name] = dict(config["stacks"]["quart-hypercorn"])
        config["stack_order"].append(name)
        for key in ("cells", "latency", "speedups", "model", "headlines"):
            summary[key] += [{**e, "stack": name} for e in summary[key]
                             if e["stack"] == "quart-hypercorn"]
    return summary, manifest


def test_stack_names_are_escaped(summary: dict[str, Any], manifest: dict[str, Any]) -> None:
    names = ["<b>x</b>", "a|b $y$ _z_"]
    s, m = with_extra_stacks(summary, manifest, names)
    svgs = make_figures(s, m)
    html = report.render_html(s, m, svgs)
    assert "&lt;b&gt;x&lt;/b&gt;" in html
    assert "<b>x</b>" not in html
    assert 'data-stack="&lt;b&gt;x&lt;/b&gt;"' in html
    assert any("&lt;b&gt;x&lt;/b&gt;" in svg for svg in svgs.values())  # chart legends
    md = report.render_markdown(s, m, {n: f"figures/{n}.svg" for n in svgs})
    assert "<b>x</b>" not in md and "&lt;b&gt;x&lt;/b&gt;" in md
    rows = md_comparisons(md)  # asserts every row has as many cells as its header
    assert ("fanout", 10, r"a\|b \$y\$ \_z\_", "duration_s") in rows


def test_manifest_strings_are_escaped(summary: dict[str, Any], manifest: dict[str, Any]) -> None:
    m = copy.deepcopy(manifest)
    m["environment"]["cpu_model"] = "<script>alert(1)</script>|x\ny"
    m["command"] = "run --tag '<img src=x>' ```"
    html = report.render_html(summary, m, {})
    assert "<script>" not in html and "<img" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    md = report.render_markdown(summary, m, {})
    assert "| CPU model | &lt;script&gt;alert(1)&lt;/script&gt;\\|x y |" in md
    assert "````\nrun --tag '<img src=x>' ```\n````" in md  # a longer fence, raw inside


def test_md_escape() -> None:
    assert report_filters.md_escape("a|b\nc<d>&*_[`]#\\") == r"a\|b c&lt;d&gt;&amp;\*\_\[\`\]\#\\"
    assert report_filters.md_escape(report_filters.md_escape("<")) == "&lt;"


# --- strictness ------------------------------------------------------------------------------


@pytest.mark.parametrize("template", [report.MARKDOWN_TEMPLATE, report.HTML_TEMPLATE])
def test_missing_context_key_fails_loudly(summary: dict[str, Any], manifest: dict[str, Any],
                                          template: str) -> None:
    context = report_context.build_context(summary, manifest, {})
    report.render_template(template, context)  # complete: renders
    for path in (("reproduce",), ("methodology", "seed"), ("sections", 0, "levels", 0, "label")):
        broken = copy.deepcopy(context)
        target: Any = broken
        for step in path[:-1]:
            target = target[step]
        del target[path[-1]]
        with pytest.raises(jinja2.UndefinedError):
            report.render_template(template, broken)


@pytest.mark.parametrize("template", [report.MARKDOWN_TEMPLATE, report.HTML_TEMPLATE])
def test_unformatted_number_fails_loudly(summary: dict[str, Any], manifest: dict[str, Any],
                                         template: str) -> None:
    context = report_context.build_context(summary, manifest, {})
    context["run_id"] = 0.1 + 0.2
    context["reproduce"]["run_dir"] = 0.1 + 0.2  # printed by both templates
    with pytest.raises(TypeError, match="formatting filter"):
        report.render_template(template, context)


def test_missing_summary_entry_key_fails_loudly(summary: dict[str, Any],
                                                manifest: dict[str, Any]) -> None:
    s = copy.deepcopy(summary)
    del s["speedups"][0]["ratio"]
    with pytest.raises(KeyError):
        report.render_markdown(s, manifest, {})


def test_sparse_manifest_and_empty_summary_render() -> None:
    summary = {"schema_version": 1, "run_id": "r1", "baseline": "flask-gunicorn",
               "confidence": 0.95, "counts": {"ok": 0, "failed": 0, "invalid": 0,
                                              "skipped_lines": 0},
               "excluded": [], "warnings": [], "cells": [], "latency": [], "speedups": [],
               "model": [], "headlines": []}
    manifest = {"run_id": "r1", "config": {}}
    assert make_figures(summary, manifest) == {}
    md = report.render_markdown(summary, manifest, {})
    html = report.render_html(summary, manifest, {})
    for text in (md, html):
        assert "r1" in text and report_filters.NOT_RECORDED in text
        assert "No headline findings" in text and "No trial was excluded" in text


# --- content rules ---------------------------------------------------------------------------


def test_non_loopback_host_is_announced_first(summary: dict[str, Any],
                                              manifest: dict[str, Any]) -> None:
    m = copy.deepcopy(manifest)
    m["config"]["host"] = "10.1.2.3"
    md = report.render_markdown(summary, m, {})
    html = report.render_html(summary, m, {})
    for text in (md, html):
        top = text.split("Headline findings")[0]
        assert "Not measured on loopback" in top and "10.1.2.3" in top
    assert "Not measured on loopback" not in report.render_markdown(summary, manifest, {})
    assert report_context.is_loopback("127.0.0.2") and report_context.is_loopback("::1")
    assert report_context.is_loopback("localhost") and not report_context.is_loopback("0.0.0.0")


def test_insufficient_data_and_bootstrap_render(summary: dict[str, Any],
                                                manifest: dict[str, Any]) -> None:
    s = copy.deepcopy(summary)
    thin, boot = s["speedups"][0], s["speedups"][1]
    thin.update(ci_low=None, ci_high=None, method="insufficient-trials", p_value=None,
                verdict="insufficient data", magnitude=None, n_stack=1)
    boot["bootstrap"] = {"ci_low": 1.234, "ci_high": 5.678, "method": "bca-bootstrap"}
    md = report.render_markdown(s, manifest, {})
    row = md_comparisons(md)[(thin["scenario"], thin["level"], thin["stack"], thin["metric"])]
    assert row[3] == f"{thin['ratio']:.2f}x no interval"
    assert row[4] == "insufficient data" and row[5] == "insufficient trials"
    assert "Insufficient data" in md.split("## Headline findings")[0]
    row = md_comparisons(md)[(boot["scenario"], boot["level"], boot["stack"], boot["metric"])]
    assert row[5] == "Fieller, 95%; BCa [1.23, 5.68]"


def rate_entries(summary: dict[str, Any]) -> dict[str, Any]:
    """A copy of the summary with a rate scenario at 100 and 400 req/s offered."""
    s = copy.deepcopy(summary)
    for stack, slow in (("flask-gunicorn", 3.0), ("quart-hypercorn", 1.0),
                        ("fastapi-uvicorn", 0.9)):
        for level in (100, 400):
            base = 105.0 * slow * (level / 100)
            s["latency"].append({"scenario": "rate", "level": level, "stack": stack, "n": 5,
                                 "p50_mean": base, "p90_mean": base * 1.4,
                                 "p99_mean": base * 2, "p999_mean": base * 3,
                                 "pooled": {"p50": base, "p90": base * 1.4, "p99": base * 2.1,
                                            "p999": base * 3.2, "max": base * 4}})
            s["cells"].append({"scenario": "rate", "level": level, "stack": stack,
                               "metric": "p99_ms", "n": 5, "mean": base * 2, "median": base * 2,
                               "sd": base * 0.1, "min": base * 1.8, "max": base * 2.2})
            if stack != "flask-gunicorn":
                ratio = 3.0 / slow
                s["speedups"].append({
                    "scenario": "rate", "level": level, "stack": stack,
                    "baseline": "flask-gunicorn", "metric": "p99_ms", "ratio": ratio,
                    "ci_low": ratio * 0.9, "ci_high": ratio * 1.1, "method": "fieller",
                    "n_stack": 5, "n_baseline": 5, "p_value": 0.0001, "verdict": "faster",
                    "magnitude": "large speedup", "higher_is_better": False,
                    "headline": False, "bootstrap": None})
    return s


def test_rate_scenario_gets_charts_and_tables(summary: dict[str, Any],
                                              manifest: dict[str, Any]) -> None:
    s = rate_entries(summary)
    svgs = make_figures(s, manifest)
    assert {"rate_latency", "rate_speedup"} <= set(svgs)
    md = report.render_markdown(s, manifest, {n: f"figures/{n}.svg" for n in svgs})
    assert "#### 400 req/s offered" in md
    assert "![" in md and "(figures/rate_latency.svg)" in md
    assert ("rate", 400, "fastapi-uvicorn", "p99_ms") in md_comparisons(md)


def test_absent_data_skips_charts(summary: dict[str, Any], manifest: dict[str, Any],
                                  svgs: dict[str, str]) -> None:
    assert set(svgs) == {"fanout_duration", "fanout_speedup", "clients_throughput",
                         "clients_p99", "clients_speedup"}
    s = copy.deepcopy(summary)
    s["latency"] = []
    assert "clients_p99" not in make_figures(s, manifest)


# --- self-containment and determinism --------------------------------------------------------


def test_html_fetches_nothing(html: str) -> None:
    assert 'http-equiv="Content-Security-Policy"' in html
    refs = re.findall(r"""\b((?:xlink:)?href|src|srcset|action|poster)\s*=\s*["']?([^"'\s>]*)""",
                      html, re.IGNORECASE)
    assert refs  # the contents links and the SVGs' own references
    for attr, value in refs:
        assert value.startswith("#") or value == "data:,", (attr, value)
    assert "@import" not in html
    assert all(u.startswith("#") for u in re.findall(r"url\(\s*['\"]?([^)'\"]*)", html))
    lowered = html.lower()
    for tag in ("<script", "<iframe", "<object", "<embed", "<img", "<image", "<link rel=\"style"):
        assert tag not in lowered


def test_same_input_same_bytes(summary: dict[str, Any], manifest: dict[str, Any],
                               svgs: dict[str, str], markdown: str, html: str,
                               tmp_path: Path) -> None:
    stale = tmp_path / "figures" / "rate_latency.svg"  # from an earlier rendering
    stale.parent.mkdir()
    stale.write_text("<svg/>", encoding="utf-8")
    written = report.write_report(tmp_path, copy.deepcopy(summary), copy.deepcopy(manifest))
    assert not stale.exists()
    assert [p.relative_to(tmp_path).as_posix() for p in written] == \
        [f"figures/{name}.svg" for name in svgs] + ["report.md", "report.html"]
    for name, svg in svgs.items():
        assert (tmp_path / "figures" / f"{name}.svg").read_bytes() == svg.encode()
        assert f"(figures/{name}.svg)" in markdown
    # The files name the folder they were written to in their rerun/publish commands.
    placed = {**manifest, "run_dir": str(tmp_path)}
    paths = {n: f"figures/{n}.svg" for n in svgs}
    assert (tmp_path / "report.md").read_bytes() == \
        report.render_markdown(summary, placed, paths).encode()
    assert (tmp_path / "report.html").read_bytes() == \
        report.render_html(summary, placed, svgs).encode()
    assert f"python -m harness publish {tmp_path}" in (tmp_path / "report.md").read_text()
    assert report.render_html(summary, manifest, svgs) == html


def test_figures_are_identical_across_processes(svgs: dict[str, str]) -> None:
    code = ("import json, sys, hashlib; from harness.report.figures import make_figures; "
            "s, m = (json.load(open(sys.argv[i])) for i in (1, 2)); "
            "print(json.dumps({k: hashlib.sha256(v.encode()).hexdigest() "
            "for k, v in make_figures(s, m).items()}))")
    out = subprocess.run([sys.executable, "-c", code, str(FIXTURES / "summary.json"),
                          str(FIXTURES / "manifest.json")], capture_output=True, text=True,
                         check=True, timeout=120)
    here = {k: hashlib.sha256(v.encode()).hexdigest() for k, v in svgs.items()}
    assert json.loads(out.stdout) == here
    assert all("<metadata" not in svg and "date" not in svg.lower() for svg in svgs.values())


def test_the_report_opens_with_its_answer_and_warns_of_a_smoke_run(
        summary: dict[str, Any], manifest: dict[str, Any]) -> None:
    m = copy.deepcopy(manifest)
    m["run_dir"] = "elsewhere/runs/r1"
    m["skipped"] = [{"stack": "mine", "scenario": "fanout", "reason": "no 'aggregate' path"}]
    few = copy.deepcopy(summary)
    for entry in few["speedups"]:
        entry["n_stack"] = min(entry["n_stack"], 3)
    for text in (report.render_markdown(few, m, {}), report.render_html(few, m, {})):
        top = text.split("Headline findings")[0]
        answer = report_context.build_context(few, m, {})["answer"]
        assert answer and answer[0].split(" ")[0] == "At"
        assert answer[0][:30] in top
        assert "A smoke-sized run" in top and "fewer than 10" in top
        assert "Scenarios skipped" in top and "fanout on mine" in top
        assert "python -m harness report elsewhere/runs/r1" in text
        assert "python -m harness publish elsewhere/runs/r1" in text


def test_code_block_keeps_its_own_lines_and_flattens_recorded_ones() -> None:
    block = report_filters.md_code_block(["python -m harness report results/x",
                                          "python -m harness rerun results/x\nrm -rf /"])
    assert block.splitlines() == ["```", "python -m harness report results/x",
                                  "python -m harness rerun results/x rm -rf /", "```"]
    assert report_filters.md_code_block("a\nb").splitlines() == ["```", "a b", "```"]


def test_roles_on_hosts_in_the_environment(summary: dict[str, Any],
                                           manifest: dict[str, Any]) -> None:
    m = copy.deepcopy(manifest)
    netns = {"where": "netns", "address": "198.18.7.2", "namespace": "abn00aa11-stack",
             "url": None}
    m["hosts"] = {"stack": netns,
                  "upstream": {**netns, "address": "198.18.7.3",
                               "namespace": "abn00aa11-upstream"},
                  "load": {"where": "local", "address": "198.18.7.1", "namespace": None,
                           "url": None},
                  "network": {"bridge": "abn00aa11br", "subnet": "198.18.7.0/24"}}
    m["placement"] = {"mode": "explicit", "stack_cpus": [1], "harness_cpus": [0],
                      "upstream_cpus": [2]}
    md = report.render_markdown(summary, m, {})
    assert ("| Roles on hosts | stack: a network namespace of this machine (abn00aa11-stack, "
            "198.18.7.2); upstream: a network namespace of this machine (abn00aa11-upstream, "
            "198.18.7.3); load: this machine (198.18.7.1); bridge "
            "abn00aa11br on 198.18.7.0/24 |") in md
    assert ("| CPU placement | explicit: the stack on CPUs 1, the harness (load generator) on "
            "CPUs 0, the upstream on CPUs 2 |") in md
    # A run folder is untrusted: odd shapes are left out, strings escaped.
    m["hosts"] = {"stack": {"where": "mars"}, "upstream": ["x"],
                  "load": {"where": "remote", "url": "<script>x</script>"}, "network": 3}
    html = report.render_html(summary, m, {})
    assert "<script>x" not in html and "load: another host (&lt;script&gt;x" in html
    m["hosts"] = "everywhere"
    assert "Roles on hosts | not recorded" in report.render_markdown(summary, m, {})
