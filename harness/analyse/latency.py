"""Latency across a cell's trials: their HDR histograms merged, for display only (requests
inside a trial are not independent samples), and the percentile spectrum of the rate
scenario with and without the coordinated-omission correction.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Any

from hdrh.histogram import HdrHistogram

from harness.analyse.cells import CellKey
from harness.analyse.metrics import sort_key
from harness.rundir.format import new_histogram

SPECTRUM = (50.0, 75.0, 90.0, 95.0, 99.0, 99.5, 99.9, 99.95, 99.99)
"""Percentiles of the spectrum; the maximum is added as 100."""


def merged_histogram(trials: Iterable[Mapping[str, Any]], key: str,
                     warnings: list[str]) -> HdrHistogram:
    """The sum of the trials' histograms stored under ``key`` (``hdr`` or
    ``uncorrected_hdr``); an undecodable one is left out with a warning."""
    merged = new_histogram()
    for trial in trials:
        encoded = trial.get(key)
        if not isinstance(encoded, str) or not encoded:
            continue
        try:
            merged.decode_and_add(encoded)
        except Exception as exc:  # hdrh raises assorted types (TypeError, zlib.error, ...)
            warnings.append(f"trial {trial['trial_id']}: HDR histogram not decodable "
                            f"({type(exc).__name__}); left out of pooled latency")
    return merged


def _curve(hist: HdrHistogram) -> list[float] | None:
    if hist.get_total_count() == 0:
        return None
    return [hist.get_value_at_percentile(p) / 1000.0 for p in SPECTRUM] + [
        hist.get_max_value() / 1000.0]


def spectrum(ok: Mapping[CellKey, list[Mapping[str, Any]]],
             warnings: list[str]) -> list[dict[str, Any]]:
    """Per rate cell: latency (ms) at each percentile of :data:`SPECTRUM` and the maximum,
    from the intended send (``corrected_ms``) and from the actual send (``uncorrected_ms``,
    None for records that did not keep that histogram)."""
    rows = []
    for key in sorted(ok, key=sort_key):
        if key[0] != "rate":
            continue
        corrected = _curve(merged_histogram(ok[key], "hdr", warnings))
        if corrected is None:
            continue
        rows.append({"scenario": key[0], "level": key[1], "stack": key[2],
                     "percentiles": [*SPECTRUM, 100.0], "corrected_ms": corrected,
                     "uncorrected_ms": _curve(merged_histogram(ok[key], "uncorrected_hdr",
                                                               [])),
                     "nines": [round(-math.log10(1 - p / 100), 4) for p in SPECTRUM]})
    return rows
