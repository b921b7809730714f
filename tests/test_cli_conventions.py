"""The command line keeps the habits users bring from compose and kubectl: every option
says what it does, every list or state can be JSON, and standard output then holds JSON only."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from stagedeck.cli.main import build_parser, main


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def test_every_option_and_positional_has_help() -> None:
    parser = build_parser()
    missing = []
    for name, sub in {"": parser, **subcommands(parser)}.items():
        for action in sub._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            if action.help is None or (
                action.help != argparse.SUPPRESS and not action.help.strip()
            ):
                missing.append(f"stagedeck {name} {'/'.join(action.option_strings) or action.dest}")
    assert not missing, "options without help text:\n" + "\n".join(missing)


@pytest.mark.parametrize(
    "command", ["check", "lease", "docker", "k8s", "status", "failures", "why", "run", "info"]
)
def test_list_and_state_commands_offer_json(command: str) -> None:
    sub = subcommands(build_parser())
    if command not in sub:
        pytest.skip(f"no {command} command on this branch")
    assert any("--json" in a.option_strings for a in sub[command]._actions)


REALWORLD = Path(__file__).resolve().parent.parent / "recipes" / "realworld" / "realworld.toml"


def test_check_json_is_the_whole_of_stdout_and_masks_secrets(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["check", str(REALWORLD), "--json"]) == 0
    out = capsys.readouterr().out
    data = json.loads(out)
    assert data["environment"] == "realworld"
    assert set(data["services"]) == {"postgres", "redis", "inventory", "nginx"}
    assert data["layers"][-1] == ["nginx"]
    password = (REALWORLD.parent / "secrets" / "pg-password").read_text().strip()
    assert password and password not in out


def test_lease_show_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    db = str(tmp_path / "shared.db")
    assert main(["lease", "show", "--env", "shop", "--db", db, "--json"]) == 0
    free = json.loads(capsys.readouterr().out)
    assert free == {
        "environment": "shop",
        "leased": False,
        "owner": None,
        "reason": None,
        "acquired": None,
        "expires": None,
        "remaining_s": None,
    }
    assert (
        main(
            [
                "lease",
                "acquire",
                "--env",
                "shop",
                "--db",
                db,
                "--user",
                "ana",
                "--reason",
                "load test",
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["lease", "show", "--env", "shop", "--db", db, "--json"]) == 0
    held = json.loads(capsys.readouterr().out)
    assert held["leased"] and held["owner"] == "ana" and held["reason"] == "load test"
    assert 1700 < held["remaining_s"] <= 1800


KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: staging
contexts:
- name: staging
  context: {cluster: c1, user: u1, namespace: shop}
- name: "odd name/with:chars"
  context: {cluster: c1, user: u1}
clusters:
- name: c1
  cluster: {server: "http://127.0.0.1:1"}
users:
- name: u1
  user: {token: not-a-real-token}
"""


def test_k8s_contexts_json(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "kubeconfig"
    config.write_text(KUBECONFIG, encoding="utf-8")
    monkeypatch.setenv("KUBECONFIG", str(config))
    assert main(["k8s", "--contexts", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data == {"current": "staging", "contexts": ["staging", "odd name/with:chars"]}


@pytest.mark.docker
def test_docker_list_json_is_only_json(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["docker", "--list", "--json"])
    rows = json.loads(capsys.readouterr().out)
    assert isinstance(rows, list) and code == (0 if rows else 1)
    for row in rows:
        assert set(row) == {"name", "services", "containers", "running", "working_dir"}


def test_k8s_without_the_kubernetes_extra_says_how_to_install_it(tmp_path: Path) -> None:
    """The client is an optional extra: without it `stagedeck k8s` says so in one line."""
    import subprocess
    import sys

    code = (
        "import sys; sys.modules['kubernetes'] = None\n"
        "from stagedeck.cli.main import main\n"
        "sys.exit(main(['k8s', '--contexts']))\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 2
    assert "pip install 'stagedeck[kubernetes]'" in proc.stderr
    assert "Traceback" not in proc.stderr and proc.stdout == ""
