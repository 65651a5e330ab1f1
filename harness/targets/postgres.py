"""PostgreSQL as the stacks' upstream: a throw-away server the harness starts, or one it is
pointed at, seeded with the data set the apps' ``read`` query joins.

``running_postgres`` finds the system's binaries (Debian: ``/usr/lib/postgresql/V/bin``),
runs ``initdb`` into a temporary folder (as ``nobody`` when the harness runs as root:
``initdb`` refuses root), starts ``postgres`` on 127.0.0.1 on a free port with fsync off
and ``max_connections`` sized to the stack, seeds it, and on any exit stops it through
``process.managed_process`` (fast shutdown, then the whole group killed and reaped) and
removes the folder.  ``existing_postgres`` uses a server someone else runs: it creates a
schema of its own, seeds it, and drops only that schema.

Seeded tables (the apps' ``servers/db_queries.py`` reads them; its ``CUSTOMERS`` must
equal ``CUSTOMERS`` here): ``customers(id, name, region)``, 10 000 rows, and
``orders(id, customer_id, amount)``, 100 000 rows indexed on ``customer_id``.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import re
import secrets
import shutil
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import psycopg
from psycopg import sql

from harness.config.upstream import redacted_url
from harness.errors import StackExitedError, StackStartError, TargetError
from harness.targets import leftovers
from harness.targets.explain import explaining_line
from harness.targets.process import ChildProcess, as_user, managed_process
from harness.targets.sockets import free_port

PACKAGE = "postgresql"
BIN_GLOB = "/usr/lib/postgresql/*/bin"
SCHEMA = "asyncbench"
CUSTOMERS = 10_000
ORDERS = 100_000
# Connections beyond the stack's pools: the harness's own (seeding, activity sampling).
RESERVED_CONNECTIONS = 5
UNPRIVILEGED_USER = "nobody"

_SEED = (
    "CREATE SCHEMA {schema}",
    "CREATE TABLE {schema}.customers (id integer PRIMARY KEY, name text NOT NULL, "
    "region text NOT NULL)",
    "CREATE TABLE {schema}.orders (id integer PRIMARY KEY, customer_id integer NOT NULL "
    "REFERENCES {schema}.customers (id), amount numeric(10, 2) NOT NULL)",
    "INSERT INTO {schema}.customers SELECT i, 'customer ' || i, "
    "(ARRAY['north', 'south', 'east', 'west'])[1 + i % 4] "
    f"FROM generate_series(1, {CUSTOMERS}) AS i",
    # Spread orders over customers by a multiplicative step, about ten each.
    f"INSERT INTO {{schema}}.orders SELECT i, 1 + (i * 7919) % {CUSTOMERS}, (i % 1000) / 10.0 "
    f"FROM generate_series(1, {ORDERS}) AS i",
    "CREATE INDEX orders_customer_id ON {schema}.orders (customer_id)",
    "ANALYZE {schema}.customers",
    "ANALYZE {schema}.orders",
)


@dataclass
class PostgresEndpoint:
    """A running PostgreSQL as a stack's upstream endpoint: its URL is a libpq URL.

    ``child`` is the server process when the harness started it, ``None`` for a server
    someone else runs (then liveness is asked by connecting).
    """

    url: str
    schema: str
    child: ChildProcess | None = None
    name: str = "postgres"
    command: list[str] = field(default_factory=list)

    @property
    def base_url(self) -> str:
        """The database URL the apps connect to."""
        return self.url

    @property
    def known_pids(self) -> set[int]:
        """Every pid of the server's tree seen so far (none for a server not started here)."""
        return self.child.known_pids if self.child else set()

    def tree(self) -> list[psutil.Process]:
        """The postmaster and its backends, when the harness started them."""
        return self.child.tree() if self.child else []

    def tail(self, lines: int = 15) -> str:
        """The server's last log lines, when the harness started it."""
        return self.child.tail(lines) if self.child else ""

    def alive(self) -> bool:
        """True while the server runs (or, not started here, accepts a connection)."""
        if self.child is not None:
            return self.child.alive()
        return connect_problem(self.url) is None

    def ensure_alive(self) -> None:
        """Raise StackExitedError when the server is gone."""
        if self.child is not None:
            self.child.ensure_alive()
            return
        problem = connect_problem(self.url)
        if problem is not None:
            raise StackExitedError(f"PostgreSQL at {redacted_url(self.url)} no longer accepts "
                                   f"connections ({problem})", self.command)


def connect_problem(url: str, timeout_s: float = 3.0) -> str | None:
    """Why a connection to ``url`` fails, on one line; None when it succeeds."""
    try:
        with psycopg.connect(url, connect_timeout=max(1, round(timeout_s))):
            return None
    except psycopg.Error as exc:
        return " ".join(str(exc).split())[:200] or type(exc).__name__


def find_bin_dir(pattern: str = BIN_GLOB) -> Path:
    """The folder holding ``initdb`` and ``postgres``: the newest Debian version, else PATH.

    Raises:
        TargetError: no PostgreSQL binaries are installed; the message names the package.
    """
    def version(folder: str) -> tuple[int, ...]:
        digits = re.findall(r"\d+", Path(folder).parent.name)
        return tuple(int(d) for d in digits)

    candidates = [Path(d) for d in sorted(glob.glob(pattern), key=version, reverse=True)]
    on_path = shutil.which("initdb")
    if on_path:
        candidates.append(Path(on_path).resolve().parent)
    for folder in candidates:
        if all(os.access(folder / tool, os.X_OK) for tool in ("initdb", "postgres")):
            return folder
    raise TargetError(f"no PostgreSQL binaries (initdb, postgres) found in {pattern} or on "
                      f"PATH: install the {PACKAGE!r} package (apt-get install {PACKAGE})")


def server_uid() -> int | None:
    """The uid the server runs as: ``nobody`` when the harness is root, else the harness's."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(UNPRIVILEGED_USER).pw_uid
    except KeyError:
        raise TargetError(f"running as root, and no user {UNPRIVILEGED_USER!r} to run "
                          "PostgreSQL as (initdb refuses root)") from None


def seed(url: str, schema: str = SCHEMA) -> None:
    """Create ``schema`` and fill its two tables (about 110 000 rows, one index)."""
    with psycopg.connect(url, autocommit=True) as conn:
        for statement in _SEED:
            conn.execute(sql.SQL(statement).format(schema=sql.Identifier(schema)))


def drop_schema(url: str, schema: str) -> None:
    """Drop ``schema`` and everything in it; a server that is gone is not an error here."""
    with contextlib.suppress(psycopg.Error), psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def postgres_command(bin_dir: Path, data: Path, socket_dir: Path, host: str, port: int,
                     max_connections: int) -> list[str]:
    """The server's command line: loopback only, durability off (the data is throw-away)."""
    settings = {"listen_addresses": host, "max_connections": str(max_connections),
                "fsync": "off", "synchronous_commit": "off", "full_page_writes": "off",
                # One backend per query keeps "one query, one connection" true.
                "max_parallel_workers_per_gather": "0"}
    argv = [str(bin_dir / "postgres"), "-D", str(data), "-k", str(socket_dir), "-p", str(port)]
    for key, value in settings.items():
        argv += ["-c", f"{key}={value}"]
    return argv


def _initdb(bin_dir: Path, data: Path, uid: int | None, timeout_s: float) -> None:
    command = [str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "--auth=trust",
               "-E", "UTF8", "--locale=C", "--no-sync"]
    try:
        done = subprocess.run(command, cwd=data.parent, capture_output=True, text=True,
                              timeout=timeout_s, check=False, **as_user(uid))
    except subprocess.TimeoutExpired:
        raise StackStartError(f"initdb did not finish within {timeout_s:g} s", command) from None
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()
        raise StackStartError(f"initdb failed with code {done.returncode}: "
                              f"{explaining_line(output)}", command, output)


def _wait_ready(url: str) -> Callable[[ChildProcess, float], None]:
    def ready(child: ChildProcess, deadline_s: float) -> None:
        deadline = time.monotonic() + deadline_s
        while True:
            code = child.popen.poll()
            if code is not None:
                raise StackStartError(f"postgres exited with code {code} before accepting "
                                      f"connections ({child.explanation()})", child.command,
                                      child.tail())
            problem = connect_problem(url, timeout_s=2)
            if problem is None:
                return
            if time.monotonic() > deadline:
                raise StackStartError(f"postgres did not accept connections within "
                                      f"{deadline_s:g} s ({problem})", child.command,
                                      child.tail())
            time.sleep(0.1)
    return ready


@contextlib.contextmanager
def running_postgres(max_connections: int, *, host: str = "127.0.0.1",
                     health_timeout_s: float = 60.0, log_dir: Path | None = None,
                     bin_dir: Path | None = None, netns: str | None = None,
                     cpus: frozenset[int] | None = None,
                     clients: str | None = None) -> Iterator[PostgresEndpoint]:
    """A throw-away, seeded PostgreSQL on ``host`` (in network namespace ``netns`` and only
    on ``cpus`` when given); stopped, reaped and removed on any exit. ``clients`` (a
    network, e.g. a run's namespaces' subnet) may connect besides loopback."""
    bin_dir = bin_dir or find_bin_dir()
    uid = server_uid()
    with contextlib.ExitStack() as stack:
        # The folder stays the harness's (a later run removes it only if it is; see
        # leftovers); the server's data and socket folders inside are the server's user's.
        root = leftovers.temporary_folder("pg")
        stack.callback(shutil.rmtree, root, ignore_errors=True)
        data, sockets = root / "data", root / "socket"
        for folder in (data, sockets):
            folder.mkdir(mode=0o700)
            if uid is not None:
                os.chown(folder, uid, pwd.getpwuid(uid).pw_gid)
        if uid is not None:
            root.chmod(0o711)  # the server's user may pass through, not list
        _initdb(bin_dir, data, uid, health_timeout_s)
        if clients is not None:  # initdb's pg_hba.conf lets loopback clients in, no others
            with (data / "pg_hba.conf").open("a", encoding="utf-8") as hba:
                hba.write(f"host all all {clients} trust\n")
        port = free_port(host, netns)  # PostgreSQL needs its port named
        url = f"postgresql://postgres@{host}:{port}/postgres"
        command = postgres_command(bin_dir, data, sockets, host, port, max_connections)
        child = stack.enter_context(managed_process(
            "postgres", command, os.environ, host, port=port, health_timeout_s=health_timeout_s,
            log_dir=log_dir, cwd=root, ready=_wait_ready(url),
            user=uid, stop_signal=signal.SIGINT,  # SIGINT: PostgreSQL's fast shutdown
            netns=netns, cpus=cpus))
        seed(url)
        yield PostgresEndpoint(url=url, schema=SCHEMA, child=child, command=command)


@contextlib.contextmanager
def existing_postgres(url: str) -> Iterator[PostgresEndpoint]:
    """A server someone else runs: a fresh schema of ours, seeded, dropped on any exit."""
    problem = connect_problem(url)
    if problem is not None:
        raise TargetError(f"[upstream] database_url {redacted_url(url)}: cannot connect "
                          f"({problem})")
    schema = f"{SCHEMA}_{os.getpid()}_{secrets.token_hex(4)}"
    try:
        seed(url, schema)
        yield PostgresEndpoint(url=url, schema=schema, command=["external", redacted_url(url)])
    finally:
        drop_schema(url, schema)
