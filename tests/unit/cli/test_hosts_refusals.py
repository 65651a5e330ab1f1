"""A run or check asking for network namespaces without the privilege to make them ends
with one line and exit 2, before any run folder, server or namespace exists."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.targets import netns

CONFIG = """
[run]
stacks = ["flask-gunicorn", "quart-hypercorn"]
rounds = 1
[hosts]
stack = "netns"
upstream = "netns"
prefix = "zz"
[scenarios.fanout]
levels = [1]
"""


@pytest.mark.parametrize("command", ["run", "check"])
def test_no_privilege_is_one_line_and_exit_2(command: str, tmp_path: Path, capsys: Any,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(netns, "privilege_problem",
                        lambda status=None: "creating network namespaces needs CAP_NET_ADMIN "
                        "and CAP_SYS_ADMIN, which this process has not (run as root)")
    made: list[object] = []
    monkeypatch.setattr(netns, "_make", lambda *args: made.append(args))
    config = tmp_path / "ns.toml"
    config.write_text(CONFIG)
    out = tmp_path / "results"
    args = [command, "--config", str(config)] + (["--out", str(out)] if command == "run" else [])
    assert main(args) == 2
    # The progress bar, stopped, may leave an empty line; the message is the only line.
    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    assert lines == ['asyncbench: [hosts] stack and upstream = "netns": creating network '
                     "namespaces needs CAP_NET_ADMIN and CAP_SYS_ADMIN, which this process has "
                     "not (run as root)"]
    assert not out.exists() and made == []


def test_a_remote_upstream_that_does_not_answer(tmp_path: Path, capsys: Any) -> None:
    config = tmp_path / "remote.toml"
    config.write_text(CONFIG.replace('stack = "netns"\nupstream = "netns"',
                                     'upstream = "remote"\nupstream_url = "http://127.0.0.1:9"'))
    assert main(["run", "--config", str(config), "--out", str(tmp_path / "results")]) == 2
    lines = [line for line in capsys.readouterr().err.splitlines() if line]
    assert len(lines) == 1
    assert lines[0].startswith("asyncbench: remote upstream http://127.0.0.1:9: GET /health ")
    assert lines[0].endswith("start it or correct [hosts] upstream_url")
    assert not (tmp_path / "results").exists()
