"""Reliability: a bundle from someone else is untrusted input to ``verify``.

Each test crafts a hostile bundle in a temporary folder. ``verify`` refuses it in one
line with exit 1, without a traceback, reading no more than its limits: a sparse or gzip
bomb adds under 32 MB to the process's peak memory once the CLI is imported (measured in a
subprocess), the whole process stays under 64 MB, and it loads no statistics or plotting
library.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import os
import subprocess
import sys
import tarfile
import zlib
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.report.bundle import MTIME, publish
from harness.report.verify import MAX_MEMBER_BYTES, MAX_MEMBERS
from tests.unit.report.test_bundle import RUN_ID, write_run

ROOT = Path(__file__).resolve().parents[2]
# The bomb must cost verify almost nothing beyond the CLI's own imports (about 20 MB, since
# the CLI imports a command's module only when it runs); the whole process stays small.
PEAK_LIMIT_KIB = 32 * 1024
TOTAL_LIMIT_KIB = 64 * 1024
HEAVY = ("scipy", "numpy", "matplotlib", "aiohttp", "jinja2")


def _octal(value: int, width: int = 12) -> bytes:
    """A numeric header field: octal, or GNU's base-256 when octal cannot hold it."""
    if value >= 8 ** (width - 1):
        return b"\x80" + value.to_bytes(width - 1, "big")
    return b"%0*o\0" % (width - 1, value)


def _checksummed(header: bytearray) -> bytes:
    header[148:156] = b" " * 8
    header[148:156] = b"%06o\0 " % sum(header)
    return bytes(header)


def sparse_bomb(path: Path, real_size: int) -> Path:
    """An old-GNU sparse member holding one byte at the end of ``real_size`` bytes of holes."""
    info = tarfile.TarInfo(f"{RUN_ID}/trials.jsonl")
    info.type = tarfile.GNUTYPE_SPARSE
    info.size = 1
    info.mtime = MTIME
    header = bytearray(info.tobuf(format=tarfile.GNU_FORMAT))
    header[386:398] = _octal(real_size - 1)  # the only data block: 1 byte at the end
    header[398:410] = _octal(1)
    header[483:495] = _octal(real_size)  # the file's declared size
    data = _checksummed(header) + b"x".ljust(512, b"\0") + b"\0" * 1024
    path.write_bytes(gzip.compress(data))
    return path


def gzip_bomb(path: Path, size: int) -> Path:
    """A regular member of ``size`` zero bytes, compressed (a few hundred KB on disk)."""
    info = tarfile.TarInfo(f"{RUN_ID}/trials.jsonl")
    info.size = size
    info.mtime = MTIME
    squeeze = zlib.compressobj(9, zlib.DEFLATED, 31)  # 31: a gzip wrapper
    chunk = bytes(2**20)
    with path.open("wb") as fh:
        fh.write(squeeze.compress(info.tobuf(format=tarfile.PAX_FORMAT)))
        for _ in range(size // len(chunk)):
            fh.write(squeeze.compress(chunk))
        fh.write(squeeze.compress(bytes(size % len(chunk) + 1024)))
        fh.write(squeeze.flush())
    return path


def pax_bomb(path: Path, size: int) -> Path:
    """A PAX extended header declaring ``size`` bytes (tarfile would read it in one go)."""
    info = tarfile.TarInfo("././@PaxHeader")
    info.type = tarfile.XHDTYPE
    info.size = size
    header = bytearray(info.tobuf(format=tarfile.USTAR_FORMAT))
    path.write_bytes(gzip.compress(_checksummed(header) + bytes(4096)))
    return path


def one_member(path: Path, info: tarfile.TarInfo, data: bytes = b"") -> Path:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        info.mtime = MTIME
        tar.addfile(info, io.BytesIO(data) if data else None)
    path.write_bytes(gzip.compress(raw.getvalue()))
    return path


def verify_in_subprocess(bundle: Path) -> tuple[int, int, str]:
    """Exit code, the peak resident memory (KiB) ``verify`` added to the process once the
    CLI was imported, and stderr, in a fresh process."""
    # VmHWM, not getrusage's ru_maxrss: Linux carries ru_maxrss across exec, so a child of a
    # large pytest process would report pytest's peak as its own.
    code = ("import sys\n"
            "def hwm():\n"
            "    with open('/proc/self/status') as fh:\n"
            "        return next(int(l.split()[1]) for l in fh if l.startswith('VmHWM:'))\n"
            "from harness.cli.main import main\n"
            "imported = hwm()\n"
            "code = main(['verify', sys.argv[1]])\n"
            "peak = hwm()\n"
            f"heavy = sorted(m for m in {HEAVY!r} if m in sys.modules)\n"
            "print(','.join(heavy) or '-', peak - imported, peak, code)\n")
    done = subprocess.run([sys.executable, "-c", code, str(bundle)], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)), capture_output=True,
                          text=True, timeout=120, check=False)
    heavy, added, peak, exit_code = done.stdout.split()[-4:]
    assert heavy == "-", f"verify imported {heavy}"
    assert int(peak) < TOTAL_LIMIT_KIB, f"the verify process peaked at {int(peak) // 1024} MB"
    return int(exit_code), int(added), done.stderr


def refused(capsys: pytest.CaptureFixture[str], bundle: Path) -> str:
    assert main(["verify", str(bundle)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(f"asyncbench: {bundle}: "), err
    return err


@pytest.mark.parametrize("real_size", [2**30, 64 * 2**30])
def test_a_sparse_bomb_is_refused_in_little_memory(tmp_path: Path, real_size: int) -> None:
    bundle = sparse_bomb(tmp_path / "sparse.tar.gz", real_size)
    assert bundle.stat().st_size < 1000
    with tarfile.open(bundle) as tar:  # the crafted member is what it claims to be
        member = tar.getmembers()[0]
    assert member.issparse() and member.size == real_size
    code, peak_kib, err = verify_in_subprocess(bundle)
    assert code == 1
    assert "is a sparse file; a bundle holds only regular files and folders" in err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert peak_kib < PEAK_LIMIT_KIB, f"verify added {peak_kib // 1024} MB"


def test_a_gzip_bomb_is_refused_in_little_memory(tmp_path: Path) -> None:
    bundle = gzip_bomb(tmp_path / "zeros.tar.gz", MAX_MEMBER_BYTES + 2**20)
    assert bundle.stat().st_size < 2 * 2**20
    code, peak_kib, err = verify_in_subprocess(bundle)
    assert code == 1
    assert f"declares {MAX_MEMBER_BYTES + 2**20} bytes" in err and err.count("\n") == 1
    assert peak_kib < PEAK_LIMIT_KIB, f"verify added {peak_kib // 1024} MB"


def test_a_huge_pax_header_is_refused_before_it_is_read(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bundle = pax_bomb(tmp_path / "pax.tar.gz", 4 * 2**30)
    assert "a header or member larger than" in refused(capsys, bundle)


def _link(kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(f"{RUN_ID}/report.md")
    info.type = kind
    info.linkname = "/etc/passwd"
    return info


def _device(kind: bytes) -> tarfile.TarInfo:
    info = tarfile.TarInfo(f"{RUN_ID}/trials.jsonl")
    info.type = kind
    info.devmajor, info.devminor = 1, 3
    return info


@pytest.mark.parametrize(("info", "reason"), [
    (_link(tarfile.SYMTYPE), "is a link (to '/etc/passwd')"),
    (_link(tarfile.LNKTYPE), "is a link (to '/etc/passwd')"),
    (_device(tarfile.CHRTYPE), "is a device or FIFO"),
    (_device(tarfile.BLKTYPE), "is a device or FIFO"),
    (_device(tarfile.FIFOTYPE), "is a device or FIFO"),
])
def test_link_and_device_members_are_refused(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], info: tarfile.TarInfo,
        reason: str) -> None:
    err = refused(capsys, one_member(tmp_path / "b.tar.gz", info))
    assert f"{info.name!r} {reason}" in err


def test_too_many_members_are_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        for number in range(MAX_MEMBERS + 1):
            tar.addfile(tarfile.TarInfo(f"{RUN_ID}/figures/{number}.svg"), io.BytesIO())
    bundle = tmp_path / "many.tar.gz"
    bundle.write_bytes(gzip.compress(raw.getvalue()))
    assert f"more than {MAX_MEMBERS} members" in refused(capsys, bundle)


def test_only_gzip_is_accepted(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w") as tar:
        tar.addfile(tarfile.TarInfo(f"{RUN_ID}/a"), io.BytesIO())
    bundle = tmp_path / "b.tar.gz"
    bundle.write_bytes(bz2.compress(raw.getvalue()))
    assert "only gzip is accepted" in refused(capsys, bundle)


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("mode", 0o4755, "mode 4755, not 644"),
    ("uid", 1000, "owner 1000:0"),
    ("mtime", 1_700_000_000, "mtime 1700000000, not 315532800"),
])
def test_members_unlike_what_publish_writes_fail(
        tmp_path: Path, capsys: pytest.CaptureFixture[str], field: str, value: int,
        problem: str) -> None:
    lock = tmp_path / "uv.lock"
    lock.write_text("version = 1\n")
    good = publish(write_run(tmp_path / "results"), lock_file=lock).path
    raw = io.BytesIO()
    with tarfile.open(good) as src, tarfile.open(fileobj=raw, mode="w",
                                                  format=tarfile.PAX_FORMAT) as dst:
        for info in src.getmembers():
            data = src.extractfile(info).read()  # type: ignore[union-attr]
            if info.name.endswith("/report.md"):
                setattr(info, field, value)
            dst.addfile(info, io.BytesIO(data))
    bundle = tmp_path / "changed.tar.gz"
    bundle.write_bytes(gzip.compress(raw.getvalue(), mtime=0))
    assert main(["verify", str(bundle)]) == 1
    captured = capsys.readouterr()
    digest = hashlib.sha256(bundle.read_bytes()).hexdigest()
    lines = captured.out.splitlines()
    assert lines[0] == f"sha256 {digest}  {bundle}"
    assert len(lines) == 2  # the checksums still match: only the header differs
    assert lines[1].startswith(f"{RUN_ID}/report.md: {problem}")
    assert lines[1].endswith("(publish never writes that)")
    assert "verification failed (1 problem(s))" in captured.err
