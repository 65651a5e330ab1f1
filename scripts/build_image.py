"""Build the project image (asyncbench:local) on this machine's container engine.

Run by ``nox -s image`` / ``make image``. With ``--base IMAGE`` (``python:3.11-slim`` where a
registry answers) the Dockerfile builds on that image. Without it the base is built from
Debian's packages (``harness.targets.image``): once per machine, then reused while it is in
the engine's store (``--rebuild-base`` builds it again). Prints each step's duration; one
line and exit 1 when a step fails, exit 3 when this machine cannot build the base (not
Debian, not root, no debootstrap): the containers test skips on 3.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import IO

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from harness.errors import TargetError
from harness.paths import PROJECT_ROOT, engine_environment
from harness.targets import image
from harness.targets.compose import require_engine
from harness.targets.composefile import compose_image, read_compose_file

UNAVAILABLE = 3


class BuildError(Exception):
    """A step failed; the message is the one line to print."""


class Unavailable(BuildError):
    """This machine cannot build the Debian base; the message says what is missing."""


def _run(argv: Sequence[str], *, stdin: IO[bytes] | None = None, quiet: bool = False) -> None:
    print("+", " ".join(argv), flush=True)
    try:
        done = subprocess.run(list(argv), env=engine_environment(), check=False, stdin=stdin,
                              stdout=subprocess.DEVNULL if quiet else None, cwd=PROJECT_ROOT)
    except FileNotFoundError:
        raise BuildError(f"{argv[0]}: not found on PATH") from None
    if done.returncode != 0:
        raise BuildError(f"{' '.join(argv[:3])} ... failed with exit code {done.returncode}")


def _exists(engine: str, name: str) -> bool:
    return subprocess.run(image.exists_argv(engine, name), env=engine_environment(),
                          capture_output=True, check=False).returncode == 0


def build_base(engine: str, codename: str, mirror: str) -> None:
    """debootstrap the release into a temporary folder, add the host's CA bundle, import it."""
    if os.geteuid() != 0:
        raise Unavailable("building the Debian base needs root (debootstrap), or pass "
                          "--base IMAGE")
    if shutil.which("debootstrap") is None:
        raise Unavailable("debootstrap is not installed (apt-get install debootstrap), or pass "
                         "--base IMAGE")
    with tempfile.TemporaryDirectory(prefix="asyncbench-base-") as tmp:
        root = Path(tmp) / "rootfs"
        _run(image.debootstrap_argv(codename, root, mirror), quiet=True)
        if image.HOST_CA_BUNDLE.is_file():  # trust what this machine trusts (a TLS proxy's CA)
            shutil.copyfile(image.HOST_CA_BUNDLE, root / "etc/ssl/certs/ca-certificates.crt")
        with subprocess.Popen(["tar", "-C", str(root), "-c", "."],
                              stdout=subprocess.PIPE) as tar:
            _run(image.import_argv(engine, image.base_image(codename)), stdin=tar.stdout,
                 quiet=True)
        if tar.returncode != 0:
            raise BuildError(f"tar of {root} failed with exit code {tar.returncode}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--engine", choices=("auto", "docker", "podman"), default="auto")
    parser.add_argument("--base", help="base image to build on (default: one built from "
                        "Debian's packages of this machine's release)")
    parser.add_argument("--rebuild-base", action="store_true",
                        help="build the Debian base again even if it exists")
    parser.add_argument("--mirror", default=image.DEBIAN_MIRROR)
    args = parser.parse_args(argv)
    started = time.monotonic()
    try:
        engine = require_engine(choice=args.engine).name
        tag = compose_image(read_compose_file())
        base = args.base
        if base is None:
            release = image.os_release(image.OS_RELEASE.read_text(encoding="utf-8"))
            codename = image.debian_release(release)
            if codename is None:
                raise Unavailable(f"this machine is not Debian ({release.get('ID')}); pass "
                                 "--base IMAGE, e.g. --base python:3.11-slim")
            base = image.base_image(codename)
            if args.rebuild_base or not _exists(engine, base):
                build_base(engine, codename, args.mirror)
                print(f"base image {base} built in {time.monotonic() - started:.0f} s")
            else:
                print(f"base image {base} is present: reused")
        step = time.monotonic()
        _run(image.build_argv(engine, tag, base=base))
        print(f"image {tag} built on {base} in {time.monotonic() - step:.0f} s "
              f"({time.monotonic() - started:.0f} s in all)")
    except (BuildError, TargetError, OSError) as exc:
        print(f"build_image: {exc}", file=sys.stderr)
        return UNAVAILABLE if isinstance(exc, Unavailable) else 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
