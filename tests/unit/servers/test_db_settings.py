"""The database apps' settings and queries: pure, no server."""

from __future__ import annotations

import random

import pytest

from servers.db_queries import CUSTOMERS, make_query
from servers.db_settings import DbSettings
from servers.errors import SettingsError

URL = "postgresql://postgres@127.0.0.1:5432/postgres"


def test_settings_from_the_environment() -> None:
    settings = DbSettings.from_env({"ASYNCBENCH_DATABASE_URL": URL, "ASYNCBENCH_STACK": "s",
                                    "ASYNCBENCH_DB_QUERY": "read", "ASYNCBENCH_POOL_SIZE": "7",
                                    "ASYNCBENCH_UPSTREAM_TIMEOUT_S": "2.5"})
    assert (settings.query, settings.pool_size, settings.schema) == ("read", 7, "asyncbench")
    assert settings.server_settings == {"search_path": "asyncbench", "statement_timeout": "2500",
                                        "application_name": "asyncbench-s"}


@pytest.mark.parametrize(("env", "message"), [
    ({}, "ASYNCBENCH_DATABASE_URL is required"),
    ({"ASYNCBENCH_DATABASE_URL": "http://h:1"}, "must be a postgresql:// URL"),
    ({"ASYNCBENCH_DB_QUERY": "drop"}, "ASYNCBENCH_DB_QUERY must be one of sleep, read"),
    ({"ASYNCBENCH_DB_SCHEMA": "x; drop table y"}, "ASYNCBENCH_DB_SCHEMA must be a lower-case"),
    ({"ASYNCBENCH_POOL_SIZE": "0"}, "ASYNCBENCH_POOL_SIZE must be an integer >= 1"),
    ({"ASYNCBENCH_POOL_SIZE": "ten"}, "ASYNCBENCH_POOL_SIZE must be an integer"),
    ({"ASYNCBENCH_UPSTREAM_TIMEOUT_S": "-1"}, "ASYNCBENCH_UPSTREAM_TIMEOUT_S must be > 0"),
])
def test_bad_settings_name_the_variable(env: dict[str, str], message: str) -> None:
    base = {} if not env or "ASYNCBENCH_DATABASE_URL" in env else {"ASYNCBENCH_DATABASE_URL": URL}
    with pytest.raises(SettingsError, match=message.replace("(", r"\(")):
        DbSettings.from_env({**base, **env})


def test_queries_for_both_drivers() -> None:
    sleep = make_query("sleep", 250)
    assert (sleep.psycopg, sleep.asyncpg, sleep.params) == (
        "SELECT pg_sleep(%s)", "SELECT pg_sleep($1)", (0.25,))
    read = make_query("read", 0, random.Random(3))
    assert read.asyncpg.endswith("WHERE c.id = $1")
    assert isinstance(read.params[0], int) and 1 <= read.params[0] <= CUSTOMERS
    with pytest.raises(ValueError, match="unknown query kind"):
        make_query("write", 1)


def test_a_stack_name_cannot_break_the_connection_options() -> None:
    settings = DbSettings(URL, stack="my stack -c fsync=off")
    assert settings.server_settings["application_name"] == "asyncbench-my_stack_-c_fsync=off"
    assert settings.libpq_options.count("-c ") == 3
