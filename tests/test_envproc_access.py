"""Who may attach: the owner; a Unix group when the environment is shared; nobody else.

A second Unix account is created for the test (this needs root: skipped
otherwise). It is refused clearly (never handed a silent second environment)
while the environment is private or shared with a group it is not in, and may
watch once it is in the group, read-only when the share says so.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.procs import new_marker, wait_until_gone

HERE = Path(__file__).parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(
        os.geteuid() != 0 or shutil.which("useradd") is None,
        reason="needs root (and useradd) to create a second Unix account",
    ),
]


@pytest.fixture
def stranger() -> Iterator[tuple[str, str, Path]]:
    """A fresh Unix account and a fresh group it is not (yet) in."""
    tag = uuid.uuid4().hex[:6]
    user, group = f"sdu{tag}", f"sdg{tag}"
    home = Path(f"/tmp/sdhome-{tag}")
    subprocess.run(["groupadd", group], check=True)
    subprocess.run(["useradd", "-M", "-N", "-d", str(home), user], check=True)
    home.mkdir(mode=0o700)
    shutil.chown(home, user)
    try:
        yield user, group, home
    finally:
        subprocess.run(["userdel", user], check=False)
        subprocess.run(["groupdel", group], check=False)
        shutil.rmtree(home, ignore_errors=True)


@pytest.fixture
def world() -> Iterator[Path]:
    """A directory everyone can read: the recipe and the registry live here."""
    path = Path(f"/tmp/sdworld-{uuid.uuid4().hex[:6]}")
    path.mkdir()
    os.chmod(path, 0o755)
    (path / "registry").mkdir()
    os.chmod(path / "registry", 0o1777)
    recipe = path / "team.toml"
    recipe.write_text(
        textwrap.dedent(f"""
        [environment]
        name = "team"

        [services.api]
        command = ["{{python}}", "{HERE / "support" / "services.py"}", "{{self.port}}"]
        port = "auto"
        health = "/"
        """)
    )
    os.chmod(recipe, 0o644)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


def owner_env(world: Path, tmp_path: Path, marker: str, **extra: str) -> dict[str, str]:
    run = tmp_path / "run"
    run.mkdir(mode=0o700, exist_ok=True)
    return {
        **os.environ,
        "STAGEDECK_TEST_MARKER": marker,
        "STAGEDECK_REGISTRY": str(world / "registry"),
        "XDG_RUNTIME_DIR": str(run),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "STAGEDECK_DB": str(tmp_path / "owner.db"),
        "USER": "owner",
        **extra,
    }


def stagedeck(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stagedeck", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def as_stranger(user: str, home: Path, world: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(home),
        "USER": user,
        "XDG_STATE_HOME": str(home / "state"),
        "STAGEDECK_REGISTRY": str(world / "registry"),
        "STAGEDECK_DB": str(home / "mine.db"),
    }
    return subprocess.run(
        [sys.executable, str(HERE / "support" / "run_as.py"), user, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=str(home),
    )


def test_private_then_shared_with_a_group(
    stranger: tuple[str, str, Path], world: Path, tmp_path: Path
) -> None:
    user, group, home = stranger
    recipe = str(world / "team.toml")
    marker = new_marker()

    # Private (the default): the stranger is refused, and nothing of theirs starts.
    env = owner_env(world, tmp_path, marker)
    up = stagedeck(env, "up", recipe)
    assert up.returncode == 0, up.stderr
    try:
        status = as_stranger(user, home, world, "status", recipe)
        assert status.returncode == 1
        assert "run by root" in status.stderr and "private to them" in status.stderr
        again = as_stranger(user, home, world, "up", recipe)
        assert again.returncode == 1 and "does not start a second copy" in again.stderr
        assert "is up" not in again.stdout
        mine = stagedeck(env, "status", recipe)
        assert mine.returncode == 0 and "api" in mine.stdout, mine.stderr
    finally:
        down = stagedeck(env, "down", recipe, "--yes")
        assert down.returncode == 0, down.stderr
    assert wait_until_gone(marker, timeout=15) == []

    # Shared read-only with a group the stranger is not in: still refused, and told why.
    marker = new_marker()
    env = owner_env(
        world,
        tmp_path,
        marker,
        STAGEDECK_SHARE_GROUP=group,
        STAGEDECK_SHARE_MODE="read-only",
    )
    up = stagedeck(env, "up", recipe)
    assert up.returncode == 0, up.stderr
    try:
        status = as_stranger(user, home, world, "status", recipe)
        assert status.returncode == 1
        assert f"shared read-only with the group {group}" in status.stderr, status.stderr

        # In the group: they see the same health, and may not act.
        subprocess.run(["usermod", "-aG", group, user], check=True)
        status = as_stranger(user, home, world, "status", recipe, "--json")
        assert status.returncode == 0, status.stderr
        assert '"healthy": true' in status.stdout
        assert "attached to the environment process" in status.stderr
        redeploy = as_stranger(user, home, world, "redeploy", recipe, "api", "--yes")
        assert redeploy.returncode == 1
        assert "read-only access" in redeploy.stderr, redeploy.stderr
    finally:
        down = stagedeck(env, "down", recipe, "--yes")
        assert down.returncode == 0, down.stderr
    assert wait_until_gone(marker, timeout=15) == []
