"""Mutation testing of the modules that decide whether a number counts (``nox -s mutation``).

mutmut (locked in the ``mutation`` dependency group, configured under ``[tool.mutmut]`` in
``pyproject.toml``) copies the project to ``mutants/``, makes every one-change mutant of
the modules listed in ``only_mutate`` (a comparison turned round, a number moved by one,
a keyword argument dropped, a string changed), and runs each mutant against the unit
tests that reach the mutated function (found by tracing one clean run), stopping at the
first failure. A mutant that no test fails *survived*: a behaviour the tests do not pin.
A mutant whose tests use more CPU time than ``(their clean time + timeout_constant) x
timeout_multiplier x 2`` is stopped and counted as a *timeout* (detected).

Then this script prints, per module, the mutants tested, killed (a test failed or the
mutant timed out), survived and not reached by any unit test, and the kill rate
(killed / tested), and lists every survivor; ``mutants/survivors.txt`` holds each
survivor's diff (``mutmut show NAME`` prints one), ``mutants/summary.json`` the table.

Usage::

    nox -s mutation                                 # every module of only_mutate
    nox -s mutation -- analyse/family loadgen/foreign   # only these (or harness.safefs, ...)
    nox -s mutation -- --jobs 1 safefs              # one worker; the default is one per CPU
    nox -s mutation -- --fail-under 80              # exit 1 if the overall kill rate is lower
    nox -s mutation -- --survivors                  # after adding tests: re-test the survivors

Each run starts from a fresh ``mutants/`` (stale results would count old tests), except
with ``--resume``, which carries on an interrupted run, and ``--survivors``, which re-tests
only what the last run left alive (survivors, mutants no test reached, and the mutants
of functions changed since) against the current tests: after adding tests, a mutant
killed before is still killed, so this gives the new rate for a fraction of the time.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
MUTANTS = ROOT / "mutants"
PROGRESS_EVERY_S = 60.0
KILLED = {"killed", "timeout", "caught by type check"}
UNREACHED = "no tests"
UNTESTED = {"not checked", "skipped", "check was interrupted by user"}


class UsageError(Exception):
    """A module name or option this script cannot act on."""


def configured_modules(pyproject: Path = ROOT / "pyproject.toml") -> list[str]:
    """The dotted modules ``[tool.mutmut] only_mutate`` names (files, or ``dir/*`` globs)."""
    patterns = tomllib.loads(pyproject.read_text(encoding="utf-8"))["tool"]["mutmut"]["only_mutate"]
    modules: set[str] = set()
    for pattern in patterns:
        paths = (sorted(ROOT.glob(pattern)) if "*" in pattern else [ROOT / pattern])
        for path in paths:
            if path.suffix == ".py" and path.name != "__init__.py":
                modules.add(module_of(path.relative_to(ROOT)))
    return sorted(modules)


def module_of(path: Path) -> str:
    """``harness/analyse/stats.py`` -> ``harness.analyse.stats``."""
    return ".".join(path.with_suffix("").parts)


def resolve(names: Iterable[str], known: list[str]) -> list[str]:
    """The configured modules ``names`` mean: ``analyse/stats``, ``analyse.stats``,
    ``harness/analyse/stats.py`` and ``harness.analyse.stats`` all name one."""
    chosen = []
    for name in names:
        dotted = name.removesuffix(".py").replace("/", ".").strip(".")
        if not dotted.startswith("harness."):
            dotted = f"harness.{dotted}"
        if dotted not in known:
            raise UsageError(f"{name!r} is not a module mutation testing covers "
                             f"(pyproject.toml [tool.mutmut] only_mutate): "
                             f"{', '.join(m.removeprefix('harness.') for m in known)}")
        if dotted not in chosen:
            chosen.append(dotted)
    return chosen


@dataclass
class ModuleResult:
    """The mutants of one module by outcome."""

    module: str
    killed: list[str] = field(default_factory=list)
    survived: list[str] = field(default_factory=list)
    unreached: list[str] = field(default_factory=list)
    untested: list[str] = field(default_factory=list)

    @property
    def tested(self) -> int:
        return len(self.killed) + len(self.survived) + len(self.unreached)

    @property
    def kill_rate(self) -> float | None:
        return len(self.killed) / self.tested if self.tested else None


def read_results(modules: list[str], status_of: Mapping[Any, str]) -> list[ModuleResult]:
    """Each module's mutants by outcome, from mutmut's ``mutants/<path>.meta`` files."""
    results = []
    for module in modules:
        meta = MUTANTS / (module.replace(".", "/") + ".py.meta")
        result = ModuleResult(module)
        codes = (json.loads(meta.read_text(encoding="utf-8"))["exit_code_by_key"]
                 if meta.exists() else {})
        for name, code in sorted(codes.items(), key=lambda item: natural(item[0])):
            status = status_of[code]
            if status in KILLED:
                result.killed.append(name)
            elif status == UNREACHED:
                result.unreached.append(name)
            elif status in UNTESTED:
                result.untested.append(name)
            else:  # survived, suspicious, segfault: nothing failed as a test should
                result.survived.append(name)
        results.append(result)
    return results


def natural(name: str) -> tuple[str, int]:
    """``f__mutmut_10`` after ``f__mutmut_9``."""
    stem, _, number = name.rpartition("__mutmut_")
    return (stem, int(number)) if number.isdigit() else (name, 0)


def percent(rate: float | None) -> str:
    return "-" if rate is None else f"{100 * rate:.1f}%"


def table(results: list[ModuleResult]) -> str:
    """The kill rate per module and overall, as fixed-width text ("not run": mutants an
    interrupted or restricted run left untested, outside the rate)."""
    rows = [("module", "tested", "killed", "survived", "unreached", "not run", "kill rate")]
    total = ModuleResult("overall")
    for r in [*results, total]:
        rows.append((r.module.removeprefix("harness."), str(r.tested), str(len(r.killed)),
                     str(len(r.survived)), str(len(r.unreached)), str(len(r.untested)),
                     percent(r.kill_rate)))
        if r is not total:
            total.killed += r.killed
            total.survived += r.survived
            total.unreached += r.unreached
            total.untested += r.untested
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(cell.ljust(w) if i == 0 else cell.rjust(w)
                       for i, (cell, w) in enumerate(zip(row, widths, strict=True)))
             for row in rows]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(len(lines) - 1, "-" * len(lines[0]))
    return "\n".join(lines)


def overall_rate(results: list[ModuleResult]) -> float | None:
    killed = sum(len(r.killed) for r in results)
    tested = sum(r.tested for r in results)
    return killed / tested if tested else None


def write_survivor_diffs(results: list[ModuleResult], out: Path) -> None:
    """Every survivor's diff into ``out`` (mutmut's own ``show``, read from ``mutants/``)."""
    from mutmut.mutation.diff_apply import get_diff_for_mutant

    chunks = []
    for r in results:
        path = r.module.replace(".", "/") + ".py"
        for name in r.survived + r.unreached:
            try:
                diff = get_diff_for_mutant(name, path=path)
            except (OSError, ValueError) as exc:
                diff = f"(no diff: {exc})"
            status = "survived" if name in r.survived else "no unit test reaches it"
            chunks.append(f"# {name}: {status}\n{diff}\n")
    out.write_text("\n".join(chunks), encoding="utf-8")


def progress_line(log: Path) -> str | None:
    """mutmut's latest progress line (``done/all`` and a count per outcome), or the step it
    is on, from its log."""
    try:
        with log.open("rb") as fh:
            fh.seek(max(0, log.stat().st_size - 400))
            tail = fh.read().decode("utf-8", "replace")
    except OSError:
        return None
    lines = [line.strip(" \u280b\u2819\u2839\u2838\u283c\u2834\u2826\u2827\u2807\u280f")
             for line in tail.replace("\r", "\n").splitlines()]
    lines = [line for line in lines if line]
    return next((line for line in reversed(lines) if "/" in line and line[:1].isdigit()),
                lines[-1] if lines else None)


def watch(stop: threading.Event) -> None:
    """Print mutmut's progress every ``PROGRESS_EVERY_S`` (its own output goes to
    ``mutants/mutmut.log``)."""
    started = time.monotonic()
    while not stop.wait(PROGRESS_EVERY_S):
        line = progress_line(MUTANTS / "mutmut.log") or "starting"
        print(f"  {time.monotonic() - started:5.0f} s: {line}", flush=True)


def run_mutmut(jobs: int, names: list[str]) -> int:
    """``mutmut run`` over the mutants ``names`` (globs allowed; none: every mutant not yet
    tested), its output appended to ``mutants/mutmut.log``."""
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(jobs), *names]
    MUTANTS.mkdir(exist_ok=True)
    with (MUTANTS / "mutmut.log").open("a", encoding="utf-8") as fh:
        # Its own process group, so that Ctrl-C or SIGTERM here ends mutmut and every
        # mutant it forked (see the finally), not this script alone.
        proc = subprocess.Popen(command, cwd=ROOT, stdout=fh, stderr=subprocess.STDOUT,
                                start_new_session=True)
        try:
            return proc.wait()
        finally:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGTERM)
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    with contextlib.suppress(ProcessLookupError):
                        os.killpg(proc.pid, signal.SIGKILL)
                    proc.wait()


def not_killed(modules: list[str], status_of: Mapping[Any, str]) -> list[str]:
    """The mutants of ``modules`` that no test has killed yet (or that were never tested)."""
    return [name for r in read_results(modules, status_of)
            for name in (*r.survived, *r.unreached, *r.untested)]


def run_all(modules: list[str], jobs: int, restricted: bool, resume: bool, survivors: bool,
            status_of: Mapping[Any, str]) -> int:
    """Mutate and test; with ``survivors``, only what the last run left alive, then any
    mutant that re-generating the changed functions left untested. mutmut re-tests every
    mutant it is given by name, so a restricted resume names only those not yet tested."""
    if resume and restricted and not survivors:
        code = 0
        for _ in range(2):  # the second pass: what mutmut reset as stale while starting
            names = [n for r in read_results(modules, status_of) for n in r.untested]
            if not names or code != 0:
                break
            code = run_mutmut(jobs, names)
        return code
    if not survivors:
        return run_mutmut(jobs, [f"{m}.*" for m in modules] if restricted else [])
    names = not_killed(modules, status_of)
    code = run_mutmut(jobs, names) if names else 0
    # mutmut resets, as it starts, what a changed function or time limit makes stale:
    # those mutants are now untested.
    untested = [n for r in read_results(modules, status_of) for n in r.untested]
    if code == 0 and untested:
        code = run_mutmut(jobs, untested)
    return code


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description="Mutation testing of the trust-deciding modules against the unit tests.")
    parser.add_argument("modules", nargs="*", metavar="MODULE",
                        help="restrict to these modules (e.g. analyse/family, harness.safefs)")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1,
                        help="mutants tested at once (default: one per CPU)")
    parser.add_argument("--resume", action="store_true",
                        help="carry on the run in mutants/ instead of starting afresh")
    parser.add_argument("--survivors", action="store_true",
                        help="re-test only the mutants the last run in mutants/ left alive")
    parser.add_argument("--fail-under", type=float, metavar="PCT",
                        help="exit 1 when the overall kill rate is below PCT percent")
    args = parser.parse_args(argv)
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        known = configured_modules()
        modules = resolve(args.modules, known) if args.modules else known
        if args.jobs < 1:
            raise UsageError(f"--jobs must be at least 1, not {args.jobs}")
        if args.survivors and not MUTANTS.is_dir():
            raise UsageError("--survivors needs the mutants/ folder of an earlier run")
    except UsageError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from mutmut.stats import status_by_exit_code

    if MUTANTS.exists() and not (args.resume or args.survivors):
        shutil.rmtree(MUTANTS)
    print(f"mutation testing {len(modules)} module(s) with {args.jobs} worker(s); "
          f"mutmut's output: {MUTANTS.relative_to(ROOT)}/mutmut.log", flush=True)
    started = time.monotonic()
    stop = threading.Event()
    watcher = threading.Thread(target=watch, args=(stop,), daemon=True)
    watcher.start()
    try:
        code = run_all(modules, args.jobs, bool(args.modules), args.resume, args.survivors,
                       status_by_exit_code)
    except KeyboardInterrupt:
        print("interrupted; carry on with --resume", file=sys.stderr)
        return 130
    finally:
        stop.set()
    elapsed = time.monotonic() - started
    if code != 0:
        print(f"error: mutmut run exited {code}; see {MUTANTS / 'mutmut.log'}", file=sys.stderr)
        return 1
    results = read_results(modules, status_by_exit_code)
    print(f"\n{table(results)}\n")
    for r in results:
        for name in r.survived:
            print(f"survived: {name}")
        for name in r.unreached:
            print(f"no unit test reaches: {name}")
    write_survivor_diffs(results, MUTANTS / "survivors.txt")
    summary = {"seconds": round(elapsed, 1), "jobs": args.jobs,
               "modules": {r.module: {"tested": r.tested, "killed": len(r.killed),
                                      "survived": r.survived, "unreached": r.unreached,
                                      "kill_rate": r.kill_rate} for r in results},
               "kill_rate": overall_rate(results)}
    (MUTANTS / "summary.json").write_text(json.dumps(summary, indent=1, sort_keys=True) + "\n",
                                          encoding="utf-8")
    print(f"\n{elapsed / 60:.1f} min; diffs of the survivors: mutants/survivors.txt "
          f"(or: mutmut show NAME)")
    rate = overall_rate(results)
    if args.fail_under is not None and (rate is None or 100 * rate < args.fail_under):
        print(f"error: kill rate {percent(rate)} is below {args.fail_under:g}%", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
