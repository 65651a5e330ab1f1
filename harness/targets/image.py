"""The project image without a registry: command lines (pure) that build a base image from
Debian's packages and the project image on it; ``scripts/build_image.py`` runs them.

The base is ``debootstrap --variant=minbase`` of the machine's own Debian release plus
python3, python3-venv and ca-certificates, with the machine's CA bundle copied in (a
network that inspects TLS signs with a local CA, and uv must trust it), imported as
``asyncbench-base:<release>``. It is built once per machine and reused while it is in the
engine's store. The project image is then the Dockerfile with ``BASE_IMAGE`` set to it,
its RUN steps on the host's network so that ``uv sync --frozen`` reaches PyPI.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

BASE_REPOSITORY = "asyncbench-base"
BASE_PACKAGES = ("python3", "python3-venv", "ca-certificates")
DEBIAN_MIRROR = "http://deb.debian.org/debian"
OS_RELEASE = Path("/etc/os-release")
HOST_CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")


def os_release(text: str) -> dict[str, str]:
    """``/etc/os-release`` as a dict (values unquoted)."""
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and key.strip() and not key.lstrip().startswith("#"):
            out[key.strip()] = value.strip().strip('"').strip("'")
    return out


def debian_release(release: Mapping[str, str]) -> str | None:
    """The Debian codename (``bookworm``) of an os-release, or None when it is not Debian."""
    if release.get("ID") != "debian":
        return None
    return release.get("VERSION_CODENAME") or None


def base_image(codename: str) -> str:
    """The local base image's name for a Debian release."""
    return f"{BASE_REPOSITORY}:{codename}"


def debootstrap_argv(codename: str, target: Path, mirror: str = DEBIAN_MIRROR) -> list[str]:
    """A minimal Debian root file system with the Python the image needs."""
    return ["debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}",
            codename, str(target), mirror]


def import_argv(engine: str, image: str) -> list[str]:
    """Import a root file system read as a tar stream on stdin as ``image``."""
    return [engine, "import", "-", image]


def exists_argv(engine: str, image: str) -> list[str]:
    """Exit 0 when ``image`` is in the engine's store."""
    return [engine, "image", "inspect", "--format", "{{.Id}}", image]


def build_argv(engine: str, image: str, *, base: str | None = None,
               context: str = ".") -> list[str]:
    """Build the project image from the Dockerfile (``base``: its BASE_IMAGE), RUN steps on
    the host's network (uv reaches PyPI as the host does, no bridge needed)."""
    argv = [engine, "build", "--tag", image, "--file", "Dockerfile", "--network", "host"]
    if base:
        argv += ["--build-arg", f"BASE_IMAGE={base}"]
    return [*argv, context]
