"""The local target against real processes: order, crashes, restarts, clean shutdown."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from stagedeck.engine.actions import bring_up, redeploy
from stagedeck.engine.engine import Engine
from stagedeck.engine.events import ActionProgress, Event, Health, ProcState
from stagedeck.recipe.model import Recipe, load_recipe
from support.procs import marked_pids, new_marker, wait_until_gone

SERVICE = Path(__file__).parent / "support" / "services.py"


def recipe_text(marker: str, extra: str = "") -> str:
    def svc(name: str, deps: list[str], delay: float = 0.0, children: int = 0) -> str:
        return textwrap.dedent(f"""
            [services.{name}]
            command = ["{{python}}", "{SERVICE}", "{{self.port}}",
                       "--delay", "{delay}", "--children", "{children}"]
            port = "auto"
            health = "/"
            depends_on = {deps!r}
            ready_timeout = 10
            env = {{ STAGEDECK_TEST_MARKER = "{marker}" }}
            """).replace("'", '"')

    return (
        textwrap.dedent("""
            [environment]
            name = "t"
            probe_interval = 0.3
            probe_timeout = 0.5
            failures_before_down = 2
            """)
        + svc("db", [], delay=1.0, children=2)
        + svc("cache", [])
        + svc("api", ["db", "cache"], delay=0.2)
        + svc("web", ["api"])
        + svc("worker", ["api", "db"])
        + extra
    )


@pytest.fixture
def marker() -> str:
    return new_marker()


@pytest.fixture
def recipe(tmp_path: Path, marker: str) -> Recipe:
    path = tmp_path / "recipe.toml"
    path.write_text(recipe_text(marker))
    return load_recipe(path)


async def started(recipe: Recipe) -> tuple[Engine, list[Event]]:
    engine = Engine(recipe)
    events: list[Event] = []
    engine.subscribe(events.append)
    await engine.start(bring_up=False)
    return engine, events


async def test_bring_up_in_dependency_order(recipe: Recipe, marker: str) -> None:
    engine, events = await started(recipe)
    try:
        outcome = await bring_up(engine)
        assert outcome.ok, outcome.describe()
        steps = {s.service: s for s in outcome.steps}
        # Each service started only after all of its dependencies were healthy.
        for name, svc in recipe.services.items():
            for dep in svc.depends_on:
                assert steps[dep].finished <= steps[name].started, (dep, name)
        # Within a layer, services started together (in parallel), not one after another.
        assert abs(steps["db"].started - steps["cache"].started) < 0.2
        assert abs(steps["web"].started - steps["worker"].started) < 0.2
        # cache is quick, db takes a second: parallel means cache did not wait for db.
        assert steps["cache"].finished < steps["db"].finished
        assert all(s.health is Health.HEALTHY for s in engine.statuses.values())
        running = [e for e in events if isinstance(e, ActionProgress) and e.state == "running"]
        assert [e.step for e in running][-2:] in (["web", "worker"], ["worker", "web"])
    finally:
        await engine.stop()
    assert wait_until_gone(marker) == []


async def test_killed_service_crashes_and_recovers_on_restart(recipe: Recipe, marker: str) -> None:
    engine, _ = await started(recipe)
    try:
        assert (await bring_up(engine)).ok
        pid = engine.statuses["cache"].pid
        assert pid
        os.kill(pid, signal.SIGKILL)
        for _ in range(100):
            if engine.statuses["cache"].state is ProcState.CRASHED:
                break
            await asyncio.sleep(0.05)
        status = engine.statuses["cache"]
        assert status.state is ProcState.CRASHED and status.health is Health.DOWN
        assert "killed by signal 9" in status.reason
        assert engine.graph.impacted(engine.down()) == {"api", "web", "worker"}

        outcome = await redeploy(engine, "cache")
        assert outcome.ok, outcome.describe()
        status = engine.statuses["cache"]
        assert status.health is Health.HEALTHY and status.restarts == 1 and status.pid != pid
    finally:
        await engine.stop()
    assert wait_until_gone(marker) == []


async def test_redeploy_with_dependents_goes_in_order(recipe: Recipe) -> None:
    engine, _ = await started(recipe)
    try:
        assert (await bring_up(engine)).ok
        outcome = await redeploy(engine, "api", with_dependents=True)
        assert outcome.ok, outcome.describe()
        assert outcome.steps[0].service == "api"
        assert {s.service for s in outcome.steps} == {"api", "web", "worker"}
        assert all(engine.statuses[n].restarts == 1 for n in ("api", "web", "worker"))
        assert engine.statuses["db"].restarts == 0
    finally:
        await engine.stop()


async def test_shutdown_leaves_no_process_behind(recipe: Recipe, marker: str) -> None:
    engine, _ = await started(recipe)
    assert (await bring_up(engine)).ok
    # db started two children of its own: they count too.
    assert len(marked_pids(marker)) >= 7
    await engine.stop()
    assert wait_until_gone(marker, timeout=2) == []


async def test_failures_are_isolated(tmp_path: Path, marker: str) -> None:
    blocker = __import__("socket").socket()
    blocker.bind(("127.0.0.1", 0))
    blocker.listen()
    busy = blocker.getsockname()[1]
    extra = textwrap.dedent(f"""
        [services.ghost]
        command = ["/nonexistent/ghostd"]
        health = "http://127.0.0.1:1/"

        [services.squatter]
        command = ["{{python}}", "-m", "http.server", "{busy}"]
        port = {busy}
        health = "/"
        """)
    path = tmp_path / "recipe.toml"
    path.write_text(recipe_text(marker, extra))
    engine, _ = await started(load_recipe(path))
    try:
        outcome = await bring_up(engine, ["ghost", "squatter", "cache"])
        assert not outcome.ok
        ghost, squatter = engine.statuses["ghost"], engine.statuses["squatter"]
        assert ghost.state is ProcState.FAILED
        assert ghost.reason == "command not found: /nonexistent/ghostd"
        assert (
            squatter.state is ProcState.FAILED
            and f"port {busy} is already in use" in squatter.reason
        )
        assert engine.statuses["cache"].health is Health.HEALTHY  # the rest continue
    finally:
        await engine.stop()
        blocker.close()


async def test_failed_plan_stops_later_layers(tmp_path: Path, marker: str) -> None:
    text = recipe_text(marker).replace('"--delay", "1.0"', '"--delay", "30"', 1)
    text = text.replace("ready_timeout = 10", "ready_timeout = 1.5", 1)  # db's
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    engine, _ = await started(load_recipe(path))
    try:
        outcome = await bring_up(engine)
        assert not outcome.ok
        failure = outcome.failure
        assert failure is not None and failure.service == "db"
        assert "after 1.5s" in failure.detail
        assert any("starting on" in line for line in failure.last_lines)
        assert set(outcome.untouched) == {"api", "web", "worker"}
        assert engine.statuses["api"].state is ProcState.PENDING
        assert "stopped at db" in outcome.describe()
    finally:
        await engine.stop()


def test_sigkill_of_the_cockpit_leaves_no_service_running(tmp_path: Path, marker: str) -> None:
    path = tmp_path / "recipe.toml"
    path.write_text(recipe_text(marker))
    proc = subprocess.Popen(
        [sys.executable, "-m", "stagedeck", "open", "--headless", str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 20
        for line in proc.stdout:
            if "bring-up:" in line:
                assert "healthy" in line, line
                break
            assert time.monotonic() < deadline
        assert len(marked_pids(marker)) >= 7
        proc.kill()  # SIGKILL: the cockpit gets no chance to clean up
        proc.wait()
        assert wait_until_gone(marker, timeout=10) == []
    finally:
        if proc.poll() is None:
            proc.kill()


def test_sigterm_of_headless_cockpit_stops_services(tmp_path: Path, marker: str) -> None:
    path = tmp_path / "recipe.toml"
    path.write_text(recipe_text(marker))
    proc = subprocess.Popen(
        [sys.executable, "-m", "stagedeck", "open", "--headless", str(path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if "bring-up:" in line:
            break
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=15)
    assert proc.returncode == 0
    assert "stopping services" in out
    assert marked_pids(marker) == []
