"""The report warns when the numbers were not measured on loopback."""

from __future__ import annotations

import json
from pathlib import Path

from harness.report.render import render_markdown

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "report"


def render(config_changes: dict[str, object]) -> str:
    manifest = json.loads((FIXTURE / "manifest.json").read_text())
    summary = json.loads((FIXTURE / "summary.json").read_text())
    manifest["config"].update(config_changes)
    return render_markdown(summary, manifest, {})


def test_servers_on_other_hosts_are_announced() -> None:
    md = render({"external": {"upstream_url": "http://10.0.0.5:8000",
                              "stacks": {"flask-gunicorn": "http://127.0.0.1:9000"}}})
    assert "Servers on other hosts." in md and "on 10.0.0.5:" in md


def test_external_servers_on_loopback_raise_no_alarm() -> None:
    md = render({"external": {"upstream_url": "http://127.0.0.1:8000",
                              "stacks": {"flask-gunicorn": "http://localhost:9000"}}})
    assert "Servers on other hosts" not in md


def test_a_non_loopback_bind_address_is_announced() -> None:
    assert "Not measured on loopback" in render({"host": "0.0.0.0"})
    assert "Not measured on loopback" not in render({"host": "127.0.0.1"})
