"""Sessions of asyncbench: every environment is installed from the committed uv.lock."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.default_venv_backend = "uv|virtualenv"
nox.options.sessions = ["tests"]
nox.options.reuse_existing_virtualenvs = True

ROOT = Path(__file__).parent
# The locust engine's group: every session that runs the harness installs it, so that
# `[loadgen] engine = "locust"` (and its tests) work wherever a run does.
LOAD = "load"


def install(session: nox.Session, *groups: str) -> None:
    """Install the project and the named dependency groups exactly as uv.lock pins them."""
    args = ["uv", "sync", "--frozen", "--no-default-groups"]
    for group in groups:
        args += ["--group", group]
    session.run_install(*args, env={"UV_PROJECT_ENVIRONMENT": session.virtualenv.location},
                        external=True)


def harness(session: nox.Session, *args: str) -> None:
    session.run("python", "-m", "harness", *args)


@nox.session
def tests(session: nox.Session) -> None:
    """Run the whole test suite (unit and integration, real servers on 127.0.0.1)."""
    install(session, "test", "examples", LOAD)
    session.run("python", "-m", "pytest", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """Check style with ruff and types with mypy."""
    install(session, "lint", LOAD)
    session.run("ruff", "check", "harness", "servers", "tests", "scripts", "examples", "noxfile.py")
    session.run("mypy")


@nox.session
def check(session: nox.Session) -> None:
    """Start every stack of a config and check it honours the app contract."""
    install(session, LOAD)
    harness(session, "check", *(session.posargs or ["--config", "configs/publish.toml"]))


def with_config(default: str, args: list[str]) -> list[str]:
    """``args`` with ``--config default`` in front unless they name a config themselves
    (two ``--config`` options would be recorded in the manifest as typed)."""
    named = any(a == "--config" or a.startswith("--config=") for a in args)
    return list(args) if named else ["--config", default, *args]


@nox.session
def bench(session: nox.Session) -> None:
    """Run the default matrix on local processes, then render its report."""
    install(session, LOAD)
    harness(session, "run", *with_config("configs/default.toml", session.posargs))


@nox.session(default=False)
def pythons(session: nox.Session) -> None:
    """Build a locked environment per interpreter for [run] pythons: -- 3.12 3.13 (.pythons/)."""
    install(session, LOAD)
    harness(session, "pythons", "--build", *(session.posargs or ["3.12", "3.13"]))


@nox.session(default=False)
def quick(session: nox.Session) -> None:
    """About a minute: three stacks, both scenarios, three rounds, then the report."""
    install(session, LOAD)
    harness(session, "run", *with_config("configs/quick.toml", session.posargs))


@nox.session
def report(session: nox.Session) -> None:
    """Re-render the report of the newest run, or of the run folder given."""
    install(session)
    harness(session, "report", *session.posargs)


@nox.session
def stats(session: nox.Session) -> None:
    """Print the statistics tables of the newest run, or of the run folder given."""
    install(session)
    harness(session, "stats", *session.posargs)


@nox.session(default=False)
def rerun(session: nox.Session) -> None:
    """Rerun one recorded trial K times on a fresh stack: -- RUN_DIR TRIAL_ID [--repeat K]."""
    install(session, LOAD)
    harness(session, "rerun", *session.posargs)


@nox.session(default=False)
def compare(session: nox.Session) -> None:
    """Compare two runs cell by cell: -- RUN_A RUN_B [--fail-on-regression PCT] [--json]."""
    install(session)
    harness(session, "compare", *session.posargs)


@nox.session(default=False)
def publish(session: nox.Session) -> None:
    """Bundle a run folder as a deterministic tar.gz with SHA256SUMS: -- RUN_DIR [--out FILE]."""
    install(session)
    harness(session, "publish", *session.posargs)


@nox.session(default=False)
def loadgen_bench(session: nox.Session) -> None:
    """Measure the load generator itself: peak request rate and added latency."""
    install(session, LOAD)
    session.run("python", "scripts/loadgen_bench.py", *session.posargs)


@nox.session(default=False)
def burst_spread(session: nox.Session) -> None:
    """Show how a stack spreads bursts of clients over its workers, burst after burst."""
    install(session, LOAD)
    session.run("python", "scripts/burst_spread.py", *session.posargs)


@nox.session(default=False)
def crosscheck(session: nox.Session) -> None:
    """Measure one cell with the harness and with wrk: -- STACK --clients C [--duration-s S]."""
    install(session, LOAD)
    harness(session, "crosscheck", *(session.posargs or ["quart-hypercorn", "--clients", "50"]))


@nox.session(default=False)
def calibrate(session: nox.Session) -> None:
    """Measure the instrument's ceilings and added latency into results/calibration.json."""
    install(session, LOAD)
    harness(session, "calibrate", *session.posargs)


@nox.session(default=False)
def coverage_sim(session: nox.Session) -> None:
    """Simulate the coverage of the speedup CIs and of the adaptive allocation (tables)."""
    install(session)
    session.run("python", "scripts/coverage_sim.py", *session.posargs)


@nox.session(default=False, venv_backend="none")
def lock(session: nox.Session) -> None:
    """Regenerate uv.lock from pyproject.toml (upgrading every pin)."""
    session.run("uv", "lock", "--upgrade", *session.posargs, external=True,
                env={"UV_PROJECT_ENVIRONMENT": os.devnull})


@nox.session(default=False)
def image(session: nox.Session) -> None:
    """Build the container image for --target compose (a Debian base where no registry answers)."""
    install(session)
    session.run("python", "scripts/build_image.py", *session.posargs)


@nox.session(default=False)
def soak(session: nox.Session) -> None:
    """Run 200 consecutive trials and check no process, file or port leaked."""
    install(session, LOAD)
    session.run("python", "scripts/soak.py", *session.posargs)


@nox.session(default=False)
def mutation(session: nox.Session) -> None:
    """Mutation-test the modules that decide trust against the unit tests: -- [MODULE ...]."""
    install(session, "test", "examples", LOAD, "mutation")  # what the unit tests import
    session.run("python", "scripts/mutation.py", *session.posargs)
