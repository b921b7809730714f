"""Commands from another shell attach to the running environment process (real processes)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from stagedeck.store import Store
from support.envproc import isolated_env
from support.procs import new_marker, wait_until_gone

SERVICE = Path(__file__).parent / "support" / "services.py"


def stagedeck(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stagedeck", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


def shop(tmp_path: Path, more: str = "", *, db: bool = True) -> Path:
    """The test environment 'shop': an api (and, with ``db``, a db it depends on) run by
    the test service, plus ``more`` recipe text."""
    service = f"""
        command = ["{{python}}", "{SERVICE}", "{{self.port}}"]
        port = "auto"
        """
    text = '[environment]\nname = "shop"\nprobe_interval = 0.3\n'
    if db:
        text += f'\n[services.db]{service}health = "/"\n'
    text += f'\n[services.api]{service}health = {{ url = "http://127.0.0.1:{{self.port}}/", timeout = 0.5 }}\n'
    if db:
        text += 'depends_on = ["db"]\n'
    recipe = tmp_path / "shop.toml"
    recipe.write_text(textwrap.dedent(text) + textwrap.dedent(more))
    return recipe


def shop_env(tmp_path: Path, user: str, marker: str = "") -> dict[str, str]:
    env = {**os.environ, **isolated_env(tmp_path), "STAGEDECK_DB": str(tmp_path / "shared.db")}
    return {**env, "USER": user, **({"STAGEDECK_TEST_MARKER": marker} if marker else {})}


@pytest.mark.slow
def test_why_status_and_redeploy_from_another_shell(tmp_path: Path) -> None:
    marker = new_marker()
    recipe = shop(tmp_path)
    env = shop_env(tmp_path, "carol", marker)
    up = stagedeck(env, "up", str(recipe))
    assert up.returncode == 0, up.stderr
    try:
        # One environment process, started to last: not a second one racing it, and not
        # one that stops when nobody watches (up itself attached and left: grace 1 s).
        (log,) = (tmp_path / "state" / "stagedeck" / "envproc").glob("*.log")
        assert "already runs" not in log.read_text()
        time.sleep(2.0)
        status = stagedeck(env, "status", str(recipe), "--json")
        assert "attached to the environment process" in status.stderr
        assert status.returncode == 0, status.stdout + status.stderr
        assert [s["healthy"] for s in json.loads(status.stdout)["services"]] == [True, True]

        why = stagedeck(env, "why", str(recipe), "--json")
        assert "ranked from the history of the environment process" in why.stderr, why.stderr
        assert json.loads(why.stdout)["environment"] == "shop"

        redeploy = stagedeck(env, "redeploy", str(recipe), "db", "--yes")
        assert redeploy.returncode == 0, redeploy.stderr
        assert "redeploy db: db healthy" in redeploy.stdout
        assert "written by the environment process" in redeploy.stderr

        # A fault from a script: applied and lifted by the environment process, which owns
        # the services (on its own, this command could not reach their processes).
        fault = stagedeck(
            env, "fault", str(recipe), "api", "pause", "--for", "1.5s", "--json", "-y"
        )
        assert fault.returncode == 0, fault.stderr
        assert "attached to the environment process" in fault.stderr
        held = json.loads(fault.stdout)
        assert held["kind"] == "pause" and held["lifted"] == "expired", held
        assert "SIGSTOP" in held["applied"] and 1.2 < held["seconds"] < 5
        entry = Store.open(tmp_path / "shared.db").recent_audit("shop")[0]
        assert (entry.action, entry.user, entry.outcome) == ("fault pause", "carol", "ok")
        assert entry.details.get("via") == "environment process" and entry.ended is not None
    finally:
        down = stagedeck(env, "down", str(recipe), "--yes")
        assert down.returncode == 0, down.stderr
    assert wait_until_gone(marker, timeout=15) == []


def test_up_is_refused_under_someone_else_s_lease(tmp_path: Path) -> None:
    """Starting the environment is a bring-up: the same lease rule as from a cockpit."""
    recipe = shop(tmp_path)
    env = shop_env(tmp_path, "carol")
    store = Store.open(tmp_path / "shared.db")
    store.acquire_lease("shop", "dave", "migrating orders [OPS-1234]", 600)
    up = stagedeck(env, "up", str(recipe))
    assert up.returncode == 1, up.stdout + up.stderr
    assert "dave" in up.stderr and "--force" in up.stderr
    assert not list((tmp_path / "run").glob("**/*.sock"))
    status = stagedeck(env, "status", str(recipe), "--json")
    assert "no environment process" in status.stderr


@pytest.mark.slow
def test_a_scenario_from_a_script_attaches_and_freezes_a_process_it_does_not_own(
    tmp_path: Path,
) -> None:
    """On its own, `stagedeck scenario` could only reach chaos endpoints of local services
    (their processes belong to whoever started them); attached, the environment process
    pauses the process, lifts it when due, and the result is stored with a run."""
    marker = new_marker()
    scenario = """
        [scenarios."api frozen"]
        service = "api"
        fault = "pause"
        duration = 2
        detect_within = 5
        recover_within = 10
        """
    recipe = shop(tmp_path, scenario, db=False)
    env = shop_env(tmp_path, "erin", marker)
    up = stagedeck(env, "up", str(recipe))
    assert up.returncode == 0, up.stderr
    try:
        done = stagedeck(env, "scenario", str(recipe), "api frozen", "--json", "-y")
        assert "attached to the environment process" in done.stderr
        assert done.returncode == 0, done.stdout + done.stderr
        result = json.loads(done.stdout)
        assert result["scenario"] == "api frozen" and result["ok"], result
        assert result["detect_s"] is not None and result["detect_s"] <= 5
        assert result["recover_s"] is not None and result["recover_s"] <= 10
        entry = Store.open(tmp_path / "shared.db").recent_audit("shop")[0]
        assert (entry.action, entry.user) == ("fault pause", "erin")
        assert entry.details.get("scenario") == "api frozen" and entry.ended is not None
    finally:
        down = stagedeck(env, "down", str(recipe), "--yes")
        assert down.returncode == 0, down.stderr
    assert wait_until_gone(marker, timeout=15) == []
