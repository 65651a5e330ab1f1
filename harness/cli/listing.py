"""``stacks``: every stack the harness can measure, built-in and from a config, with its
settings and command template, so a first-time user sees what ``--stacks`` accepts."""

from __future__ import annotations

import argparse

from harness.cli.common import out
from harness.config.catalogue import BUILTIN_STACKS
from harness.config.load import load_config
from harness.config.schema import StackSpec


def describe_stack(spec: StackSpec, origin: str) -> list[str]:
    """A stack as a few lines of text: name, paradigm, settings, command, paths."""
    slots = spec.concurrency_slots
    server = f"{spec.server} {spec.worker_class}".strip() or "own server"
    # An own app reads only what its command passes on: show the settings it can use.
    pool = "" if spec.own else (f"; keep-alive {spec.keepalive_s} s; "
                                f"upstream pool {spec.pool_size}")
    lines = [f"{spec.name}  [{origin}, {spec.kind}]",
             f"    {spec.paradigm}; fan-out calls {spec.fanout_mode}; {server}, "
             f"{spec.workers} workers x {spec.threads} threads; backlog {spec.backlog}{pool}; "
             f"concurrency slots {'no fixed limit' if slots is None else slots}"
             + (f"; under Python {spec.python}" if spec.python else ""),
             f"    command: {' '.join(spec.command)}"]
    if spec.cwd:
        lines.append(f"    folder:  {spec.cwd}")
    if spec.env:
        lines.append("    env:     " + " ".join(f"{k}={v}" for k, v in spec.env))
    paths = "; ".join(f"{kind} {path}" for kind, path in spec.paths)
    check = f"checks {spec.calls_field!r}" if spec.calls_field else "body not checked"
    lines.append(f"    paths:   ready {spec.ready_path}; {paths} ({check})")
    return lines


def cmd_stacks(args: argparse.Namespace) -> int:
    """List the built-in stacks, then the config's own ones (or its overrides)."""
    listed: list[tuple[StackSpec, str]] = []
    config = load_config(args.config) if args.config is not None else None
    own = {s.name: s for s in config.stacks} if config else {}
    for name, fields in BUILTIN_STACKS.items():
        builtin = StackSpec(name=name, **fields)
        if name in own and own[name] != builtin:
            listed.append((own.pop(name), f"built-in, changed by {args.config}"))
        else:
            own.pop(name, None)
            listed.append((builtin, "built-in"))
    listed.extend((spec, f"from {args.config}") for spec in own.values())
    for spec, origin in listed:
        if args.names:
            out(spec.name)
            continue
        for line in describe_stack(spec, origin):
            out(line)
    if not args.names:
        out()
        out("Placeholders in a command: {python} {host} {port} {bind} {upstream_url} {workers} "
            "{threads} ...; in paths: {delay_ms} {n}. Pick stacks with "
            "`run --stacks a,b`; define one in a config's [stacks.NAME] table (README: "
            "\"Measure your own app\").")
    return 0
