"""The run folder's format: its file names, the record's schema version and statuses, and
the latency histogram every record encodes. One definition each, for writer and reader.

A run folder (``results/<run_id>/``)::

    manifest.json      the resolved config, seed, versions, machine, why the run stopped
    trials.jsonl       one trial record per line, flushed and synced as each trial ends
    logs/              the output of every process the harness started
    pids.jsonl         every child started (group, start time, token), to end them if the
                       harness was killed
    reruns/            records of ``rerun``, never mixed into trials.jsonl
    report.md, report.html, figures/*.svg

Record format history (``schema_version``):
    1  first version: identity (run_id, trial_id, round, order), scenario, stack, level,
       params, status and error, requests by outcome, latency_ms summary, metrics,
       hdr (base64 HDR histogram of latencies in microseconds), checks, resources.
       Added since, optional (absent from older records): python, the version of the
       interpreter the stack's server ran under (null where the harness did not start it).
"""

from __future__ import annotations

import re

from hdrh.histogram import HdrHistogram

MANIFEST_NAME = "manifest.json"
TRIALS_NAME = "trials.jsonl"
LOGS_DIR = "logs"
PIDS_NAME = "pids.jsonl"
RERUNS_DIR = "reruns"
FIGURES_DIR = "figures"
REPORT_FILES = ("report.md", "report.html")

# A run's id names its folder and its bundle's top folder: a plain name, never a path.
RUN_ID_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

SCHEMA_VERSION = 1
STATUSES = ("ok", "failed", "invalid")

HDR_LOWEST_US = 1
HDR_HIGHEST_US = 120_000_000  # the longest request timeout a config allows
HDR_DIGITS = 3
PERCENTILES = (("p50", 50.0), ("p90", 90.0), ("p99", 99.0), ("p999", 99.9))


def new_histogram() -> HdrHistogram:
    """An empty latency histogram in microseconds, up to two minutes, 3 significant digits."""
    return HdrHistogram(HDR_LOWEST_US, HDR_HIGHEST_US, HDR_DIGITS)


def encode_latencies(latencies_s: list[float]) -> tuple[str, HdrHistogram]:
    """Record latencies (seconds) in a histogram; return it encoded as ASCII and itself."""
    hist = new_histogram()
    for latency in latencies_s:
        hist.record_value(min(HDR_HIGHEST_US, max(HDR_LOWEST_US, round(latency * 1e6))))
    return hist.encode().decode("ascii"), hist


def latency_summary(hist: HdrHistogram, sum_s: float, max_s: float) -> dict[str, float | None]:
    """A record's ``latency_ms``: mean (from the exact sum) and max exactly, percentiles from
    ``hist``; milliseconds; every value None when the histogram is empty."""
    count = hist.get_total_count()
    if not count:
        return dict.fromkeys(("mean", *(name for name, _ in PERCENTILES), "max"), None)
    return {
        "mean": round(1000 * sum_s / count, 4),
        **{name: hist.get_value_at_percentile(pct) / 1000 for name, pct in PERCENTILES},
        "max": round(1000 * max_s, 4),
    }
