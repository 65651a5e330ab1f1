"""The run folder's format: its file names, the record's schema version and statuses, and
the latency histogram every record encodes. One definition each, for writer and reader.

A run folder (``results/<run_id>/``)::

    manifest.json      the resolved config, seed, versions, machine, why the run stopped,
                       and ``allocation``: the adaptive rounds' plans, the seconds spent,
                       each headline cell's precision when the run finished
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
       interpreter the stack's server ran under (null where the harness did not start it);
       ``repeat`` (2, 3, ... for a cell's further trials in one round of the adaptive
       allocation; absent for the first, and in every fixed round); ``elapsed_s`` (what the
       trial cost the run, its load's ``wall_s`` and the instrument around it).
"""

from __future__ import annotations

import math
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
# An open-loop trial reports a percentile only when at least this many of its requests lie
# beyond it: a p99 needs 1,000 requests, a p99.9 10,000 (fewer would rest on one or two).
MIN_TAIL_SAMPLES = 10


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


def answers_needed(percentile: float) -> int:
    """Requests a trial needs for ``percentile`` to rest on :data:`MIN_TAIL_SAMPLES` beyond
    it: 20 for p50, 100 for p90, 1,000 for p99, 10,000 for p99.9."""
    if not 0 < percentile < 100:
        raise ValueError(f"percentile must be in (0, 100), got {percentile!r}")
    return math.ceil(round(MIN_TAIL_SAMPLES * 100 / (100 - percentile), 6))


def open_loop_summary(hist: HdrHistogram, sum_s: float, max_s: float,
                      offered: int) -> dict[str, float | None]:
    """An open-loop trial's ``latency_ms``: ``hist`` holds the answers, and the requests of
    ``offered`` that got none (timed out) count as slower than every answer.

    A percentile is None when the trial holds fewer than :func:`answers_needed` requests
    (too few to rest on), or when more than its tail went unanswered (it lies beyond the
    timeout: censored). Otherwise it is the answers' value at the same rank among all
    ``offered``. Mean and max are the answers' own.
    """
    summary = latency_summary(hist, sum_s, max_s)
    answered = hist.get_total_count()
    for name, pct in PERCENTILES:
        if not answered:
            continue
        rank = pct / 100 * max(offered, answered)  # how many requests lie at or below it
        if max(offered, answered) < answers_needed(pct) or rank > answered:
            summary[name] = None
        else:
            summary[name] = hist.get_value_at_percentile(100 * rank / answered) / 1000
    return summary


def censored(latency_ms: dict[str, float | None], name: str, offered: int,
             answered: int) -> bool:
    """Whether an open-loop record's missing percentile ``name`` lies beyond the timeout
    (more than its tail unanswered), rather than resting on too few requests."""
    pct = dict(PERCENTILES)[name]
    return latency_ms.get(name) is None and answered < pct / 100 * offered
