"""Every record carries the version of the interpreter its stack ran under, as the
manifest recorded it."""

from __future__ import annotations

from typing import Any

from harness.config.schema import StackSpec
from harness.measure.manifest import interpreter_version

QH = "quart-hypercorn"
MANIFEST: dict[str, Any] = {
    "target": "local", "environment": {"python": "3.11.7"},
    "pythons": {"3.11": {"version": "3.11.7"}, "3.13": {"version": "3.13.0"}}}


def test_records_carry_the_version_the_manifest_recorded() -> None:
    spec = StackSpec(name=f"{QH}@3.13", app="quart", server="hypercorn",
                     worker_class="asyncio", python="3.13")
    plain = StackSpec(name=QH, app="quart", server="hypercorn", worker_class="asyncio")
    assert interpreter_version(MANIFEST, spec) == "3.13.0"
    assert interpreter_version(MANIFEST, plain) == "3.11.7"
    assert interpreter_version({**MANIFEST, "target": "compose"}, plain) is None
