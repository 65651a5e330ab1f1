"""The two queries of the PostgreSQL apps, written once for both drivers.

``sleep``  ``SELECT pg_sleep(D)``: pure waiting, comparable with the mock's ``/delay``.
``read``   an indexed lookup of one customer joined to its orders (about ten rows),
           on the data set the harness seeds (``harness.targets.postgres``): tables
           ``customers(id, name, region)`` and ``orders(id, customer_id, amount)``
           with an index on ``orders.customer_id``.

psycopg writes parameters as ``%s``, asyncpg as ``$1``; ``Query`` holds both.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# The seeded customers are numbered 1..CUSTOMERS; the harness seeds the same count.
CUSTOMERS = 10_000

SLEEP_SQL = "SELECT pg_sleep({0})"
READ_SQL = ("SELECT c.name, c.region, o.id, o.amount FROM customers c "
            "JOIN orders o ON o.customer_id = c.id WHERE c.id = {0}")


@dataclass(frozen=True)
class Query:
    """One statement with its parameters, ready for either driver."""

    template: str
    params: tuple[float | int, ...]

    @property
    def psycopg(self) -> str:
        """The statement with psycopg's placeholders."""
        return self.template.format("%s")

    @property
    def asyncpg(self) -> str:
        """The statement with asyncpg's placeholders."""
        return self.template.format("$1")


def make_query(kind: str, delay_ms: int, rng: random.Random | None = None) -> Query:
    """The statement of one call: ``sleep`` waits ``delay_ms``; ``read`` reads a random customer."""
    if kind == "sleep":
        return Query(SLEEP_SQL, (delay_ms / 1000.0,))
    if kind == "read":
        return Query(READ_SQL, ((rng or random).randint(1, CUSTOMERS),))
    raise ValueError(f"unknown query kind {kind!r}")
