"""Health checks beyond HTTP: tcp and command checks, against real PostgreSQL and Redis too."""

from __future__ import annotations

import glob
import os
import shutil
import signal
import subprocess
import textwrap
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from stagedeck.engine.actions import bring_up
from stagedeck.engine.engine import Engine
from stagedeck.engine.events import Health, ProcState
from stagedeck.engine.probes import HealthTracker, ProbeResult
from stagedeck.recipe.errors import RecipeError
from stagedeck.recipe.model import load_recipe
from support.wait import wait_until

REALWORLD = Path(__file__).resolve().parent.parent / "recipes" / "realworld" / "realworld.toml"


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


# --------------------------------------------------------------------------- the recipe model


def test_command_check_can_run_inside_the_service(tmp_path: Path) -> None:
    path = write(
        tmp_path / "r.toml",
        """
        [environment]
        name = "x"
        target = "docker"

        [services.db]
        health = { command = ["pg_isready", "-q"], in_service = true, retries = 4, start_period = 10 }
        """,
    )
    check = load_recipe(path).services["db"].health
    assert check is not None
    assert (check.kind, check.in_service, check.retries, check.start_period) == (
        "command",
        True,
        4,
        10.0,
    )
    assert check.describe() == "in service: pg_isready -q"


@pytest.mark.parametrize(
    ("health", "message"),
    [
        ('{ tcp = "127.0.0.1:5432", in_service = true }', "applies only to command checks"),
        # On the local target it would run on this machine while the view says "in service".
        (
            '{ command = ["pg_isready", "-q"], in_service = true }',
            "a local service has no container to run the check in",
        ),
    ],
)
def test_in_service_is_refused_where_it_cannot_hold(
    tmp_path: Path, health: str, message: str
) -> None:
    path = write(
        tmp_path / "r.toml",
        f"""
        [environment]
        name = "x"

        [services.db]
        command = ["run"]
        health = {health}
        """,
    )
    with pytest.raises(RecipeError) as info:
        load_recipe(path)
    (problem,) = info.value.problems
    assert (problem.file, problem.line, problem.key) == (path, 7, "services.db.health.in_service")
    assert problem.message == message
    assert f"{path}:7:" in str(info.value)


def test_start_period_ends_at_the_first_pass() -> None:
    """Compose semantics: failures in the start period count once a check has passed."""
    ok, bad = ProbeResult(True, 1.0), ProbeResult(False, 1.0, "refused")
    tracker = HealthTracker(retries=2, start_period=60)
    assert [tracker.record(bad) for _ in range(3)] == [Health.UNKNOWN] * 3  # still starting
    assert tracker.record(ok) is Health.HEALTHY
    assert [tracker.record(bad) for _ in range(2)] == [Health.DEGRADED, Health.DOWN]
    tracker.restarted()  # a new start: a new grace period
    assert tracker.record(bad) is Health.UNKNOWN


# --------------------------------------------------------------------------- latency


async def test_tcp_and_command_checks_record_latency(tmp_path: Path) -> None:
    """With no latency URLs, the check's own time is the latency: connect time, command time."""
    path = write(
        tmp_path / "r.toml",
        """
        [environment]
        name = "lat"

        [services.web]
        command = ["{python}", "-m", "http.server", "{self.port}", "--bind", "127.0.0.1"]
        port = "auto"
        health = { tcp = "127.0.0.1:{self.port}", interval = 0.1 }

        [services.check]
        command = ["{python}", "-c", "import time; time.sleep(60)"]
        health = { command = ["{python}", "-c", "import socket; socket.create_connection(('127.0.0.1', {service.web.port}))"], interval = 0.1 }
        depends_on = ["web"]
        """,
    )
    engine = Engine(load_recipe(path))
    await engine.start(bring_up=False)
    try:
        assert (await bring_up(engine)).ok
        await wait_until(
            lambda: len(engine.latency["web"]) >= 3 and len(engine.latency["check"]) >= 3,
            what="latency samples",
        )
        web, check = engine.latency["web"].summary(), engine.latency["check"].summary()
        assert web.errors == 0 and check.errors == 0
        assert web.p50 is not None and 0 < web.p50 < 100
        # A command check's latency includes starting a Python: clearly more than a connect.
        assert check.p50 is not None and check.p50 > web.p50
    finally:
        await engine.stop()


# --------------------------------------------------------------------------- real servers


def require_servers() -> None:
    """Skip, naming the Debian package, when a server these tests drive is not installed."""
    missing = []
    if not glob.glob("/usr/lib/postgresql/*/bin/postgres") or not shutil.which("pg_isready"):
        missing.append("postgresql")
    if not shutil.which("redis-server") or not shutil.which("redis-cli"):
        missing.append("redis-server")
    if missing:
        pytest.skip(
            f"needs {', '.join(missing)}: install the Debian package(s) {' '.join(missing)}"
            " (bash tests/support/system-deps.sh does)"
        )


@pytest.fixture
async def servers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Engine]:
    """PostgreSQL (command check: pg_isready) and Redis (tcp check) from the realworld recipe.

    The recipe here includes realworld.toml and overrides only Redis's check:
    a real use of includes.
    """
    require_servers()
    monkeypatch.setenv("STAGEDECK_STATE_DIR", str(tmp_path / "state"))
    path = write(
        tmp_path / "checks.toml",
        f"""
        include = ["{REALWORLD}"]

        [environment]
        probe_interval = 0.2
        failures_before_down = 2

        [services.postgres]
        health = {{ command = ["pg_isready", "-q", "-h", "127.0.0.1", "-p", "{{self.port}}"], interval = 0.2, timeout = 1 }}

        [services.redis]
        health = {{ tcp = "127.0.0.1:{{self.port}}", interval = 0.2, timeout = 1 }}
        """,
    )
    engine = Engine(load_recipe(path, auto_ports=True))
    await engine.start(bring_up=False)
    try:
        yield engine
    finally:
        await engine.stop()


def sessions_alive(sids: set[int]) -> list[int]:
    """Processes still in any of the given sessions (services run in their own session)."""
    alive = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if fields[0] != "Z" and int(fields[3]) in sids:
                alive.append(int(entry.name))
    return alive


@pytest.mark.slow
async def test_real_servers_go_healthy_down_with_reason_and_back(servers: Engine) -> None:
    engine = servers
    outcome = await bring_up(engine, ["postgres", "redis"])
    assert outcome.ok, outcome.describe()
    pg, redis = engine.service("postgres"), engine.service("redis")
    assert pg.health is not None and pg.health.kind == "command"
    assert redis.health is not None and redis.health.kind == "tcp"
    await wait_until(
        lambda: len(engine.latency["postgres"]) > 0 and len(engine.latency["redis"]) > 0
    )
    sids = {pid for n in ("postgres", "redis") if (pid := engine.statuses[n].pid)}

    # Redis stops listening on its port (the process lives on): the tcp check says so.
    cli = ["redis-cli", "-h", "127.0.0.1"]
    spare = redis.port + 1 if redis.port and redis.port < 65000 else 40000
    subprocess.run([*cli, "-p", str(redis.port), "CONFIG", "SET", "port", str(spare)], check=True)
    await wait_until(lambda: engine.statuses["redis"].health is Health.DOWN, what="redis down")
    status = engine.statuses["redis"]
    assert status.state is ProcState.RUNNING
    assert status.reason == f"tcp 127.0.0.1:{redis.port}: connection refused"
    subprocess.run([*cli, "-p", str(spare), "CONFIG", "SET", "port", str(redis.port)], check=True)
    await wait_until(lambda: engine.statuses["redis"].ok, what="redis back")

    # PostgreSQL hangs (SIGSTOP): pg_isready times out and the command check says so.
    pid = engine.statuses["postgres"].pid
    assert pid
    os.kill(pid, signal.SIGSTOP)
    try:
        await wait_until(lambda: engine.statuses["postgres"].health is Health.DOWN, what="pg down")
        assert engine.statuses["postgres"].reason == "pg_isready: timed out after 1s"
    finally:
        os.kill(pid, signal.SIGCONT)
    await wait_until(lambda: engine.statuses["postgres"].ok, what="postgres back")

    # Stopped for real, then started again on the same data directory (no second initdb).
    await engine.target.stop(pg)
    status = engine.statuses["postgres"]
    assert (status.state, status.health, status.reason) == (
        ProcState.STOPPED,
        Health.DOWN,
        "stopped",
    )
    outcome = await bring_up(engine, ["postgres"])
    assert outcome.ok, outcome.describe()
    assert not any("initialising" in ln.text for ln in engine.logs.last("postgres", 20))
    sids.add(engine.statuses["postgres"].pid or 0)

    await engine.stop()
    await wait_until(lambda: not sessions_alive(sids), timeout=10, what="servers gone")
