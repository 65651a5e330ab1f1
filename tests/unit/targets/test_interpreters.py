"""Finding interpreters (uv, PATH, pyenv; a broken shim passed over), their locked
environments (a missing or stale one named with the command that builds it), and the
one line on free-threaded builds. Interpreters here are small scripts that answer the
probe as a Python would."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from harness.errors import TargetError
from harness.paths import lock_hash
from harness.targets import interpreters
from harness.targets.interpreters import GIL_OFF, STAMP, Interpreter, find, label_of, resolve


def fake_python(path: Path, major: int = 3, minor: int = 12, free: bool = False) -> Path:
    """A script answering the probe as CPython ``major.minor`` would; a free-threaded one
    reports the GIL off only when PYTHON_GIL=0."""
    answer = {"version": f"{major}.{minor}.7", "implementation": "CPython", "build": "main",
              "compiler": "GCC", "major": major, "minor": minor, "free_threaded": free}
    on, off = json.dumps({**answer, "gil_enabled": True}), json.dumps({**answer,
                                                                       "gil_enabled": False})
    gil = (f'if [ "$PYTHON_GIL" = 0 ]; then echo \'{off}\'; else echo \'{on}\'; fi'
           if free else f"echo '{on}'")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{gil}\n", encoding="utf-8")
    path.chmod(0o755)
    return path


def broken(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\necho 'pyenv: python3.12: command not found' >&2\nexit 127\n")
    path.chmod(0o755)
    return path


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No real uv, pyenv or environments: only what a test makes under tmp_path."""
    monkeypatch.setenv("UV", str(broken(tmp_path / "no-uv" / "uv")))
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("PYENV_ROOT", raising=False)
    monkeypatch.setattr(interpreters, "ENVIRONMENTS", tmp_path / ".pythons")
    resolve.cache_clear()
    yield
    resolve.cache_clear()


def test_a_broken_shim_first_on_path_is_passed_over(tmp_path: Path) -> None:
    shim = broken(tmp_path / "shims" / "python3.12")
    real = fake_python(tmp_path / "bin" / "python3.12")
    found = find("3.12", {"PATH": f"{shim.parent}:{real.parent}"})
    assert found is not None and found[0] == str(real)
    assert label_of(found[1]) == "3.12"


def test_pyenv_versions_are_the_last_resort_newest_first(tmp_path: Path) -> None:
    root = tmp_path / "pyenv"
    fake_python(root / "versions" / "3.12.1" / "bin" / "python3.12")
    newest = fake_python(root / "versions" / "3.12.10" / "bin" / "python3.12")
    found = find("3.12", {"PATH": "", "PYENV_ROOT": str(root)})
    assert found is not None and found[0] == str(newest)
    assert find("3.13", {"PATH": "", "PYENV_ROOT": str(root)}) is None


def test_uv_is_asked_first(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    by_uv = fake_python(tmp_path / "uv-python" / "bin" / "python3.12")
    uv = tmp_path / "uv" / "uv"
    uv.parent.mkdir()
    uv.write_text(f"#!/bin/sh\necho {by_uv}\n")
    uv.chmod(0o755)
    monkeypatch.setenv("UV", str(uv))
    on_path = fake_python(tmp_path / "bin" / "python3.12")
    found = find("3.12", {"PATH": str(on_path.parent)})
    assert found is not None and found[0] == str(by_uv)


def test_a_label_needs_the_same_build(tmp_path: Path) -> None:
    free = fake_python(tmp_path / "bin" / "python3.13", minor=13, free=True)
    assert find("3.13", {"PATH": str(free.parent)}) is None  # it is 3.13t
    fake_python(tmp_path / "bin" / "python3.13t", minor=13, free=True)
    found = find("3.13t", {"PATH": str(free.parent)})
    assert found is not None and label_of(found[1]) == "3.13t"


def environment(tmp_path: Path, label: str, **answer: Any) -> Path:
    return fake_python(tmp_path / ".pythons" / label / "bin" / "python", **answer)


def stamp(tmp_path: Path, label: str, lock: str | None) -> None:
    (tmp_path / ".pythons" / label / STAMP).write_text(
        json.dumps({"label": label, "base": "/usr/bin/python" + label, "lock_hash": lock}))


def test_a_missing_environment_names_the_command_that_builds_it() -> None:
    with pytest.raises(TargetError) as info:
        resolve("3.12")
    assert str(info.value).startswith("[run] pythons: no environment for 3.12 (")
    assert str(info.value).endswith("); build it with: nox -s pythons -- 3.12")


def test_a_stale_or_wrong_environment_is_refused_with_the_rebuild_command(
        tmp_path: Path) -> None:
    environment(tmp_path, "3.12")
    with pytest.raises(TargetError, match=r"was not built from this uv\.lock; rebuild it with: "
                                          r"nox -s pythons -- 3\.12$"):
        resolve("3.12")
    stamp(tmp_path, "3.12", "0" * 64)
    with pytest.raises(TargetError, match=r"was not built from this uv\.lock"):
        resolve("3.12")
    environment(tmp_path, "3.12", minor=11)
    stamp(tmp_path, "3.12", lock_hash())
    with pytest.raises(TargetError, match=r"\(.*\) is 3.11; rebuild it with: nox -s pythons"):
        resolve("3.12")


def test_a_ready_environment_resolves_with_what_it_is(tmp_path: Path) -> None:
    python = environment(tmp_path, "3.12")
    stamp(tmp_path, "3.12", lock_hash())
    found = resolve("3.12")
    assert (found.python, found.base, found.version) == (str(python), "/usr/bin/python3.12",
                                                        "3.12.7")
    assert (found.free_threaded, found.gil_disabled, found.env) == (False, False, {})


def test_a_free_threaded_build_runs_with_the_gil_off(tmp_path: Path) -> None:
    environment(tmp_path, "3.13t", minor=13, free=True)
    stamp(tmp_path, "3.13t", lock_hash())
    found = resolve("3.13t")
    assert found.free_threaded and found.gil_disabled
    assert found.env == GIL_OFF == {"PYTHON_GIL": "0"}
    note = interpreters.free_threaded_note(["3.12", "3.13t"], {"3.13t": found})
    assert note == "free-threaded: 3.13t runs with the GIL off (PYTHON_GIL=0)"


def test_the_running_interpreter_serves_its_own_label() -> None:
    found = resolve(interpreters.running_label())
    assert found.python == sys.executable and found.environment is None
    assert found.describe()["python"] == found.describe()["base"]


def test_free_threaded_builds_found_but_not_named_are_said_so(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path / "bin"))
    none = interpreters.free_threaded_note(["3.12"], {})
    assert none == ("no free-threaded build (3.13t, 3.14t, 3.15t) is named in [run] pythons "
                    "or found on PATH, by uv or pyenv: every interpreter runs with its GIL")
    path = fake_python(tmp_path / "bin" / "python3.14t", minor=14, free=True)
    found = interpreters.free_threaded_note(["3.12"], {})
    assert found == (f"free-threaded builds found but not named in [run] pythons: 3.14t "
                     f"({path}); add them to measure sync servers with the GIL off")


def test_describe_keeps_paths_inside_the_project_relative() -> None:
    inside = Interpreter("3.12", str(interpreters.PROJECT_ROOT / ".pythons/3.12/bin/python"),
                         "/usr/bin/python3.12", "3.12.1", "CPython", "main", "GCC", False,
                         False, ".pythons/3.12")
    assert inside.describe()["python"] == ".pythons/3.12/bin/python"
    assert inside.describe()["base"] == "/usr/bin/python3.12"


def test_build_refuses_a_bad_label_and_a_missing_interpreter(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    with pytest.raises(TargetError, match=r"'python3\.12': not an interpreter's label"):
        interpreters.build("python3.12")
    with pytest.raises(TargetError, match=r"no interpreter answers to 3\.12: looked with uv"):
        interpreters.build("3.12")


def test_an_installed_harness_runs_only_its_own_interpreter(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(interpreters.paths, "SOURCE_CHECKOUT", False)
    other = "3.12" if interpreters.running_label() != "3.12" else "3.13"
    for attempt in (resolve, interpreters.build):
        with pytest.raises(TargetError, match=rf"{other} needs an environment built from a "
                                              "checkout of asyncbench"):
            attempt(other)
    assert resolve(interpreters.running_label()).environment is None
