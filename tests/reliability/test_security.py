"""Reliability, part 4: security. Loopback by default, no shell, every
config-derived string escaped in the report."""

from __future__ import annotations

import ast
import copy
import json
from pathlib import Path

import psutil
import pytest

from harness.config.catalogue import BUILTIN_STACKS
from harness.config.load import config_from_dict
from harness.config.schema import StackSpec
from harness.report.render import render_html, render_markdown
from harness.targets.local import running_stack

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "report"


@pytest.mark.parametrize("name", ["flask-gunicorn", "quart-hypercorn", "fastapi-uvicorn"])
def test_every_process_listens_on_loopback_only(name: str) -> None:
    spec = StackSpec(name=name, **dict(BUILTIN_STACKS[name], workers=2))  # type: ignore[arg-type]
    with running_stack(spec) as handle:
        addresses = set()
        for proc in handle.server.tree() + handle.upstream.tree():
            for conn in proc.net_connections(kind="inet"):
                if conn.status == psutil.CONN_LISTEN:
                    addresses.add(conn.laddr.ip)
    assert addresses == {"127.0.0.1"}


def test_default_host_is_loopback_and_other_hosts_must_be_explicit() -> None:
    config = config_from_dict({"scenarios": {"fanout": {"levels": [1]}}})
    assert config.host == "127.0.0.1" and config.loopback_only
    exposed = config_from_dict({"run": {"host": "0.0.0.0"}, "scenarios": {"fanout": {"levels": [1]}}})
    assert not exposed.loopback_only
    assert exposed.resolved()["host"] == "0.0.0.0"  # recorded in the manifest, shown in the report


def test_no_code_path_uses_a_shell() -> None:
    offenders = []
    for path in sorted((ROOT / "harness").glob("*.py")) + sorted((ROOT / "servers").glob("*.py")):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.keyword) and node.arg == "shell" and not (
                    isinstance(node.value, ast.Constant) and node.value.value is False):
                offenders.append(f"{path.name}:{node.value.lineno} shell=")
            if isinstance(node, ast.Attribute) and node.attr in ("system", "popen") and \
                    isinstance(node.value, ast.Name) and node.value.id == "os":
                offenders.append(f"{path.name}:{node.lineno} os.{node.attr}")
    assert offenders == []


HOSTILE = "<script>alert(1)</script>|`x`*y*[z](javascript:1)"


def _hostile_inputs() -> tuple[dict[str, object], dict[str, object]]:
    summary = json.loads((FIXTURE / "summary.json").read_text())
    manifest = json.loads((FIXTURE / "manifest.json").read_text())
    text = json.dumps(summary).replace("fastapi-uvicorn", HOSTILE.replace('"', ""))
    summary = json.loads(text)
    manifest = json.loads(json.dumps(manifest).replace("fastapi-uvicorn", HOSTILE))
    manifest = copy.deepcopy(manifest)
    manifest["config"]["source"] = "configs/<img src=x onerror=alert(2)>.toml"
    manifest["command"] = "python -m harness run --config '<b>bold</b>'"
    manifest["config"]["host"] = "<i>host</i>"
    return summary, manifest


def test_config_derived_strings_are_escaped_in_html() -> None:
    summary, manifest = _hostile_inputs()
    html = render_html(summary, manifest, {})
    for raw in ("<script>alert(1)</script>", "<img src=x onerror=alert(2)>", "<b>bold</b>",
                "<i>host</i>"):
        assert raw not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "&lt;img src=x onerror=alert(2)&gt;" in html


def test_config_derived_strings_cannot_break_markdown_tables() -> None:
    summary, manifest = _hostile_inputs()
    md = render_markdown(summary, manifest, {})
    assert "<script>" not in md and "<img" not in md
    for line in md.splitlines():
        if line.startswith("|") and "script" in line:
            # the hostile name's | is escaped, so the row keeps its column count
            header_cols = line.count("|") - line.count("\\|")
            assert header_cols >= 3
            assert "\\|" in line
