"""harness.measure.envinfo: parsers of /proc and /sys text, and readers pointed at a fake tree."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.measure import envinfo
from harness.measure.envinfo import (
    cgroup_cpu_limit,
    collect_environment,
    cpu_governors,
    normalise_name,
    parse_cfs_quota,
    parse_cpu_max,
    parse_cpu_model,
    parse_os_release,
    parse_proc_cgroup,
)


@pytest.mark.parametrize(("text", "cores"), [
    ("max 100000", None),
    ("max", None),
    ("150000 100000", 1.5),
    ("200000 100000\n", 2.0),
    ("50000 100000", 0.5),
    ("100000", 1.0),  # period omitted: the kernel's default of 100000 us
    ("33333 100000", 0.333),
    ("", None),
    ("abc 100000", None),
    ("100000 0", None),
    ("-1 100000", None),
    ("1 2 3", None),
])
def test_parse_cpu_max(text: str, cores: float | None) -> None:
    assert parse_cpu_max(text) == cores


@pytest.mark.parametrize(("quota", "period", "cores"), [
    ("-1", "100000", None),
    ("400000", "100000", 4.0),
    ("150000\n", "100000\n", 1.5),
    ("x", "100000", None),
    ("100000", "0", None),
])
def test_parse_cfs_quota(quota: str, period: str, cores: float | None) -> None:
    assert parse_cfs_quota(quota, period) == cores


def test_parse_proc_cgroup_v1_v2_and_hybrid() -> None:
    text = ("12:cpu,cpuacct:/docker/abc\n4:memory:/docker/abc\n1:name=systemd:/init.scope\n"
            "0::/system.slice/x.service\ngarbage\n")
    assert parse_proc_cgroup(text) == {
        "cpu,cpuacct": "/docker/abc", "memory": "/docker/abc",
        "name=systemd": "/init.scope", "": "/system.slice/x.service"}
    assert parse_proc_cgroup("0::/\n") == {"": "/"}
    assert parse_proc_cgroup("") == {}


def test_parse_os_release_and_cpu_model() -> None:
    assert parse_os_release('NAME="Debian"\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\n') \
        == "Debian GNU/Linux 12 (bookworm)"
    assert parse_os_release("NAME=x\n") is None
    x86 = "processor\t: 0\nmodel name\t: AMD EPYC 7B13\nprocessor\t: 1\nmodel name\t: other\n"
    assert parse_cpu_model(x86) == "AMD EPYC 7B13"
    arm = "processor\t: 0\nBogoMIPS\t: 108.00\nHardware\t: BCM2835\nModel\t: Raspberry Pi 4\n"
    assert parse_cpu_model(arm) == "Raspberry Pi 4"
    assert parse_cpu_model("") is None


def write(root: Path, relative: str, text: str) -> None:
    path = root / relative
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def test_cgroup_v2_limit_in_a_container_namespace(tmp_path: Path) -> None:
    write(tmp_path, "proc/self/cgroup", "0::/\n")
    write(tmp_path, "sys/fs/cgroup/cpu.max", "250000 100000\n")
    limit, source = cgroup_cpu_limit(tmp_path)
    assert limit == 2.5
    assert source == str(tmp_path / "sys/fs/cgroup/cpu.max")


def test_cgroup_v2_the_tightest_ancestor_binds(tmp_path: Path) -> None:
    write(tmp_path, "proc/self/cgroup", "0::/user.slice/session.scope\n")
    write(tmp_path, "sys/fs/cgroup/user.slice/session.scope/cpu.max", "max 100000\n")
    write(tmp_path, "sys/fs/cgroup/user.slice/cpu.max", "150000 100000\n")
    assert cgroup_cpu_limit(tmp_path) == (1.5, str(tmp_path / "sys/fs/cgroup/user.slice/cpu.max"))


def test_cgroup_v1_quota(tmp_path: Path) -> None:
    write(tmp_path, "proc/self/cgroup", "3:cpu,cpuacct:/docker/abc\n0::/\n")
    write(tmp_path, "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_quota_us", "200000\n")
    write(tmp_path, "sys/fs/cgroup/cpu,cpuacct/docker/abc/cpu.cfs_period_us", "100000\n")
    write(tmp_path, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_quota_us", "-1\n")
    write(tmp_path, "sys/fs/cgroup/cpu,cpuacct/cpu.cfs_period_us", "100000\n")
    limit, source = cgroup_cpu_limit(tmp_path)
    assert limit == 2.0
    assert source is not None and source.endswith("docker/abc/cpu.cfs_quota_us")


def test_cgroup_v1_seen_from_inside_its_namespace(tmp_path: Path) -> None:
    # The path names the host's cgroup, but the container sees its own at the mount's top.
    write(tmp_path, "proc/self/cgroup", "3:cpu:/docker/abc\n")
    write(tmp_path, "sys/fs/cgroup/cpu/cpu.cfs_quota_us", "50000\n")
    write(tmp_path, "sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n")
    assert cgroup_cpu_limit(tmp_path)[0] == 0.5


def test_no_limit_anywhere(tmp_path: Path) -> None:
    assert cgroup_cpu_limit(tmp_path) == (None, None)
    write(tmp_path, "proc/self/cgroup", "1:cpu:/\n0::/\n")
    write(tmp_path, "sys/fs/cgroup/cpu/cpu.cfs_quota_us", "-1\n")
    write(tmp_path, "sys/fs/cgroup/cpu/cpu.cfs_period_us", "100000\n")
    write(tmp_path, "sys/fs/cgroup/unified/cgroup.controllers", "\n")
    assert cgroup_cpu_limit(tmp_path) == (None, None)


def test_path_components_never_leave_the_mount(tmp_path: Path) -> None:
    write(tmp_path, "proc/self/cgroup", "0::/../../etc\n")
    write(tmp_path, "etc/cpu.max", "100000 100000\n")
    assert cgroup_cpu_limit(tmp_path) == (None, None)


def test_governors(tmp_path: Path) -> None:
    assert cpu_governors(tmp_path) is None
    for cpu in range(3):
        write(tmp_path, f"sys/devices/system/cpu/cpu{cpu}/cpufreq/scaling_governor",
              "performance\n")
    write(tmp_path, "sys/devices/system/cpu/cpufreq/policy0/scaling_governor", "ignored\n")
    assert cpu_governors(tmp_path) == "performance"
    write(tmp_path, "sys/devices/system/cpu/cpu3/cpufreq/scaling_governor", "powersave\n")
    assert cpu_governors(tmp_path) == "performance,powersave"


def test_collect_cpu_and_platform_read_the_given_root(tmp_path: Path) -> None:
    write(tmp_path, "proc/cpuinfo", "model name\t: Fake CPU 9000\n")
    write(tmp_path, "etc/os-release", 'PRETTY_NAME="Fake OS 1"\n')
    write(tmp_path, "proc/self/cgroup", "0::/\n")
    write(tmp_path, "sys/fs/cgroup/cpu.max", "100000 100000\n")
    cpu = envinfo.collect_cpu(tmp_path)
    assert cpu["cpu_model"] == "Fake CPU 9000"
    assert cpu["container_cpu_limit"] == 1.0
    assert envinfo.collect_platform(tmp_path)["os"] == "Fake OS 1"


def test_normalise_name() -> None:
    assert normalise_name("Flask_SQLAlchemy") == "flask-sqlalchemy"
    assert normalise_name("zope.interface") == "zope-interface"
    assert normalise_name("a--b__c") == "a-b-c"


def test_the_environment_has_every_field_a_manifest_needs() -> None:
    env = collect_environment()
    for key in ("python", "python_build", "implementation", "os", "kernel", "cpu_model",
                "cpu_count", "governor", "loadavg", "container_cpu_limit",
                "container_cpu_limit_source", "executable", "environment_prefix", "packages"):
        assert key in env, key
    assert env["cpu_count"] >= 1
    for name in ("aiohttp", "flask", "quart", "hypercorn", "gunicorn", "scipy"):
        assert name in env["packages"], name
    assert all(name == normalise_name(name) for name in env["packages"])
