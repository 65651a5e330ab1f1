"""PostgreSQL's lifecycle pieces that need no server: binaries, command line, environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.catalogue import DB_BUILTIN_STACKS
from harness.config.schema import StackSpec
from harness.errors import TargetError
from harness.targets import postgres
from harness.targets.argv import database_environment, server_command
from harness.targets.local import max_connections
from servers import db_queries


def test_missing_binaries_are_one_line_naming_the_package(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(TargetError) as info:
        postgres.find_bin_dir(str(tmp_path / "nothing" / "*" / "bin"))
    message = str(info.value)
    assert "\n" not in message
    assert "install the 'postgresql' package (apt-get install postgresql)" in message


def test_the_newest_installed_version_is_chosen(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    for version in ("9", "15", "16"):
        folder = tmp_path / version / "bin"
        folder.mkdir(parents=True)
        for tool in ("initdb", "postgres"):
            (folder / tool).write_text("#!/bin/sh\n")
            (folder / tool).chmod(0o755)
    (tmp_path / "16" / "bin" / "postgres").unlink()  # an incomplete install is skipped
    assert postgres.find_bin_dir(str(tmp_path / "*" / "bin")) == tmp_path / "15" / "bin"


def test_the_server_listens_on_loopback_only_and_durability_is_off() -> None:
    argv = postgres.postgres_command(Path("/b"), Path("/t/data"), Path("/t"), "127.0.0.1", 5555,
                                     45)
    assert argv[:7] == ["/b/postgres", "-D", "/t/data", "-k", "/t", "-p", "5555"]
    settings = dict(arg.split("=", 1) for arg in argv[7:] if arg != "-c")
    assert settings["listen_addresses"] == "127.0.0.1"
    assert settings["max_connections"] == "45"
    assert settings["fsync"] == "off"


def test_max_connections_fit_every_pool_plus_the_harness() -> None:
    spec = StackSpec(name="s", **dict(DB_BUILTIN_STACKS["fastapi-uvicorn-pg"],
                                      workers=3, pool_size=50))  # type: ignore[arg-type]
    assert max_connections(spec) == 150 + postgres.RESERVED_CONNECTIONS


@pytest.mark.parametrize("name", list(DB_BUILTIN_STACKS))
def test_a_database_app_is_told_its_database_not_a_mock(name: str) -> None:
    spec = StackSpec(name=name, **DB_BUILTIN_STACKS[name])  # type: ignore[arg-type]
    env = database_environment(spec, "postgresql://postgres@127.0.0.1:1/postgres", "read",
                               "asyncbench", {"PATH": "/bin"})
    assert "ASYNCBENCH_UPSTREAM_URL" not in env
    assert env["ASYNCBENCH_DATABASE_URL"].endswith(":1/postgres")
    assert (env["ASYNCBENCH_DB_QUERY"], env["ASYNCBENCH_DB_SCHEMA"]) == ("read", "asyncbench")
    assert env["ASYNCBENCH_POOL_SIZE"] == "10"
    assert any(arg.startswith("servers.pg_") for arg in server_command("py", spec, "127.0.0.1"))


def test_the_seeded_customers_are_the_ones_the_apps_read() -> None:
    assert postgres.CUSTOMERS == db_queries.CUSTOMERS
