"""The image's command lines without an engine: the Debian release read from os-release,
the debootstrap and build command lines (pure)."""

from __future__ import annotations

from pathlib import Path

from harness.targets import image

BOOKWORM = '''PRETTY_NAME="Debian GNU/Linux 12 (bookworm)"
NAME="Debian GNU/Linux"
VERSION_ID="12"
VERSION_CODENAME=bookworm
ID=debian
'''


def test_the_release_comes_from_os_release() -> None:
    release = image.os_release(BOOKWORM)
    assert release["PRETTY_NAME"] == "Debian GNU/Linux 12 (bookworm)"
    assert image.debian_release(release) == "bookworm"
    assert image.base_image("bookworm") == "asyncbench-base:bookworm"
    assert image.debian_release(image.os_release("ID=ubuntu\nVERSION_CODENAME=noble\n")) is None
    assert image.debian_release(image.os_release("ID=debian\n# testing\n")) is None


def test_command_lines() -> None:
    assert image.debootstrap_argv("bookworm", Path("/tmp/r")) == [
        "debootstrap", "--variant=minbase", "--include=python3,python3-venv,ca-certificates",
        "bookworm", "/tmp/r", "http://deb.debian.org/debian"]
    assert image.import_argv("podman", "asyncbench-base:bookworm") == [
        "podman", "import", "-", "asyncbench-base:bookworm"]
    assert image.build_argv("podman", "asyncbench:local", base="asyncbench-base:bookworm") == [
        "podman", "build", "--tag", "asyncbench:local", "--file", "Dockerfile", "--network",
        "host", "--build-arg", "BASE_IMAGE=asyncbench-base:bookworm", "."]
    assert "--build-arg" not in image.build_argv("docker", "asyncbench:local")
