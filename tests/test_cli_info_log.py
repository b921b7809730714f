"""stagedeck's own log (rotating, in the XDG state dir, secrets masked) and `stagedeck info`."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from stagedeck.cli.info import _engines
from stagedeck.cli.main import main
from support import k8skit

cluster = k8skit.cluster

SECRET_RECIPE = """
[environment]
name = "vault"

[secrets]
api_token = "{env.VAULT_TOKEN}"

[services.api]
command = ["{python}", "-m", "http.server", "{self.port}"]
port = 45011
env = { TOKEN = "{secret.api_token}" }
health = "/"
"""


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    for name in ("XDG_STATE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(name, str(tmp_path / name.lower()))
    for name in ("STAGEDECK_LOG", "STAGEDECK_DB", "STAGEDECK_DEBUG"):
        monkeypatch.delenv(name, raising=False)
    yield tmp_path
    # leave no handler pointing into a deleted tmp dir for later tests
    for handler in list(logging.getLogger("stagedeck").handlers):
        if type(handler).__name__ == "_LazyRotatingFile":
            logging.getLogger("stagedeck").removeHandler(handler)
            handler.close()


def test_log_file_in_state_dir_masks_the_recipes_secrets(
    xdg: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    token = "tok-9f8e7d6c5b4a-REAL"
    monkeypatch.setenv("VAULT_TOKEN", token)
    recipe = xdg / "vault.toml"
    recipe.write_text(SECRET_RECIPE, encoding="utf-8")
    assert main(["check", str(recipe)]) == 0
    capsys.readouterr()
    log_file = xdg / "xdg_state_home" / "stagedeck" / "stagedeck.log"
    assert not log_file.exists()  # nothing logged yet: not even opened (start-up cost)
    # What a real failure message looks like: the token inside a URL and a JSON body.
    logging.getLogger("stagedeck.engine").warning(
        "probe api failed: GET http://api:45011/health?token=%s -> 401 %s",
        token,
        json.dumps({"error": "bad token", "token": token, "request_id": "req-7f3a"}),
    )
    logging.getLogger("stagedeck.engine").debug("not at the default level")
    text = log_file.read_text(encoding="utf-8")
    assert "probe api failed" in text and "req-7f3a" in text and "WARNING stagedeck.engine" in text
    assert token not in text and "•••" in text
    assert "not at the default level" not in text


def test_debug_flag_records_detail_in_a_real_process(xdg: Path) -> None:
    env = {**os.environ, "XDG_STATE_HOME": str(xdg / "state")}
    env.pop("STAGEDECK_LOG", None)
    proc = subprocess.run(
        [sys.executable, "-m", "stagedeck", "check", "realworld", "--debug"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    text = (xdg / "state" / "stagedeck" / "stagedeck.log").read_text(encoding="utf-8")
    assert "DEBUG stagedeck.cli: stagedeck check" in text and "realworld.toml" in text


def test_the_log_rotates(xdg: Path) -> None:
    from stagedeck.cli import logfile

    path = logfile.setup_logging()
    log = logging.getLogger("stagedeck.flood")
    line = "x" * 1000
    for _ in range(int(logfile.LOG_MAX_BYTES / 1000) + 50):
        log.warning(line)
    assert path.exists() and Path(f"{path}.1").exists()
    assert path.stat().st_size <= logfile.LOG_MAX_BYTES


def test_info_json_names_every_path(xdg: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["info", "--json", "--no-engines"]) == 0
    data = json.loads(capsys.readouterr().out)
    paths = data["paths"]
    assert set(paths) == {"config", "themes", "database", "state", "log"}
    assert paths["config"] == str(xdg / "xdg_config_home" / "stagedeck" / "config.toml")
    assert paths["database"] == str(xdg / "xdg_data_home" / "stagedeck" / "stagedeck.db")
    assert paths["log"] == str(xdg / "xdg_state_home" / "stagedeck" / "stagedeck.log")
    assert data["version"]


async def test_info_reaches_the_cluster(cluster: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(cluster.kubeconfig))
    engines = await _engines(5.0)
    assert engines["kubernetes"]["reachable"], engines["kubernetes"]


async def test_info_reports_an_unreachable_cluster_within_its_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as s:  # a port that accepts nothing: connection refused
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: gone\n"
        "contexts: [{name: gone, context: {cluster: c, user: u}}]\n"
        f"clusters: [{{name: c, cluster: {{server: 'http://127.0.0.1:{port}'}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("KUBECONFIG", str(config))
    engines = await _engines(2.0)
    assert not engines["kubernetes"]["reachable"]
    assert "gone" in engines["kubernetes"]["detail"]
