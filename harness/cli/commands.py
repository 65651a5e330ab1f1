"""Every command's arguments, and the module that runs it.

The parser is built from this module alone; a command's module (and with it scipy,
matplotlib, aiohttp or the measuring wings) is imported only when that command runs, so
``--help`` answers at once and ``verify`` reads an untrusted bundle in a small process.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from harness.cli.common import (
    RESULTS,
    config_arg,
    duration,
    fraction,
    help_with,
    host_port,
    name_list,
    nonneg_float,
    nonneg_int,
    percent,
    positive_float,
    positive_int,
    scenario_levels,
    workers_arg,
)
from harness.config.loadgen import ENGINES
from harness.config.schema import ALLOCATIONS, TARGETS
from harness.config.upstream import QUERY_KINDS

STACKS_EXAMPLES = """  python -m harness stacks
  python -m harness stacks --config examples/falcon/asyncbench.toml
  python -m harness stacks --config configs/controls.toml --names
"""


def allow_remote_arg(parser: argparse.ArgumentParser) -> None:
    """``--allow-remote``: obey a recorded non-loopback host or non-local target."""
    parser.add_argument("--allow-remote", action="store_true",
                        help="with a recorded run folder: allow a non-loopback [run] host or a "
                             "compose or external target (refused otherwise)")


def listing(sub: Any) -> None:
    """``stacks``."""
    p = sub.add_parser("stacks", help="list every stack (built-in and from a config) and "
                                      "its settings", **help_with(STACKS_EXAMPLES))
    config_arg(p, default=None)
    p.add_argument("--names", action="store_true", help="print the names only")
    p.set_defaults(handler="listing:cmd_stacks")

    p = sub.add_parser("pythons", help="list the interpreters [run] pythons can name, and "
                                       "build their locked environments", **help_with(
        "  python -m harness pythons\n"
        "  python -m harness pythons --config configs/pythons.toml\n"
        "  python -m harness pythons --build 3.12 3.13     # what nox -s pythons runs\n"))
    p.add_argument("labels", nargs="*", metavar="LABEL",
                   help="interpreters such as 3.12 or 3.13t (default: the config's [run] "
                        "pythons, else the usual ones)")
    config_arg(p, default=None)
    p.add_argument("--build", action="store_true",
                   help="build each one's environment from uv.lock (.pythons/LABEL)")
    p.set_defaults(handler="pythons:cmd_pythons")


def measuring(sub: Any) -> None:
    """The commands that start servers and measure."""
    p = sub.add_parser("check", help="start every stack and check the app contract", **help_with(
        "  python -m harness check --config configs/quick.toml\n"
        "  python -m harness check --config examples/falcon/asyncbench.toml -v\n"))
    config_arg(p)
    p.add_argument("-v", "--verbose", action="store_true", help="show failing commands' output")
    p.set_defaults(handler="measuring:cmd_check")

    p = sub.add_parser("run", help="run the benchmark matrix into a new run folder", **help_with(
        "  python -m harness run --config configs/quick.toml\n"
        "  python -m harness run --stacks flask-gunicorn,fastapi-uvicorn --levels fanout=1,5 "
        "--levels clients=10,50 --delay-ms 50 --rounds 3\n"
        "  python -m harness run --allocation adaptive --min-rounds 3 --max-rounds 40 "
        "--target-ci 0.05 --budget 10m\n"))
    config_arg(p)
    p.add_argument("--stacks", type=name_list, metavar="A,B",
                   help="measure these stacks (built-in or the config's; see `stacks`); the "
                        "baseline is the config's if listed, else the first")
    p.add_argument("--levels", type=scenario_levels, action="append", metavar="SCENARIO=L,L",
                   help="run this scenario at these levels, e.g. fanout=1,5 (repeat for "
                        "others); only the scenarios given run")
    p.add_argument("--delay-ms", type=nonneg_int, help="upstream delay per call, ms "
                   "(default: config)")
    p.add_argument("--rounds", type=positive_int,
                   help="rounds to run (the minimum, with --target-ci)")
    p.add_argument("--min-rounds", type=positive_int, help="same as --rounds")
    p.add_argument("--max-rounds", type=positive_int, help="most rounds with --target-ci")
    p.add_argument("--target-ci", type=fraction, help="add rounds until every headline "
                   "speedup's CI half-width is at most this fraction of the ratio (e.g. 0.05)")
    p.add_argument("--allocation", choices=ALLOCATIONS, help="fixed: every cell every round; "
                   "adaptive: after the minimum rounds, trials only for the cells still wider "
                   "than --target-ci, where the width falls fastest per second")
    p.add_argument("--budget", type=duration, metavar="DURATION",
                   help="wall-clock budget of the run, e.g. 90s, 10m, 1h: no round or trial "
                        "starts that is not expected to end within it")
    p.add_argument("--seed", type=nonneg_int, help="seed of the trial order (default: config)")
    p.add_argument("--out", type=Path, default=RESULTS, help="results root (default results/)")
    p.add_argument("--no-report", action="store_true", help="do not render the report at the end")
    p.add_argument("--run-id", metavar="NAME", help="name the run folder (and the run's id) "
                   "NAME instead of the time and the config's name; refused if it exists "
                   "(e.g. --run-id example)")
    p.add_argument("--target", choices=TARGETS, help="where the stacks run: local processes "
                   "(the default), compose (docker-compose.yml on this machine's Docker "
                   "engine) or external (servers already running, URLs in [external])")
    p.add_argument("--query", choices=QUERY_KINDS, help="the database query of a "
                   "[upstream] kind = \"postgres\" config: sleep (pg_sleep(delay)) or read "
                   "(an indexed join)")
    p.add_argument("--engine", choices=ENGINES, help="the load engine: builtin (one asyncio "
                   "process) or locust (Locust's master and workers; [loadgen] in the config)")
    p.add_argument("--workers", type=workers_arg, metavar="N|auto",
                   help="local Locust workers (implies --engine locust)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="continue an interrupted run from its records (other options ignored)")
    p.add_argument("--retry-failed-starts", action="store_true",
                   help="start a stack again in every round even after it failed to start "
                        "twice in a row (by default its later trials are recorded failed "
                        "without a start)")
    allow_remote_arg(p)
    p.set_defaults(handler="measuring:cmd_run")

    p = sub.add_parser("rerun", help="run one recorded trial again K times and compare",
                       **help_with(
        "  python -m harness rerun results/example r001-flask-gunicorn-fanout-5\n"
        "  python -m harness rerun results/example r002-fastapi-uvicorn-clients-20 "
        "--repeat 10\n"))
    p.add_argument("run_dir", type=Path, help="run folder holding the trial")
    p.add_argument("trial_id", help="the trial to rerun, e.g. r002-flask-gunicorn-fanout-5")
    p.add_argument("--repeat", type=positive_int, default=5, metavar="K",
                   help="how many times to run it (default 5)")
    allow_remote_arg(p)
    p.set_defaults(handler="measuring:cmd_rerun")

    p = sub.add_parser(
        "calibrate", help="measure the load generator's ceiling and added latency, the mock "
                          "upstream's ceiling, and wrk beside them", **help_with(
            "  python -m harness calibrate\n"
            "  python -m harness calibrate --seconds 5 --no-wrk --json\n"))
    p.add_argument("--seconds", type=positive_float, default=3.0,
                   help="duration of each rate measurement (default 3)")
    p.add_argument("--samples", type=positive_int, default=100,
                   help="sequential 100 ms requests for the added latency (default 100)")
    p.add_argument("--concurrency", type=positive_int, default=32,
                   help="connections of each closed-loop measurement (default 32)")
    p.add_argument("--no-wrk", action="store_true", help="do not run wrk even if installed")
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--out", type=Path, default=RESULTS,
                   help="results root; the figures go to OUT/calibration.json (default results/)")
    p.add_argument("--no-save", action="store_true", help="print only; write no file")
    p.add_argument("--workers", type=positive_int, metavar="N",
                   help="also measure the locust engine with 1..N local workers beside wrk "
                        "with 1..N threads (needs the load dependency group)")
    p.set_defaults(handler="measuring:cmd_calibrate")

    p = sub.add_parser(
        "worker", help="join a run's Locust master as a load worker (from another host)",
        **help_with("  python -m harness worker --master 198.18.0.1:5557\n"
                    "  python -m harness worker --master 10.0.0.5:5557 --connect-timeout 300\n"))
    p.add_argument("--master", type=host_port, required=True, metavar="HOST:PORT",
                   help="the master's address: [loadgen] master_bind and the port the run "
                        "prints (master_port)")
    p.add_argument("--connect-timeout", type=positive_float, default=60.0, metavar="S",
                   help="give up when no master accepts this worker within S seconds "
                        "(default 60)")
    p.set_defaults(handler="workerside:cmd_worker")

    p = sub.add_parser(
        "crosscheck", help="measure one cell (stack, C) with the harness's sustained closed "
                           "loop and with wrk; exit 1 when they differ beyond the tolerance",
        **help_with("  python -m harness crosscheck quart-hypercorn --clients 50\n"
                    "  python -m harness crosscheck flask-gunicorn --clients 200 "
                    "--duration-s 20 --tolerance-pct 5\n"
                    "  python -m harness crosscheck flask-gunicorn --clients 50 --repeat 5\n"))
    config_arg(p)
    p.add_argument("stack", help="the stack to measure (the config's or a built-in one)")
    p.add_argument("--clients", type=positive_int, required=True, metavar="C",
                   help="keep-alive connections, each sending back to back")
    p.add_argument("--duration-s", type=positive_int, default=10, metavar="S",
                   help="whole seconds each instrument measures (default 10)")
    p.add_argument("--warmup-s", type=nonneg_float, default=1.0, metavar="S",
                   help="the harness's first seconds left out of its steady window "
                        "(default 1)")
    p.add_argument("--tolerance-pct", type=percent, default=10.0, metavar="PCT",
                   help="the largest difference (of wrk's throughput) still called "
                        "agreement (default 10)")
    p.add_argument("--delay-ms", type=nonneg_int, help="upstream delay per call, ms "
                   "(default: config)")
    p.add_argument("--wrk", metavar="PATH", help="the wrk executable (default: wrk on PATH)")
    p.add_argument("--wrk-threads", type=positive_int, default=1,
                   help="wrk's threads (default 1)")
    p.add_argument("--repeat", type=positive_int, default=1, metavar="K",
                   help="measure K pairs on the same server, the order alternating, and "
                        "compare the instruments' medians (default 1)")
    p.add_argument("--no-quiet-wait", action="store_true",
                   help="measure at once, without waiting for a quiet machine")
    p.add_argument("--json", action="store_true", help="print both measurements as JSON")
    p.set_defaults(handler="crosschecking:cmd_crosscheck")


def reading(sub: Any) -> None:
    """The commands that read run folders and bundles."""
    p = sub.add_parser("stats", help="print a run's statistics (tables, or --json summary)",
                       **help_with("  python -m harness stats\n"
                                   "  python -m harness stats results/example --baseline "
                                   "quart-hypercorn\n"
                                   "  python -m harness stats results/example --json\n"))
    p.add_argument("run_dir", type=Path, nargs="?", help="run folder (default: the newest)")
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument("--baseline", metavar="STACK",
                   help="compare every stack against this one instead of the run's baseline")
    p.add_argument("--results", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    p.set_defaults(handler="reading:cmd_stats")

    p = sub.add_parser("report", help="render a run's Markdown and HTML report",
                       **help_with("  python -m harness report\n"
                                   "  python -m harness report results/example\n"))
    p.add_argument("run_dir", type=Path, nargs="?", help="run folder (default: the newest)")
    p.add_argument("--results", type=Path, default=RESULTS, help=argparse.SUPPRESS)
    p.set_defaults(handler="reading:cmd_report")

    p = sub.add_parser("compare", help="compare run B with run A (ratio > 1: B is better)",
                       **help_with("  python -m harness compare results/RUN_A results/RUN_B\n"
                                   "  python -m harness compare results/RUN_A results/RUN_B "
                                   "--format md\n"
                                   "  python -m harness compare results/RUN_A results/RUN_B "
                                   "--json\n"))
    p.add_argument("run_a", type=Path, help="the reference run folder")
    p.add_argument("run_b", type=Path, help="the run folder compared with it")
    p.add_argument("--fail-on-regression", type=percent, metavar="PCT",
                   help="exit 1 when B is significantly slower (or uses more CPU or memory) "
                        "by more than PCT%% (100: twice as slow), or a cell of A is missing, "
                        "has too few trials or no bounded interval in B")
    p.add_argument("--allow-missing", action="store_true",
                   help="with --fail-on-regression: let missing, insufficient and "
                        "undetermined cells pass")
    p.add_argument("--json", action="store_true", help="print the comparison as JSON "
                   "(same as --format json)")
    p.add_argument("--format", choices=("text", "md", "json"), default="text",
                   help="text table (default), Markdown table, or JSON")
    p.set_defaults(handler="reading:cmd_compare")

    p = sub.add_parser("publish", help="write a run folder as a deterministic tar.gz bundle",
                       **help_with("  python -m harness publish results/example\n"
                                   "  python -m harness publish results/example --out dist\n"))
    p.add_argument("run_dir", type=Path, help="run folder to publish")
    p.add_argument("--out", type=Path, help="bundle file or folder "
                   "(default: <run_id>.tar.gz beside the run folder)")
    p.set_defaults(handler="reading:cmd_publish")

    p = sub.add_parser("verify", help="check a published bundle against its SHA256SUMS",
                       **help_with("  python -m harness verify results/example.tar.gz\n"
                                   "  python -m harness verify dist/20261127-135220-quick.tar.gz"
                                   "\n"))
    p.add_argument("bundle", type=Path, help="the .tar.gz bundle")
    p.set_defaults(handler="verifying:cmd_verify")


def register(sub: Any) -> None:
    """Add every command to ``sub`` (from ``add_subparsers``); each parser's ``handler``
    default names the function that runs it as ``module:function`` under ``harness.cli``."""
    listing(sub)
    measuring(sub)
    reading(sub)
