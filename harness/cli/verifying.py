"""``verify``: a bundle from someone else, checked in a small process.

Kept apart from the other reading commands so that checking an untrusted bundle imports
neither scipy nor matplotlib: the process stays small, and a bomb's cost shows plainly.
"""

from __future__ import annotations

import argparse

from harness.cli.common import err, out
from harness.errors import BundleError
from harness.report.verify import verify


def cmd_verify(args: argparse.Namespace) -> int:
    """Check a bundle against its SHA256SUMS and its own records; print its sha256.

    A refused bundle (not gzip, a limit, a sparse, link or device member) exits 1 too.
    """
    try:
        result = verify(args.bundle)
    except BundleError as exc:
        err(f"asyncbench: {exc}")
        return 1
    out(f"sha256 {result.sha256}  {args.bundle}")
    if result.ok:
        out(f"ok: {result.files_verified} files verified (integrity only: compare the sha256 "
            "above with the one the publisher announced)")
        return 0
    for problem in result.problems:
        out(problem)
    err(f"asyncbench: {args.bundle}: verification failed ({len(result.problems)} problem(s))")
    return 1
