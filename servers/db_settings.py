"""Settings of the PostgreSQL apps, from ``ASYNCBENCH_*`` environment variables.

ASYNCBENCH_STACK               stack name echoed by /health           (default "unnamed")
ASYNCBENCH_DATABASE_URL        libpq URL of the database              (required)
ASYNCBENCH_DB_QUERY            "sleep" (pg_sleep) or "read" (indexed join)  (default "sleep")
ASYNCBENCH_DB_SCHEMA           schema holding the seeded tables       (default "asyncbench")
ASYNCBENCH_POOL_SIZE           connections in this process's pool, >= 1    (default 10)
ASYNCBENCH_UPSTREAM_TIMEOUT_S  wait for a connection, and statement timeout, > 0 (default 30)
"""

from __future__ import annotations

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from servers.errors import SettingsError
from servers.settings import (
    DEFAULT_STACK,
    DEFAULT_UPSTREAM_TIMEOUT_S,
    ENV_POOL_SIZE,
    ENV_STACK,
    ENV_UPSTREAM_TIMEOUT_S,
    env_float,
    env_int,
    env_required,
)

ENV_DATABASE_URL = "ASYNCBENCH_DATABASE_URL"
ENV_DB_QUERY = "ASYNCBENCH_DB_QUERY"
ENV_DB_SCHEMA = "ASYNCBENCH_DB_SCHEMA"

QUERY_KINDS = ("sleep", "read")
DEFAULT_SCHEMA = "asyncbench"
DEFAULT_DB_POOL_SIZE = 10
_IDENTIFIER = re.compile(r"[a-z_][a-z0-9_]{0,62}")


@dataclass(frozen=True)
class DbSettings:
    """What a PostgreSQL app needs: where the database is, which query, how many connections."""

    database_url: str
    stack: str = DEFAULT_STACK
    query: str = "sleep"
    schema: str = DEFAULT_SCHEMA
    pool_size: int = DEFAULT_DB_POOL_SIZE
    timeout_s: float = DEFAULT_UPSTREAM_TIMEOUT_S

    def __post_init__(self) -> None:
        if not self.stack.strip():
            raise SettingsError(f"{ENV_STACK} must not be blank, got {self.stack!r}")
        if not self.database_url.startswith(("postgresql://", "postgres://")):
            raise SettingsError(f"{ENV_DATABASE_URL} must be a postgresql:// URL, "
                                f"got {self.database_url[:40]!r}")
        if self.query not in QUERY_KINDS:
            raise SettingsError(f"{ENV_DB_QUERY} must be one of {', '.join(QUERY_KINDS)}, "
                                f"got {self.query!r}")
        # The schema is put into SQL and server options: only a plain identifier will do.
        if _IDENTIFIER.fullmatch(self.schema) is None:
            raise SettingsError(f"{ENV_DB_SCHEMA} must be a lower-case identifier, "
                                f"got {self.schema!r}")
        if isinstance(self.pool_size, bool) or not isinstance(self.pool_size, int) \
                or self.pool_size < 1:
            raise SettingsError(f"{ENV_POOL_SIZE} must be an integer >= 1, got {self.pool_size!r}")
        if not math.isfinite(self.timeout_s) or self.timeout_s <= 0:
            raise SettingsError(f"{ENV_UPSTREAM_TIMEOUT_S} must be > 0 and finite, "
                                f"got {self.timeout_s}")

    @property
    def statement_timeout_ms(self) -> int:
        """The server-side limit of one query, so a stuck query becomes an error (502)."""
        return max(1, round(self.timeout_s * 1000))

    @property
    def server_settings(self) -> dict[str, str]:
        """Session settings every pooled connection starts with."""
        # The name goes into libpq's space-separated options: keep it to plain characters.
        name = re.sub(r"[^A-Za-z0-9_.=\[\]-]", "_", f"asyncbench-{self.stack}")[:63]
        return {"search_path": self.schema, "statement_timeout": str(self.statement_timeout_ms),
                "application_name": name}

    @property
    def libpq_options(self) -> str:
        """``server_settings`` as libpq's ``options`` connection parameter (psycopg)."""
        return " ".join(f"-c {key}={value}" for key, value in self.server_settings.items())

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> DbSettings:
        """Read and validate the variables of ``environ`` (default os.environ).

        Raises:
            SettingsError: a variable is missing or invalid; the message names it.
        """
        env = os.environ if environ is None else environ
        return cls(
            database_url=env_required(env, ENV_DATABASE_URL,
                                      "postgresql://postgres@127.0.0.1:5432/postgres"),
            stack=env.get(ENV_STACK, DEFAULT_STACK),
            query=env.get(ENV_DB_QUERY, "sleep").strip(),
            schema=env.get(ENV_DB_SCHEMA, DEFAULT_SCHEMA).strip(),
            pool_size=env_int(env, ENV_POOL_SIZE, DEFAULT_DB_POOL_SIZE),
            timeout_s=env_float(env, ENV_UPSTREAM_TIMEOUT_S, DEFAULT_UPSTREAM_TIMEOUT_S),
        )
