"""harness.report.bundle: deterministic publishing of a run folder and verification of a bundle."""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import shutil
import tarfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import main
from harness.config.load import config_from_dict
from harness.errors import BundleError, ConfigError, RunDirError
from harness.measure.manifest import build_manifest, named_run_id, new_run_dir
from harness.report.bundle import MTIME, SUMS_NAME, publish
from harness.report.verify import verify

ROOT = Path(__file__).resolve().parents[3]
RUN_ID = "20260101-120000-unit"
CONFIG = config_from_dict({
    "run": {"stacks": ["flask-gunicorn", "quart-hypercorn"], "rounds": 3, "delay_ms": 50},
    "scenarios": {"fanout": {"levels": [1, 5]}},
})
FILES = ["SHA256SUMS", "config.json", "figures/fanout_duration.svg", "manifest.json",
         "report.html", "report.md", "trials.jsonl", "uv.lock"]


def trial(round_no: int, stack: str, level: int, duration: float) -> dict[str, Any]:
    """A fan-out trial record as the runner writes it (without the histogram)."""
    return {
        "schema_version": 1, "run_id": RUN_ID,
        "trial_id": f"r{round_no:03d}-{stack}-fanout-{level}", "round": round_no, "order": 0,
        "scenario": "fanout", "stack": stack, "level": level,
        "params": {"n": level, "delay_ms": 50, "timeout_s": 60.0}, "status": "ok", "error": None,
        "requests": {"ok": 1, "total": 1}, "latency_ms": {"mean": duration * 1000},
        "metrics": {"duration_s": duration, "calls_per_s": level / duration},
        "checks": {"loadgen_cpu": 0.1}, "resources": {"cpu_s": 0.1},
    }


def write_run(root: Path, *, report: bool = True, source: str | None = None) -> Path:
    """A run folder: a real manifest, a few trial lines, and optionally placeholder reports."""
    run_dir = root / RUN_ID
    run_dir.mkdir(parents=True)
    manifest = build_manifest(CONFIG, RUN_ID, "python -m harness run")
    if source is not None:
        manifest["config"]["source"] = source
    (run_dir / "manifest.json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    lines = []
    for round_no in (1, 2, 3):
        for level in (1, 5):
            jitter = 0.001 * round_no
            lines.append(trial(round_no, "flask-gunicorn", level, level * 0.052 + jitter))
            lines.append(trial(round_no, "quart-hypercorn", level, 0.053 + jitter))
    (run_dir / "trials.jsonl").write_text("".join(json.dumps(t, sort_keys=True) + "\n"
                                                  for t in lines))
    if report:
        (run_dir / "report.md").write_text("# report\n")
        (run_dir / "report.html").write_text("<html>report</html>\n")
        (run_dir / "figures").mkdir()
        (run_dir / "figures" / "fanout_duration.svg").write_text("<svg/>\n")
    return run_dir


@pytest.fixture
def lock(tmp_path: Path) -> Path:
    path = tmp_path / "uv.lock"
    path.write_text("version = 1\n")
    return path


@pytest.fixture
def bundle(tmp_path: Path, lock: Path) -> Path:
    return publish(write_run(tmp_path / "results"), lock_file=lock).path


def read_members(path: Path) -> dict[str, bytes]:
    with tarfile.open(path) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar if m.isfile()}  # type: ignore[union-attr]


def rewrite(path: Path, change: Callable[[dict[str, bytes]], object]) -> Path:
    """A copy of the bundle (as an ordinary tar.gz) with ``change`` applied to its members."""
    files = read_members(path)
    change(files)
    out = path.with_name("tampered.tar.gz")
    with tarfile.open(out, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = MTIME
            tar.addfile(info, io.BytesIO(data))
    return out


# --- publish ------------------------------------------------------------------------------

def test_publish_then_verify_is_ok(tmp_path: Path, bundle: Path) -> None:
    assert bundle == tmp_path / "results" / f"{RUN_ID}.tar.gz"
    members = read_members(bundle)
    assert sorted(members) == [f"{RUN_ID}/{name}" for name in FILES]
    run_dir = tmp_path / "results" / RUN_ID
    assert members[f"{RUN_ID}/trials.jsonl"] == (run_dir / "trials.jsonl").read_bytes()
    assert members[f"{RUN_ID}/manifest.json"] == (run_dir / "manifest.json").read_bytes()
    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert json.loads(members[f"{RUN_ID}/config.json"]) == manifest["config"]
    result = verify(bundle)
    assert result.ok, result.problems
    assert result.files_verified == len(FILES) - 1
    assert result.run_id == RUN_ID


def test_sha256sums_is_in_sha256sum_format(bundle: Path) -> None:
    members = read_members(bundle)
    lines = members[f"{RUN_ID}/{SUMS_NAME}"].decode().splitlines()
    listed = {}
    for line in lines:
        digest, name = line.split("  ", 1)
        listed[name] = digest
    assert sorted(listed) == [name for name in FILES if name != SUMS_NAME]
    for name, digest in listed.items():
        assert hashlib.sha256(members[f"{RUN_ID}/{name}"]).hexdigest() == digest


def test_members_and_gzip_header_are_normalised(bundle: Path) -> None:
    data = bundle.read_bytes()
    assert data[:2] == b"\x1f\x8b" and data[4:8] == b"\0\0\0\0"  # gzip mtime 0
    assert not data[3] & 0x08  # no file name in the gzip header
    with tarfile.open(bundle) as tar:
        infos = tar.getmembers()
    assert [i.name for i in infos] == sorted(i.name for i in infos)
    for info in infos:
        assert (info.mtime, info.uid, info.gid, info.mode) == (MTIME, 0, 0, 0o644)
        assert (info.uname, info.gname) == ("", "")


def test_the_same_run_published_twice_is_byte_identical(tmp_path: Path, lock: Path) -> None:
    run_dir = write_run(tmp_path / "results")
    first = publish(run_dir, tmp_path / "one.tar.gz", lock_file=lock)
    for path in run_dir.rglob("*"):  # file times and the clock must not matter
        os.utime(path, (1_000_000_000, 1_000_000_000))
    second = publish(run_dir, tmp_path / "two.tar.gz", lock_file=lock)
    assert first.path.read_bytes() == second.path.read_bytes()
    assert first.sha256 == second.sha256 == hashlib.sha256(first.path.read_bytes()).hexdigest()


def test_out_may_be_a_folder(tmp_path: Path, lock: Path) -> None:
    run_dir = write_run(tmp_path / "results")
    (tmp_path / "dist").mkdir()
    published = publish(run_dir, tmp_path / "dist", lock_file=lock)
    assert published.path == tmp_path / "dist" / f"{RUN_ID}.tar.gz"


def test_the_config_toml_is_included_when_it_exists(tmp_path: Path, lock: Path) -> None:
    toml = tmp_path / "exp.toml"
    toml.write_text('[run]\nstacks = ["flask-gunicorn", "quart-hypercorn"]\nrounds = 3\n'
                    'delay_ms = 50\n\n[scenarios.fanout]\nlevels = [1, 5]\n')
    run_dir = write_run(tmp_path / "results", source=str(toml))
    published = publish(run_dir, lock_file=lock, project_root=tmp_path)
    assert read_members(published.path)[f"{RUN_ID}/config.toml"] == toml.read_bytes()
    assert published.warnings == [
        f"{lock} has changed since the run (its hash differs from the manifest's lock_hash); "
        "the bundle holds the current one"]
    assert verify(published.path).ok


def test_an_edited_config_toml_is_warned_about(tmp_path: Path, lock: Path) -> None:
    toml = tmp_path / "exp.toml"
    toml.write_text('[run]\nstacks = ["flask-gunicorn"]\n\n[scenarios.fanout]\nlevels = [1]\n')
    published = publish(write_run(tmp_path / "results", source=str(toml)), lock_file=lock,
                        project_root=tmp_path)
    assert any("no longer gives the run's config" in w for w in published.warnings)
    assert f"{RUN_ID}/config.toml" not in read_members(published.path)


def test_a_missing_config_source_is_left_out(tmp_path: Path, lock: Path) -> None:
    run_dir = write_run(tmp_path / "results", source=str(tmp_path / "gone.toml"))
    members = read_members(publish(run_dir, lock_file=lock).path)
    assert f"{RUN_ID}/config.toml" not in members


def test_the_project_lock_file_by_default(tmp_path: Path) -> None:
    root = Path(__file__).resolve().parents[3]
    published = publish(write_run(tmp_path / "results"))
    assert read_members(published.path)[f"{RUN_ID}/uv.lock"] == (root / "uv.lock").read_bytes()
    assert published.warnings == []  # the manifest's lock_hash is this lock's


def test_publish_renders_a_missing_report(tmp_path: Path, lock: Path) -> None:
    run_dir = write_run(tmp_path / "results", report=False)
    published = publish(run_dir, lock_file=lock)
    assert published.rendered_report
    members = read_members(published.path)
    markdown = members[f"{RUN_ID}/report.md"].decode()
    assert RUN_ID in markdown and "flask-gunicorn" in markdown
    assert members[f"{RUN_ID}/report.md"] == (run_dir / "report.md").read_bytes()
    assert members[f"{RUN_ID}/report.html"].startswith(b"<!")
    assert any(name.startswith(f"{RUN_ID}/figures/") and name.endswith(".svg")
               for name in members)
    assert verify(published.path).ok
    again = publish(run_dir, tmp_path / "again.tar.gz", lock_file=lock)
    assert not again.rendered_report
    assert again.path.read_bytes() == published.path.read_bytes()


def test_publish_a_bad_folder_raises(tmp_path: Path) -> None:
    with pytest.raises(RunDirError, match="run folder not found"):
        publish(tmp_path / "nope")


# --- verify -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", [n for n in FILES if n != SUMS_NAME])
def test_one_changed_byte_in_any_member_is_named(bundle: Path, name: str) -> None:
    member = f"{RUN_ID}/{name}"

    def flip(files: dict[str, bytes]) -> None:
        data = bytearray(files[member])
        data[len(data) // 2] ^= 0x01
        files[member] = bytes(data)

    result = verify(rewrite(bundle, flip))
    assert not result.ok
    assert f"{member}: checksum mismatch" in "\n".join(result.problems)


def test_a_changed_byte_in_trials_is_a_mismatch_and_only_that(bundle: Path) -> None:
    member = f"{RUN_ID}/trials.jsonl"

    def change(files: dict[str, bytes]) -> None:
        files[member] = files[member].replace(b'"order": 0', b'"order": 1', 1)

    result = verify(rewrite(bundle, change))
    assert len(result.problems) == 1, result.problems
    assert result.problems[0].startswith(f"{member}: checksum mismatch")
    assert result.files_verified == len(FILES) - 2


def test_a_missing_member_fails(bundle: Path) -> None:
    result = verify(rewrite(bundle, lambda files: files.pop(f"{RUN_ID}/report.md")))
    assert result.problems == [f"{RUN_ID}/report.md: missing (listed in SHA256SUMS)"]


def test_a_member_missing_from_both_the_tar_and_the_sums_fails(bundle: Path) -> None:
    def drop(files: dict[str, bytes]) -> None:
        files.pop(f"{RUN_ID}/uv.lock")
        sums = files[f"{RUN_ID}/{SUMS_NAME}"].decode().splitlines()
        kept = [line for line in sums if not line.endswith("  uv.lock")]
        files[f"{RUN_ID}/{SUMS_NAME}"] = ("\n".join(kept) + "\n").encode()

    result = verify(rewrite(bundle, drop))
    assert result.problems == [f"{RUN_ID}/uv.lock: missing (every bundle holds it)"]


def test_an_extra_member_fails(bundle: Path) -> None:
    def add(files: dict[str, bytes]) -> None:
        files[f"{RUN_ID}/notes.txt"] = b"added later\n"

    result = verify(rewrite(bundle, add))
    assert result.problems == [f"{RUN_ID}/notes.txt: extra member, not listed in SHA256SUMS"]


def test_a_missing_sums_file_fails(bundle: Path) -> None:
    result = verify(rewrite(bundle, lambda files: files.pop(f"{RUN_ID}/{SUMS_NAME}")))
    assert f"{RUN_ID}/{SUMS_NAME}: missing" in result.problems
    assert result.files_verified == 0


def test_trials_of_another_run_fail_even_with_matching_sums(bundle: Path) -> None:
    member = f"{RUN_ID}/trials.jsonl"

    def relabel(files: dict[str, bytes]) -> None:
        files[member] = files[member].replace(RUN_ID.encode(), b"some-other-run")
        lines = []
        for line in files[f"{RUN_ID}/{SUMS_NAME}"].decode().splitlines():
            digest, name = line.split("  ", 1)
            if name == "trials.jsonl":
                digest = hashlib.sha256(files[member]).hexdigest()
            lines.append(f"{digest}  {name}")
        files[f"{RUN_ID}/{SUMS_NAME}"] = ("\n".join(lines) + "\n").encode()

    result = verify(rewrite(bundle, relabel))
    assert result.problems == [f"{member}: 12 trial(s) of run 'some-other-run', not the "
                               f"manifest's {RUN_ID!r}"]


def test_unparseable_trials_lines_are_problems(bundle: Path) -> None:
    member = f"{RUN_ID}/trials.jsonl"

    def garble(files: dict[str, bytes]) -> None:
        files[member] += b"{not json\n"

    problems = verify(rewrite(bundle, garble)).problems
    assert f"{member}: checksum mismatch" in problems[0]
    assert problems[1].startswith(f"{member} line 13: invalid JSON")


@pytest.mark.parametrize("content", [b"", b"plain text, not a tar\n", gzip.compress(b"x" * 10)])
def test_a_file_that_is_not_a_tar_raises(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "bad.tar.gz"
    path.write_bytes(content)
    with pytest.raises(BundleError, match=r"bad\.tar\.gz"):
        verify(path)


def test_a_truncated_bundle_raises(tmp_path: Path, bundle: Path) -> None:
    path = tmp_path / "cut.tar.gz"
    path.write_bytes(bundle.read_bytes()[:400])
    with pytest.raises(BundleError, match=r"cut\.tar\.gz"):
        verify(path)


# --- the CLI ------------------------------------------------------------------------------

def test_cli_publish_and_verify(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run_dir = write_run(tmp_path / "results")
    out = tmp_path / "b.tar.gz"
    assert main(["publish", str(run_dir), "--out", str(out)]) == 0
    assert f"bundle: {out}" in capsys.readouterr().out
    assert main(["verify", str(out)]) == 0
    digest = hashlib.sha256(out.read_bytes()).hexdigest()
    assert capsys.readouterr().out.splitlines() == [
        f"sha256 {digest}  {out}",
        f"ok: {len(FILES) - 1} files verified (integrity only: compare the sha256 above with "
        "the one the publisher announced)"]


def test_cli_verify_fails_with_one_line_per_problem(bundle: Path,
                                                    capsys: pytest.CaptureFixture[str]) -> None:
    def both(files: dict[str, bytes]) -> None:
        files.pop(f"{RUN_ID}/report.html")
        files[f"{RUN_ID}/extra.bin"] = b"\0"

    assert main(["verify", str(rewrite(bundle, both))]) == 1
    captured = capsys.readouterr()
    assert captured.out.splitlines()[1:] == [
        f"{RUN_ID}/report.html: missing (listed in SHA256SUMS)",
        f"{RUN_ID}/extra.bin: extra member, not listed in SHA256SUMS"]
    assert "verification failed (2 problem(s))" in captured.err


def test_cli_verify_of_a_non_tar_exits_1(tmp_path: Path,
                                         capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "x.tar.gz"
    path.write_text("hello\n")
    assert main(["verify", str(path)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and str(path) in err
    assert main(["verify", str(tmp_path / "missing.tar.gz")]) == 1


def test_cli_publish_of_a_bad_folder_exits_2(tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["publish", str(tmp_path / "nope")]) == 2
    assert "run folder not found" in capsys.readouterr().err


def test_the_shipped_example_publishes_and_verifies_as_the_readme_says(
        tmp_path: Path, capsys: pytest.CaptureFixture[str],
        monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's publish step, on the project's own example (a copy, so that the
    bundle lands beside it as written without touching the checkout)."""
    readme = (ROOT / "README.md").read_text()
    assert "python -m harness publish results/example" in readme
    assert "python -m harness verify results/example.tar.gz" in readme
    shutil.copytree(ROOT / "results" / "example", tmp_path / "results" / "example")
    monkeypatch.chdir(tmp_path)
    assert main(["publish", "results/example"]) == 0
    assert "bundle: " in capsys.readouterr().out
    assert main(["verify", "results/example.tar.gz"]) == 0
    assert "ok: " in capsys.readouterr().out


def test_a_run_named_with_run_id_is_publishable(tmp_path: Path) -> None:
    assert named_run_id("example") == "example"
    run_dir = new_run_dir(tmp_path, "example", exact=True)
    assert run_dir.name == "example"
    with pytest.raises(RunDirError, match="already exists; choose another --run-id"):
        new_run_dir(tmp_path, "example", exact=True)
    assert new_run_dir(tmp_path, "example").name == "example-2"  # a generated id moves aside


@pytest.mark.parametrize("name", ["../x", "a/b", ".", "..", "-x", "", "é"])
def test_run_id_must_be_a_plain_name(name: str) -> None:
    with pytest.raises(ConfigError, match="is not a plain name"):
        named_run_id(name)
