"""The report's "Database upstream" section: throughput against pool size, beside the pool
model's line ``connections / query_time``.

Drawn only for runs whose upstream was PostgreSQL.  A stack's connections are all its
pools together (``workers x pool_size``); its throughput is the concurrent-clients mean at
the highest level measured, where the pool binds hardest.  Variants of one stack (names
``STACK[pool_size=50]``) share a line.  The read query has no fixed duration, so its
rows carry no model line.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, NullLocator

from harness.analyse.model import pool_bound_rps
from harness.report import plotting

FIGURE = "database_pool"
CAPTION = ("Database upstream: concurrent-clients throughput at the highest C against the "
           "stack's pool connections (workers × pool size; mean ± sd), one line per stack; "
           "the dashed line is the pool model, connections / query time.")


def family(stack: str) -> str:
    """The stack a variant belongs to: ``fastapi-uvicorn-pg[pool_size=50]`` -> its base name."""
    return stack.split("[", 1)[0]


def pool_rows(summary: Mapping[str, Any], config: Mapping[str, Any]) -> list[dict[str, Any]]:
    """One row per measured stack of a PostgreSQL run; empty for any other run.

    Each row: ``stack``, ``family``, ``connections``, ``level`` (C), ``measured`` and ``sd``
    (req/s), ``model`` (the pool's line, None for the read query) and ``share`` of it.
    """
    upstream = config.get("upstream") or {}
    specs: Mapping[str, Any] = config.get("stacks") or {}
    if upstream.get("kind") != "postgres" or not specs:
        return []
    cells = [c for c in summary.get("cells") or []
             if c.get("scenario") == "clients" and c.get("metric") == "throughput_rps"
             and isinstance(c.get("mean"), int | float)]
    if not cells:
        return []
    top = max(c["level"] for c in cells)
    delay_ms = config.get("delay_ms")
    query_s = (delay_ms / 1000.0 if upstream.get("query", "sleep") == "sleep"
               and isinstance(delay_ms, int | float) and delay_ms > 0 else None)
    rows = []
    for stack in config.get("stack_order") or list(specs):
        spec = specs.get(stack) or {}
        cell = next((c for c in cells if c["stack"] == stack and c["level"] == top), None)
        workers, pool = spec.get("workers"), spec.get("pool_size")
        if cell is None or not isinstance(workers, int) or not isinstance(pool, int):
            continue
        connections = workers * pool
        model = pool_bound_rps(connections, query_s) if query_s else None
        rows.append({"stack": stack, "family": family(stack), "connections": connections,
                     "level": top, "measured": float(cell["mean"]), "sd": cell.get("sd"),
                     "model": model, "share": float(cell["mean"]) / model if model else None})
    return rows


def database_section(summary: Mapping[str, Any], manifest: Mapping[str, Any],
                     figures: Mapping[str, Any]) -> dict[str, Any] | None:
    """The section's context, or None when the run's upstream was not PostgreSQL."""
    config = manifest.get("config") or {}
    upstream = config.get("upstream") or {}
    if upstream.get("kind") != "postgres":
        return None
    query = upstream.get("query", "sleep")
    return {
        "query": query,
        "query_text": ("SELECT pg_sleep(delay): pure waiting, as the mock's /delay"
                       if query == "sleep" else
                       "an indexed read of one customer joined to its orders"),
        "external": upstream.get("database_url") is not None,
        "rows": pool_rows(summary, config),
        "figures": [{"name": FIGURE, "caption": CAPTION, "ref": figures[FIGURE]}]
                   if FIGURE in figures else [],
    }


def pool_figure(summary: Mapping[str, Any], manifest: Mapping[str, Any]) -> Figure | None:
    """Throughput against connections, one line per stack, and the pool model's line."""
    rows = pool_rows(summary, manifest.get("config") or {})
    if not rows:
        return None
    fig, ax = plotting.new_figure()
    families = list(dict.fromkeys(r["family"] for r in rows))
    for i, name in enumerate(families):
        points = sorted((r["connections"], r["measured"], r["sd"] or 0.0)
                        for r in rows if r["family"] == name)
        xs, ys, sds = (list(v) for v in zip(*points, strict=True))
        ax.errorbar(xs, ys, yerr=[plotting.lower_errors(ys, sds), sds], marker="o", label=name,
                    color=plotting.PALETTE[i % len(plotting.PALETTE)])
    connections = sorted({r["connections"] for r in rows})
    modelled = sorted({(r["connections"], r["model"]) for r in rows if r["model"]})
    if modelled:
        mx, my = zip(*modelled, strict=True)
        ax.plot(mx, my, color="#777777", linestyle="--", linewidth=1.0,
                label="pool model (connections / query time)")
    ax.set_xscale("log")
    ax.set_xticks(connections, [str(c) for c in connections])
    ax.xaxis.set_minor_locator(NullLocator())
    ax.xaxis.set_major_formatter(FuncFormatter(plotting.plain))
    plotting.log_y(ax)
    ax.set_xlabel("pool connections (workers × pool size)")
    ax.set_ylabel("throughput (req/s)")
    ax.set_title(f"Database upstream: throughput against pool size (C = {rows[0]['level']})")
    ax.legend(loc="best")
    return fig
