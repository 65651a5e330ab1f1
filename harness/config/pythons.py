"""Interpreters as an axis: ``[run] pythons = ["3.11", "3.12", "3.13"]``.

Each stack runs under each interpreter named. The first one listed is the run's default:
its variants keep their plain names (``flask-gunicorn``); the others are named
``STACK@LABEL`` (``flask-gunicorn@3.13``). A label is a CPython version, ``3.13``, with a
``t`` for a free-threaded build, ``3.13t``. Without the key, every stack runs under the
interpreter that runs the harness, and nothing is renamed.

Comparisons stay like with like: ``quart-hypercorn@3.13`` is compared with
``flask-gunicorn@3.13`` (``Config.baseline_for``), and the baseline's own variant
``flask-gunicorn@3.13`` with ``flask-gunicorn``; the report adds every variant against
the same stack under the default interpreter. Finding an interpreter and its locked
environment is the local target's business (``harness.targets.interpreters``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from harness.config.rules import check
from harness.config.stack import PYTHON_LABEL as LABEL
from harness.config.stack import StackSpec

SEPARATOR = "@"  # between a stack's name and its interpreter's label
MAX_PYTHONS = 8


def check_labels(labels: Sequence[object]) -> None:
    """Refuse a ``pythons`` list that is empty, repeats itself or holds a bad label."""
    check(len(labels) > 0, "[run] pythons", list(labels),
          "must name at least one interpreter, e.g. [\"3.12\"] (leave the key out to run "
          "the interpreter that runs the harness)")
    check(len(labels) <= MAX_PYTHONS, "[run] pythons", list(labels),
          f"at most {MAX_PYTHONS} interpreters")
    for label in labels:
        check(isinstance(label, str) and LABEL.fullmatch(label) is not None, "[run] pythons",
              label, "must be a CPython version such as \"3.12\", or \"3.13t\" for a "
              "free-threaded build")
    check(len(set(labels)) == len(labels), "[run] pythons", list(labels),
          "interpreters must be distinct")


def variant_name(stack: str, label: str, default: str) -> str:
    """``stack`` under the default interpreter, else ``stack@label``."""
    return stack if label == default else f"{stack}{SEPARATOR}{label}"


def split_name(name: str) -> tuple[str, str | None]:
    """``("flask-gunicorn", "3.13")`` for ``flask-gunicorn@3.13``; ``(name, None)`` for a
    name without an interpreter's label."""
    base, sep, label = name.rpartition(SEPARATOR)
    if sep and base and LABEL.fullmatch(label):
        return base, label
    return name, None


def expand(stacks: Sequence[StackSpec], labels: Sequence[str]) -> tuple[StackSpec, ...]:
    """Every stack under every interpreter, interpreter by interpreter (the default's
    variants first, under their plain names), each stack's ``python`` its label."""
    check_labels(labels)
    for spec in stacks:
        check(any("{python}" in arg for arg in spec.command), f"[stacks.{spec.name}] command",
              list(spec.command), "does not run {python}, so [run] pythons cannot choose "
              "its interpreter")
    return tuple(dataclasses.replace(spec, name=variant_name(spec.name, label, labels[0]),
                                     python=label)
                 for label in labels for spec in stacks)
