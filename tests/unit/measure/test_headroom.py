"""Headroom for concurrent clients: the open-file limit raised for the harness and its
children, a level that cannot fit refused in one line naming ``ulimit -n``, ports and
listen backlogs checked against the level."""

from __future__ import annotations

import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.config.load import config_from_dict
from harness.errors import ConfigError
from harness.measure.headroom import SPARE_FILES, Kernel, check, files_needed

ROOMY = Kernel(open_files_hard=20_000, port_range=(32768, 60999), somaxconn=4096, tw_reuse=2)


def config(levels: list[int], **run: Any) -> Any:
    return config_from_dict({"run": {"stacks": ["quart-hypercorn"], "baseline": "quart-hypercorn",
                                     **run},
                             "scenarios": {"clients": {"levels": levels}}})


def test_ten_thousand_clients_fit_this_machines_limits() -> None:
    # quart-hypercorn's workers each hold an upstream pool of 1,000 connections.
    cfg = config([1000, 10_000])
    assert files_needed(10_000, cfg.stack("quart-hypercorn")) == 10_000 + 1000 + SPARE_FILES
    assert check(cfg, ROOMY) == [
        "clients C = 10,000 exceeds quart-hypercorn's listen backlog of 2,048: connections "
        "beyond it may wait for a SYN retransmit (1 s, 3 s), and that wait is measured"]


@pytest.mark.parametrize(("hard", "fits"), [(11_256, True), (11_255, False)])
def test_a_level_that_cannot_fit_the_open_file_limit_is_refused(hard: int, fits: bool) -> None:
    kernel = Kernel(hard, (32768, 60999), 65535, 2)
    cfg = config([10_000])
    if fits:
        check(cfg, kernel)
        return
    with pytest.raises(ConfigError) as caught:
        check(cfg, kernel)
    message = str(caught.value)
    assert "\n" not in message and "ulimit -n 11256" in message
    assert message.startswith("[scenarios.clients] levels: C = 10,000 needs about 11,256 open")


@pytest.mark.parametrize(("high", "fits"), [(42767, True), (42766, False)])
def test_a_level_beyond_the_ephemeral_ports_is_refused(high: int, fits: bool) -> None:
    kernel = Kernel(50_000, (32768, high), 65535, 2)  # 10,000 ports, or 9,999
    if fits:
        check(config([10_000]), kernel)
        return
    with pytest.raises(ConfigError, match="ip_local_port_range"):
        check(config([10_000]), kernel)


def test_the_backlog_warning_names_somaxconn_when_it_caps_the_stated_one() -> None:
    warnings = check(config([3000]), Kernel(20_000, (32768, 60999), 1024, 2))
    assert warnings == [
        "clients C = 3,000 exceeds quart-hypercorn's listen backlog of 1,024, capped by "
        "net.core.somaxconn 1024: connections beyond it may wait for a SYN retransmit "
        "(1 s, 3 s), and that wait is measured"]
    assert check(config([2048]), ROOMY) == []  # the backlog itself fits


@pytest.mark.parametrize(("reuse", "host", "warned"), [
    (0, "127.0.0.1", True), (2, "127.0.0.1", False), (2, "0.0.0.0", True), (1, "0.0.0.0", False)])
def test_time_wait_may_exhaust_ports_without_reuse(reuse: int, host: str, warned: bool) -> None:
    cfg = config([10_000], bursts_per_trial=3, host=host)
    kernel = Kernel(20_000, (32768, 60999), 65535, reuse)
    assert any("TIME_WAIT" in w for w in check(cfg, kernel)) is warned


def test_no_clients_scenario_nothing_to_check() -> None:
    cfg = config_from_dict({"scenarios": {"fanout": {"levels": [1]}}})
    assert check(cfg, Kernel(10, (1, 2), 1, 0)) == []


def test_the_kernel_is_read_from_proc(tmp_path: Path) -> None:
    for name, text in (("net/ipv4/ip_local_port_range", "1024\t65000\n"),
                       ("net/core/somaxconn", "512\n"), ("net/ipv4/tcp_tw_reuse", "0\n")):
        path = tmp_path / "proc/sys" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    kernel = Kernel.read(tmp_path)
    assert (kernel.port_range, kernel.ports, kernel.somaxconn, kernel.tw_reuse) == (
        (1024, 65000), 63977, 512, 0)
    assert Kernel.read(tmp_path / "nowhere").port_range is None


def test_the_soft_limit_is_raised_to_the_hard_one_and_children_inherit_it() -> None:
    code = ("import resource, subprocess, sys\n"
            "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
            "resource.setrlimit(resource.RLIMIT_NOFILE, (min(256, hard), hard))\n"
            "from harness.measure.headroom import raise_open_files\n"
            "print(raise_open_files())\n"
            "print(subprocess.run([sys.executable, '-c', 'import resource; "
            "print(resource.getrlimit(resource.RLIMIT_NOFILE))'], capture_output=True, "
            "text=True).stdout.strip())\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.splitlines()
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    assert out == [str((hard, hard)), str((hard, hard))]
