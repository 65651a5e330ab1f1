"""First contact: the top-level help says what the tool is for, every command's help ends
with examples, ``stacks`` lists what can be measured, and ``run`` picks stacks and levels
from the command line."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness.cli.main import build_parser, handler_of, main
from harness.config.load import config_from_dict, with_overrides, with_selection
from harness.errors import ConfigError

ROOT = Path(__file__).resolve().parents[3]
COMMANDS = ("stacks", "check", "run", "rerun", "calibrate", "stats", "report", "compare",
            "publish", "verify", "worker")
EXAMPLE_ARGS = {"rerun": ["results/example", "r001-x"], "compare": ["a", "b"],
                "publish": ["results/example"], "verify": ["x.tar.gz"],
                "worker": ["--master", "127.0.0.1:5557"]}


def test_top_level_help_says_what_the_tool_is_for(capsys: Any) -> None:
    assert main(["--help"]) == 0
    text = capsys.readouterr().out
    assert "async Python web stack" in text and "your own app" in text
    assert "python -m harness run --config configs/quick.toml" in text


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_help_ends_with_examples(command: str, capsys: Any) -> None:
    assert main([command, "--help"]) == 0
    text = capsys.readouterr().out
    tail = text.split("examples:\n")[1].strip().splitlines()
    assert 2 <= len(tail) <= 3 and all(f"python -m harness {command}" in line for line in tail)
    # Every example parses (the placeholders of run folders aside).
    for line in tail:
        args = line.split("python -m harness ", 1)[1].split("  #")[0].split()
        build_parser().parse_args(args)


def test_help_answers_without_loading_the_measuring_or_plotting_libraries() -> None:
    """The parser comes from ``harness.cli.commands`` alone; a command's module is imported
    when it runs, so ``--help`` (and ``verify``) stay fast and small."""
    code = ("import sys\n"
            "from harness.cli.main import main\n"
            "assert main(['run', '--help']) == 0\n"
            "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} & "
            "{'scipy', 'matplotlib', 'numpy', 'aiohttp', 'jinja2', 'rich'})) or '-')\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                          text=True, timeout=60, check=True)
    assert done.stdout.splitlines()[-1] == "-", done.stdout.splitlines()[-1]


def test_every_parsed_command_names_a_function_that_exists() -> None:
    parser = build_parser()
    for command in COMMANDS:
        args = parser.parse_args([command, *EXAMPLE_ARGS.get(command, [])])
        assert callable(handler_of(args)), command


def test_stacks_lists_builtin_and_config_stacks(tmp_path: Path, capsys: Any) -> None:
    config = tmp_path / "mine.toml"
    config.write_text('[run]\nstacks = ["mine", "flask-gunicorn"]\nbaseline = "flask-gunicorn"\n'
                      '[scenarios.fanout]\nlevels = [1]\n[stacks.mine]\n'
                      'command = ["serve", "--port", "{port}"]\nparadigm = "async"\n'
                      '[stacks.flask-gunicorn]\nthreads = 4\n')
    assert main(["stacks", "--config", str(config)]) == 0
    text = capsys.readouterr().out
    assert f"mine  [from {config}, production]" in text
    assert "command: serve --port {port}" in text
    assert f"flask-gunicorn  [built-in, changed by {config}" in text
    assert "flask-gunicorn-threadpool  [built-in, production]" in text
    assert "sync; fan-out calls concurrent" in text  # the thread-pool control
    assert main(["stacks", "--names"]) == 0
    names = capsys.readouterr().out.split()
    assert names[:2] == ["flask-gunicorn", "flask-gunicorn-threadpool"] and "mine" not in names


def test_run_selects_stacks_levels_and_delay_from_the_command_line() -> None:
    config = config_from_dict({"run": {"stacks": ["flask-gunicorn", "quart-hypercorn"]},
                               "scenarios": {"fanout": {"levels": [1]},
                                             "rate": {"levels": [10], "duration_s": 2}}})
    picked = with_selection(config, ["fastapi-uvicorn", "quart-hypercorn"],
                            {"fanout": [1, 5], "clients": [10, 50]})
    assert [s.name for s in picked.stacks] == ["fastapi-uvicorn", "quart-hypercorn"]
    assert picked.baseline == "fastapi-uvicorn"  # the config's baseline was not picked
    assert [(s.name, s.levels) for s in picked.scenarios] == [("fanout", (1, 5)),
                                                               ("clients", (10, 50))]
    assert with_overrides(picked, delay_ms=50).delay_ms == 50
    same = with_selection(config, ["quart-hypercorn", "flask-gunicorn"])
    assert same.baseline == "flask-gunicorn" and same.scenarios == config.scenarios


@pytest.mark.parametrize(("argv", "message"), [
    (["--stacks", "flask-gunicorn,nope"], "--stacks 'nope': not a built-in stack"),
    (["--levels", "fanout=1,x"], "'fanout=1,x' is not SCENARIO=LEVEL,LEVEL"),
    (["--levels", "burst=1"], "[scenarios] burst = 'burst': unknown scenario"),
    (["--levels", "fanout=0"], "[scenarios.fanout] levels = [0]"),
    (["--stacks", "a,,b"], "is not a comma-separated list of names"),
])
def test_bad_selections_are_one_line(argv: list[str], message: str, tmp_path: Path,
                                     capsys: Any) -> None:
    code = main(["run", "--config", str(ROOT / "configs/quick.toml"), "--out", str(tmp_path),
                 *argv])
    text = capsys.readouterr().err
    assert code == 2 and message in text and len(text.strip().splitlines()) == 1, text
    assert not any(tmp_path.iterdir())


def test_selection_errors_name_the_command_line() -> None:
    config = config_from_dict({"scenarios": {"fanout": {"levels": [1]}}})
    with pytest.raises(ConfigError, match=r"^command line: --stacks"):
        with_selection(config, ["nope"])


@pytest.mark.parametrize(("args", "message"), [
    (["--budget", "10 minutes"], "argument --budget: '10 minutes' is not a duration (e.g. 90s, "
     "10m, 1h, 1h30m)"),
    (["--budget", "0s"], "argument --budget: '0s' is not a duration between 1 s and a week"),
    (["--allocation", "greedy"], "argument --allocation: invalid choice: 'greedy'"),
])
def test_bad_allocation_or_budget_is_one_line(args: list[str], message: str,
                                              capsys: Any) -> None:
    assert main(["run", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1, err


def test_adaptive_without_a_target_is_refused_before_anything_runs(capsys: Any) -> None:
    assert main(["run", "--config", str(ROOT / "configs/quick.toml"), "--allocation",
                 "adaptive", "--target-ci", "0"]) == 2
    err = capsys.readouterr().err.strip()
    assert err == ("asyncbench: config error: command line: [run] allocation = 'adaptive': "
                   "needs [run] target_ci > 0: the width each cell's trials stop at")
