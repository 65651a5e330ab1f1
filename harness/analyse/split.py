"""Server or paradigm? The headline ratio split into its server part and its paradigm part.

The headline compares an async app on its own server with a sync app on another (Quart on
Hypercorn against Flask on gunicorn gthread), so two things change at once. When the run
also measured both apps on one server that serves both (Granian), the same ratio of means
splits exactly, every ratio oriented as a speedup (above 1 the first stack is better)::

    headline      quart-hypercorn / flask-gunicorn
      = paradigm      quart-granian / flask-granian       two paradigms, one server
      x sync server   flask-granian / flask-gunicorn      the sync app, two servers
      / async server  quart-granian / quart-hypercorn     the async app, two servers

Each part is a ratio of the means of two independent arms with Fieller's interval
(``stats.speedup``), on the scenario's headline metric, estimated as the summary's
speedups are (throughput from the durations). A split is found for every scenario, level
and variant suffix (``[settings]``, ``@3.12``) at which all four stacks have trials.

The parts a summary does not already compare (a stack against its baseline) are new
tests of the headline family (``analyse.pairs``), so its family-wise error holds over
them too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from harness.analyse.cells import Attrition, CellKey, MetricKey, finite
from harness.analyse.metrics import HEADLINE_METRICS, sort_key
from harness.analyse.pairs import Levels, PairKey, compare_pair

PARTS = ("headline", "paradigm", "sync_server", "async_server")
"""The ratios of one split, in the order the report shows them."""


@dataclass(frozen=True)
class Split:
    """The four stacks of one split: each app on its own server and on the shared one."""

    sync_home: str
    sync_shared: str
    async_home: str
    async_shared: str

    def pairs(self) -> dict[str, tuple[str, str]]:
        """Each part as ``(stack, compared with)``: above 1, ``stack`` is better."""
        return {"headline": (self.async_home, self.sync_home),
                "paradigm": (self.async_shared, self.sync_shared),
                "sync_server": (self.sync_shared, self.sync_home),
                "async_server": (self.async_shared, self.async_home)}

    def stacks(self) -> tuple[str, str, str, str]:
        """The four stack names."""
        return (self.sync_home, self.sync_shared, self.async_home, self.async_shared)

    def with_suffix(self, suffix: str) -> Split:
        """The same split among the variants named ``STACK + suffix``."""
        return Split(*(name + suffix for name in self.stacks()))


SPLITS = (
    Split("flask-gunicorn", "flask-granian", "quart-hypercorn", "quart-granian"),
    Split("flask-gunicorn", "flask-granian", "fastapi-uvicorn", "fastapi-granian"),
)
"""The splits the built-in stacks make: Flask and each async app on their own servers and
on Granian, which serves WSGI and ASGI alike."""


@dataclass(frozen=True)
class SplitCell:
    """One split at one scenario and level (``suffix`` names the variants, ``""`` none)."""

    scenario: str
    level: int
    suffix: str
    split: Split


def _suffixes(base: str, stacks: Iterable[str]) -> list[str]:
    """The variant suffixes of ``base`` among ``stacks``: ``""``, ``[p=v]``, ``@3.12`` ..."""
    found = []
    for name in stacks:
        rest = name[len(base):]
        if name.startswith(base) and (rest == "" or rest[0] in "[@"):
            found.append(rest)
    return found


def split_cells(cells: Iterable[CellKey],
                splits: Iterable[Split] = SPLITS) -> list[SplitCell]:
    """Every split whose four stacks have trials at a scenario and level with a headline
    metric, sorted by scenario, level, suffix and the split's order."""
    at: dict[tuple[str, int], set[str]] = {}
    for scenario, level, stack in cells:
        if scenario in HEADLINE_METRICS:
            at.setdefault((scenario, level), set()).add(stack)
    found = []
    for rank, split in enumerate(splits):
        for (scenario, level), stacks in at.items():
            for suffix in _suffixes(split.sync_home, stacks):
                if set(split.with_suffix(suffix).stacks()) <= stacks:
                    found.append((sort_key((scenario, level)), suffix, rank,
                                  SplitCell(scenario, level, suffix, split.with_suffix(suffix))))
    return [cell for *_, cell in sorted(found, key=lambda f: (f[0], f[1], f[2]))]


def pair_keys(cells: Iterable[SplitCell]) -> set[PairKey]:
    """Every comparison the splits make, as ``(scenario, level, stack, compared with)``."""
    return {(c.scenario, c.level, stack, other)
            for c in cells for stack, other in c.split.pairs().values()}


def split_rows(cells: Iterable[SplitCell], values: Mapping[MetricKey, list[float]],
               lost_at: Mapping[CellKey, Attrition], levels: Levels) -> list[dict[str, Any]]:
    """One row per split cell: its four stacks and its parts (:data:`PARTS`, each a
    ``pairs.compare_pair`` entry with its ``part`` name), plus ``server_factor``, the
    headline over the paradigm part (= sync server / async server): a point estimate
    with no interval of its own."""
    rows = []
    for cell in cells:
        parts = {name: {"part": name, **compare_pair((cell.scenario, cell.level, *pair),
                                                     values, lost_at, levels)}
                 for name, pair in cell.split.pairs().items()}
        head, paradigm = parts["headline"]["ratio"], parts["paradigm"]["ratio"]
        rows.append({
            "scenario": cell.scenario, "level": cell.level, "suffix": cell.suffix,
            "sync_home": cell.split.sync_home, "sync_shared": cell.split.sync_shared,
            "async_home": cell.split.async_home, "async_shared": cell.split.async_shared,
            "metric": HEADLINE_METRICS[cell.scenario], "parts": [parts[n] for n in PARTS],
            "server_factor": finite(head / paradigm) if head and paradigm else None,
        })
    return rows
