"""``pythons``: the interpreters ``[run] pythons`` can name, where each was found, whether
its locked environment is ready, and (``--build``) building those environments."""

from __future__ import annotations

import argparse

from harness.cli.common import out
from harness.config.load import load_config
from harness.errors import ConfigError, TargetError
from harness.paths import project_relative
from harness.targets import interpreters

USUAL = ("3.11", "3.12", "3.13", "3.14", "3.13t", "3.14t")


def _labels(args: argparse.Namespace) -> list[str]:
    if args.labels:
        return list(dict.fromkeys(args.labels))
    if args.config is not None:
        return list(load_config(args.config).pythons) or [interpreters.running_label()]
    if args.build:
        raise ConfigError("pythons --build: name the interpreters to build, e.g. 3.12 3.13")
    return list(dict.fromkeys((interpreters.running_label(), *USUAL)))


def describe(label: str) -> str:
    """One line: the interpreter found for ``label`` and the state of its environment."""
    hit = interpreters.find(label)
    found = ("no interpreter found" if hit is None else
             f"{hit[0]} ({hit[1]['version']}, "
             f"{'free-threaded' if hit[1].get('free_threaded') else 'GIL'})")
    if label == interpreters.running_label():
        return f"{label:<6} {found}; runs the harness, so stacks use its own environment"
    try:
        ready = interpreters.resolve(label)
    except TargetError as exc:
        state = str(exc).removeprefix("[run] pythons: ")
    else:
        state = f"environment {ready.environment} ready ({ready.version})"
    return f"{label:<6} {found}; {state}"


def cmd_pythons(args: argparse.Namespace) -> int:
    """List the interpreters (or build their environments with ``--build``)."""
    labels = _labels(args)
    for label in labels:
        if args.build:
            if label == interpreters.running_label():
                out(f"{label}: runs the harness, so stacks use its own environment; "
                    "nothing to build")
                continue
            built = interpreters.build(label, echo=out)
            out(f"{label}: built {project_relative(str(built), None)}")
        else:
            out(describe(label))
    if not args.build:
        found = {}
        for label in labels:
            try:
                found[label] = interpreters.resolve(label)
            except TargetError:
                continue
        out(interpreters.free_threaded_note(labels, found))
    return 0
