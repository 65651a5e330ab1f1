"""The external target end to end: an upstream and two stacks started here as if they ran on
other hosts, measured through their URLs alone; and the one-line refusals of the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from harness.cli.main import main
from harness.config.catalogue import BUILTIN_STACKS
from harness.config.load import config_from_resolved, load_config
from harness.config.schema import StackSpec
from harness.targets.local import running_server, running_upstream
from harness.targets.process import ChildProcess

ROOT = Path(__file__).resolve().parents[2]
STACKS = ("flask-gunicorn", "fastapi-uvicorn")


@pytest.fixture(scope="module")
def servers() -> Iterator[dict[str, ChildProcess]]:
    """Started by the test, not the harness: the harness only ever sees their URLs."""
    specs = {name: StackSpec(name=name, **BUILTIN_STACKS[name]) for name in STACKS}
    with running_upstream() as upstream, \
            running_server(specs[STACKS[0]], upstream.base_url) as first, \
            running_server(specs[STACKS[1]], upstream.base_url) as second:
        yield {"upstream": upstream, STACKS[0]: first, STACKS[1]: second}


def write_config(path: Path, upstream_url: str, urls: dict[str, str],
                 target: str = "external") -> Path:
    stacks = "\n".join(f'{name} = "{url}"' for name, url in urls.items())
    path.write_text(f"""
[run]
stacks = {json.dumps(list(urls))}
baseline = "{STACKS[0]}"
target = "{target}"
rounds = 2
seed = 11
delay_ms = 20
warmup_requests = 2
request_timeout_s = 30

[scenarios.fanout]
levels = [1, 3]

[scenarios.clients]
levels = [5]

[external]
upstream_url = "{upstream_url}"

[external.stacks]
{stacks}
""", encoding="utf-8")
    return path


def one_line(err: str) -> str:
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


def test_a_run_against_external_urls(servers: dict[str, ChildProcess], tmp_path: Path,
                                     capsys: pytest.CaptureFixture[str]) -> None:
    urls = {name: servers[name].base_url for name in STACKS}
    upstream_url = servers["upstream"].base_url
    config_path = write_config(tmp_path / "external.toml", upstream_url, urls)
    code = main(["run", "--config", str(config_path), "--out", str(tmp_path / "results")])
    out = capsys.readouterr().out
    assert code == 0, out
    run_dir = Path(out.split("run folder: ")[1].splitlines()[0])

    records = [json.loads(line) for line in (run_dir / "trials.jsonl").read_text().splitlines()]
    records = [r for r in records if not r.get("retried")]  # a disturbed attempt is kept and run again
    assert len(records) == 2 * 2 * 3  # rounds x stacks x (2 fanout + 1 clients levels)
    for record in records:
        assert record["status"] in ("ok", "invalid"), record["error"]
        assert record["requests"]["ok"] == record["requests"]["total"]
        # The harness saw no process of these stacks: nothing measured, so null, not zero.
        assert set(record["resources"].values()) == {None}, record["resources"]
        assert record["checks"]["upstream_cpu"] is None  # nor the upstream's
        # N upstream calls for fanout N, one per client for clients C: the stacks call it.
        assert record["checks"]["upstream_requests"] == record["level"]
    assert sum(r["status"] == "ok" for r in records) >= len(records) // 2

    manifest = json.loads((run_dir / "manifest.json").read_text())
    assert manifest["target"] == "external" and manifest["controlled"] is False
    assert manifest["target_endpoints"] == [f"upstream {upstream_url}",
                                            *(f"{name} {url}" for name, url in urls.items())]
    assert manifest["config"]["external"] == {"upstream_url": upstream_url, "stacks": urls}
    assert manifest["target_details"]["upstream"]["health"]["service"] == "upstream"
    assert config_from_resolved(manifest["config"]) == load_config(config_path)

    report = (run_dir / "report.md").read_text(encoding="utf-8")
    assert (run_dir / "report.html").is_file()
    # The URL is shown, its scheme's colon an entity so that it never becomes a link.
    assert "external" in report and urls[STACKS[0]].replace(":", "&#58;", 1) in report
    # Never started, never stopped: the servers run on, as they did before the run.
    for child in servers.values():
        assert child.alive()


@pytest.mark.parametrize("broken", ["upstream", "dead"])
def test_a_url_failing_the_contract_is_refused_in_one_line(
        servers: dict[str, ChildProcess], tmp_path: Path,
        capsys: pytest.CaptureFixture[str], broken: str) -> None:
    upstream_url = servers["upstream"].base_url
    # The upstream answers /health, but as the upstream; a closed port answers nothing.
    bad = upstream_url if broken == "upstream" else "http://127.0.0.1:9"
    urls = {STACKS[0]: servers[STACKS[0]].base_url, STACKS[1]: bad}
    config_path = write_config(tmp_path / "external.toml", upstream_url, urls)
    code = main(["run", "--config", str(config_path), "--out", str(tmp_path / "results")])
    line = one_line(capsys.readouterr().err)
    assert code == 2
    assert line.startswith(f"asyncbench: external stack {STACKS[1]} at {bad}"), line
    if broken == "upstream":
        assert "fails the app contract (health: answers as stack None" in line
    else:
        assert ": GET /health no answer" in line
    assert not list(tmp_path.glob("results/*/manifest.json"))


def test_an_upstream_that_does_not_answer_is_refused(servers: dict[str, ChildProcess],
                                                     tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    urls = {name: servers[name].base_url for name in STACKS}
    config_path = write_config(tmp_path / "external.toml", "http://127.0.0.1:9", urls)
    code = main(["run", "--config", str(config_path), "--out", str(tmp_path / "results")])
    line = one_line(capsys.readouterr().err)
    assert code == 2
    assert line.startswith("asyncbench: external upstream http://127.0.0.1:9: GET /health "
                           "no answer"), line


def test_compose_without_an_engine_is_refused_in_one_line(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    # A socket nobody listens on: no engine answers here, with or without Docker installed;
    # engine = "docker", so that a Podman installed here is not asked instead.
    monkeypatch.setenv("DOCKER_HOST", f"unix://{tmp_path}/no-docker.sock")
    config = tmp_path / "docker.toml"
    config.write_text((ROOT / "configs/quick.toml").read_text() + '\n[compose]\nengine = "docker"\n')
    code = main(["run", "--config", str(config), "--target", "compose",
                 "--out", str(tmp_path / "results")])
    line = one_line(capsys.readouterr().err)
    assert code == 2
    assert line.startswith("asyncbench: no Docker engine answers (docker info failed: "), line
    assert line.endswith("); run without --target compose to use local processes")
    assert not list(tmp_path.glob("results/*/manifest.json"))


def test_check_uses_the_external_target(servers: dict[str, ChildProcess], tmp_path: Path,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    urls = {name: servers[name].base_url for name in STACKS}
    config_path = write_config(tmp_path / "external.toml", servers["upstream"].base_url, urls)
    assert main(["check", "--config", str(config_path)]) == 0
    out = capsys.readouterr().out
    assert f"{len(STACKS)}/{len(STACKS)} stacks passed the contract check" in out
    for child in servers.values():
        assert child.alive()  # checked, not started or stopped
    broken = write_config(tmp_path / "broken.toml", servers["upstream"].base_url,
                          {STACKS[0]: urls[STACKS[0]], STACKS[1]: "http://127.0.0.1:9"})
    assert main(["check", "--config", str(broken)]) == 2
    assert f"external stack {STACKS[1]} at http://127.0.0.1:9" in one_line(capsys.readouterr().err)
