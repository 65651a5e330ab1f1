"""The [upstream] table: the mock by default, PostgreSQL with its query and stacks."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.config.catalogue import DB_BUILTIN_STACKS, DB_STACKS
from harness.config.load import config_from_dict, config_from_resolved, load_config, with_query
from harness.config.upstream import Upstream, redacted_url
from harness.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
PG = {"upstream": {"kind": "postgres"}, "scenarios": {"clients": {"levels": [10]}}}


def test_without_the_table_the_upstream_is_the_mock_and_the_digest_unchanged() -> None:
    config = config_from_dict({"scenarios": {"clients": {"levels": [10]}}})
    assert config.upstream == Upstream()
    assert "upstream" not in config.resolved()


def test_a_postgres_config_measures_the_database_stacks_by_default() -> None:
    config = config_from_dict(PG)
    assert [s.name for s in config.stacks] == list(DB_STACKS)
    assert config.baseline == "flask-gunicorn-pg"
    assert {s.pool_size for s in config.stacks} == {10}  # equal pools across stacks
    resolved = config.resolved()
    assert {k: resolved["upstream"][k] for k in ("kind", "database_url", "query")} == {
        "kind": "postgres", "database_url": None, "query": "sleep"}
    assert resolved["upstream"]["profile"] == "fixed"  # the mock's fields keep their defaults
    assert config_from_resolved(resolved) == config


@pytest.mark.parametrize(("table", "message"), [
    ({"kind": "mysql"}, "[upstream] kind = 'mysql': must be one of mock, postgres"),
    ({"kind": "postgres", "query": "write"}, "[upstream] query = 'write': must be one of"),
    ({"query": "read"}, "[upstream] query = 'read': only with kind = \"postgres\""),
    ({"database_url": "postgresql://h/db"}, "[upstream] database_url = 'postgresql://h/db': "
                                            "only with kind"),
    ({"kind": "postgres", "database_url": "mysql://h/db"}, "must be a postgresql://"),
    ({"kind": "postgres", "pool": 3}, "[upstream] pool = 3: unknown key"),
])
def test_bad_upstream_tables_are_refused_naming_key_and_value(table: dict[str, object],
                                                              message: str) -> None:
    with pytest.raises(ConfigError) as info:
        config_from_dict({"upstream": table, "scenarios": {"clients": {"levels": [1]}}})
    assert message in str(info.value)


def test_apps_must_match_the_upstream() -> None:
    with pytest.raises(ConfigError, match=r"\[stacks.flask-gunicorn\] app = 'flask': must be "
                                          r"one of flask-pg, .* with \[upstream\] kind = "
                                          r"'postgres'"):
        config_from_dict({**PG, "run": {"stacks": ["flask-gunicorn", "flask-gunicorn-pg"]}})
    with pytest.raises(ConfigError, match=r"app = 'quart-pg': must be an app of the mock upstream"):
        config_from_dict({"run": {"stacks": ["flask-gunicorn", "quart-hypercorn-pg"]},
                          "scenarios": {"clients": {"levels": [1]}}})


def test_database_apps_need_a_production_server_and_the_local_target() -> None:
    with pytest.raises(ConfigError, match="runs on a production server, not dev or gevent"):
        config_from_dict({**PG, "run": {"stacks": ["x"]},
                          "stacks": {"x": {"app": "flask-pg", "server": "dev",
                                           "worker_class": "threaded"}}})
    with pytest.raises(ConfigError, match='run with target = "local"'):
        config_from_dict({**PG, "run": {"target": "compose"}})


def test_the_query_is_overridden_only_on_postgres() -> None:
    config = load_config(ROOT / "configs" / "postgres.toml")
    assert config.upstream.query == "sleep"
    assert with_query(config.upstream, "read").query == "read"
    with pytest.raises(ConfigError, match="command line: --query read: the config's upstream "
                                          "is 'mock'"):
        with_query(Upstream(), "read")


def test_postgres_toml_states_pool_10_and_50_for_every_stack() -> None:
    config = load_config(ROOT / "configs" / "postgres.toml")
    pools: dict[str, set[int]] = {}
    for spec in config.stacks:
        pools.setdefault(spec.app, set()).add(spec.pool_size)
        if spec.app == "flask-pg":  # one thread per connection, so the pool can be used
            assert spec.threads == spec.pool_size
    assert pools == {DB_BUILTIN_STACKS[n]["app"]: {10, 50} for n in DB_STACKS}


def test_the_manifest_never_holds_the_database_password() -> None:
    upstream = Upstream(kind="postgres", database_url="postgresql://bob:s3cret@db:5432/app")
    assert upstream.resolved()["database_url"] == "postgresql://bob:***@db:5432/app"
    assert redacted_url("postgresql://bob@db/app") == "postgresql://bob@db/app"
