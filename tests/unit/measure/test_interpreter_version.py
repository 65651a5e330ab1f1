"""Every record carries the version of the interpreter its stack ran under, as the
manifest recorded it."""

from __future__ import annotations

from typing import Any

from harness.config.schema import StackSpec
from harness.measure.manifest import interpreter_version
from harness.measure.records import WithPython

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


def test_every_record_written_carries_its_stacks_version() -> None:
    written: list[dict[str, Any]] = []

    class Sink:
        def write(self, record: dict[str, Any]) -> None:
            written.append(dict(record))

    writer = WithPython(Sink(), {QH: "3.11.7", f"{QH}@3.13": "3.13.0", "remote": None})
    for stack in (QH, f"{QH}@3.13", "remote", "unknown"):
        writer.write({"stack": stack, "status": "failed"})
    assert [r["python"] for r in written] == ["3.11.7", "3.13.0", None, None]
