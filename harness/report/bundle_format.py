"""What a bundle holds and how its members are written: the names, the fixed mtime and
mode, and the ``SHA256SUMS`` lines. Shared by ``bundle`` (which writes bundles) and
``verify`` (which reads someone else's): light on purpose, so that checking an untrusted
bundle loads no plotting or statistics libraries.
"""

from __future__ import annotations

import re

from harness.rundir.format import MANIFEST_NAME, REPORT_FILES, TRIALS_NAME

SUMS_NAME = "SHA256SUMS"
CONFIG_JSON = "config.json"
CONFIG_TOML = "config.toml"
LOCK_NAME = "uv.lock"
REQUIRED = (TRIALS_NAME, MANIFEST_NAME, CONFIG_JSON, LOCK_NAME, *REPORT_FILES)
# 1980-01-01T00:00:00Z: fixed, and valid for every archive tool (zip's epoch).
MTIME = 315_532_800
FILE_MODE = 0o644
_SUMS_LINE = re.compile(r"^([0-9a-f]{64}) [ *](.+)$")


# --- the checksum file --------------------------------------------------------------------

def parse_sums(text: str, where: str, problems: list[str]) -> dict[str, str]:
    """``sha256sum`` lines (name -> digest); a bad or repeated line is added to ``problems``."""
    sums: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), start=1):
        match = _SUMS_LINE.match(line)
        if not match:
            problems.append(f"{where} line {number}: not a sha256sum line: {line[:60]!r}")
            continue
        digest, name = match.groups()
        if name in sums:
            problems.append(f"{where} line {number}: {name} listed twice")
        sums[name] = digest
    return sums
