"""Living recipes: a running engine follows saves of its recipe, and survives broken ones."""

from __future__ import annotations

import asyncio
import os
import textwrap
from pathlib import Path

import pytest

from stagedeck.deadline import within
from stagedeck.engine.actions import bring_up, redeploy
from stagedeck.engine.engine import Engine
from stagedeck.engine.events import Event, Health, ProcState, RecipeReloaded
from stagedeck.engine.recipe_diff import ReloadOutcome, diff_recipes
from stagedeck.engine.reload import RecipeWatcher, watch_engine
from stagedeck.recipe.errors import RecipeError
from stagedeck.recipe.model import Recipe, load_recipe
from support.procs import new_marker, wait_until_gone
from support.wait import wait_until

SERVICE = Path(__file__).parent / "support" / "services.py"


def service(name: str, deps: tuple[str, ...] = (), extra: str = "") -> str:
    return textwrap.dedent(f"""
        [services.{name}]
        command = ["{{python}}", "{SERVICE}", "{{self.port}}"]
        port = "auto"
        health = {{ url = "/", interval = 0.3 }}
        depends_on = {list(deps)!r}
        ready_timeout = 10
        {extra}
        """).replace("'", '"')


HEAD = """
[environment]
name = "live"
probe_interval = 0.3
probe_timeout = 0.5
failures_before_down = 2
"""


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


# --------------------------------------------------------------------------- diff


def test_diff_recipes(tmp_path: Path) -> None:
    path = tmp_path / "r.toml"
    path.write_text(HEAD + service("a") + service("b", ("a",)) + service("c"))
    old = load_recipe(path)
    text = (
        HEAD
        + service("a").replace("interval = 0.3", "interval = 1")  # check changed
        + service("b", ("a",), 'env = { MODE = "x" }')  # process changed
        + service("d", ("a",))  # added; c removed
    )
    path.write_text(text)
    new = load_recipe(path, previous=old)
    outcome = diff_recipes(old, new, manages_processes=True)
    assert (outcome.added, outcome.removed) == (["d"], ["c"])
    assert outcome.changed == ["a", "b"]
    assert outcome.needs_restart == ["b"]
    # Ports given with "auto" are kept across a reload, or everything would restart.
    assert new.services["a"].port == old.services["a"].port
    assert "restart to apply: b" in outcome.describe()
    # On a platform we do not run processes on, nothing needs a restart from us.
    assert diff_recipes(old, new, manages_processes=False).needs_restart == []

    path.write_text(text.replace('name = "live"', 'name = "live"\ntarget = "docker"'))
    rejected = diff_recipes(old, load_recipe(path), manages_processes=True)
    assert not rejected.applied and "environment.target changed" in rejected.rejected


# --------------------------------------------------------------------------- engine


@pytest.mark.slow
async def test_engine_follows_saves_and_survives_a_broken_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    marker = new_marker()
    monkeypatch.setenv("STAGEDECK_TEST_MARKER", marker)
    path = tmp_path / "recipe.toml"
    path.write_text(HEAD + service("db") + service("api", ("db",)) + service("old"))
    engine = Engine(load_recipe(path))
    events: list[Event] = []
    engine.subscribe(events.append)
    outcomes: list[ReloadOutcome] = []
    watcher = watch_engine(engine, on_outcome=outcomes.append)

    def reloads() -> list[RecipeReloaded]:
        return [e for e in events if isinstance(e, RecipeReloaded)]

    async def save(text: str) -> RecipeReloaded:
        before = len(reloads())
        path.write_text(text)
        await wait_until(lambda: len(reloads()) > before, what="RecipeReloaded")
        return reloads()[-1]

    await engine.start(bring_up=False)
    watching = asyncio.create_task(watcher.run())
    try:
        assert (await bring_up(engine)).ok
        await within(watcher.ready.wait(), 10)
        db_pid, api_pid, old_pid = (engine.statuses[n].pid for n in ("db", "api", "old"))
        assert db_pid and api_pid and old_pid
        db_port = engine.service("db").port

        # Add "new" (after db), remove "old", change api's check and its dependencies.
        text = (
            HEAD
            + service("db")
            + service("api", ("db", "new")).replace('url = "/"', 'url = "/health"')
            + service("new", ("db",))
        )
        event = await save(text)
        assert event.problems == ()
        outcome = outcomes[-1]
        assert (outcome.added, outcome.removed, outcome.changed) == (["new"], ["old"], ["api"])
        assert outcome.needs_restart == []
        assert "old" not in engine.statuses and "old" not in engine.recipe.services
        await wait_until(lambda: not pid_alive(old_pid), what="old stopped")
        await wait_until(lambda: engine.statuses["new"].ok, what="new healthy")
        assert engine.graph.dependents("new") == ["api"]
        api_check = engine.service("api").health
        assert api_check is not None and api_check.url.endswith("/health")
        # Nothing that did not change was restarted; db kept its free port.
        assert (engine.statuses["db"].pid, engine.statuses["api"].pid) == (db_pid, api_pid)
        assert engine.service("db").port == db_port

        # A changed command/env is not applied behind the user's back: it needs a restart.
        new_pid = engine.statuses["new"].pid
        text = text.replace(service("new", ("db",)), service("new", ("db",), 'env = { V = "2" }'))
        await save(text)
        assert outcomes[-1].needs_restart == ["new"]
        assert engine.statuses["new"].pid == new_pid
        assert (await redeploy(engine, "new")).ok  # what the UI does once the user says yes
        assert engine.statuses["new"].pid != new_pid

        # A broken save: the problem with file and line, and the engine keeps going.
        good = engine.recipe
        broken = text.replace('depends_on = ["db"]', 'depend_on = ["db"]', 1)
        event = await save(broken)
        line = broken.splitlines().index('depend_on = ["db"]') + 1
        assert len(event.problems) == 1
        assert event.problems[0].startswith(f"{path}:{line}: services.")
        assert "did you mean 'depends_on'?" in event.problems[0]
        assert engine.recipe is good
        seen = len(engine.latency["db"])
        await wait_until(lambda: len(engine.latency["db"]) > seen, what="db still probed")
        assert all(s.health is Health.HEALTHY for s in engine.statuses.values())

        # Fixing it clears the problems.
        event = await save(text + "\n# fixed\n")
        assert event.problems == ()
        assert outcomes[-1].empty
    finally:
        watcher.stop()
        await within(watching, 5)
        await engine.stop()
    assert wait_until_gone(marker) == []


async def test_a_removed_service_that_was_waiting_never_starts(tmp_path: Path) -> None:
    path = tmp_path / "recipe.toml"
    path.write_text(HEAD + service("db").replace("{self.port}", '{self.port}", "--delay", "30'))
    engine = Engine(load_recipe(path))
    await engine.start(bring_up=False)
    try:
        await engine.target.start(engine.service("db"))  # db starting, not healthy for 30 s
        path.write_text(path.read_text() + service("web", ("db",)))
        outcome = await engine.apply_recipe(load_recipe(path, previous=engine.recipe))
        assert outcome.added == ["web"]
        await wait_until(lambda: "waiting for db" in engine.statuses["web"].reason)
        assert engine.statuses["web"].state is ProcState.PENDING
        path.write_text(HEAD + service("db").replace("{self.port}", '{self.port}", "--delay", "30'))
        outcome = await engine.apply_recipe(load_recipe(path, previous=engine.recipe))
        assert outcome.removed == ["web"] and "web" not in engine.statuses
        await asyncio.sleep(0.3)
        assert engine.target.pid("web") is None
    finally:
        await engine.stop()


# --------------------------------------------------------------------------- watcher


async def test_watcher_follows_includes(tmp_path: Path) -> None:
    base = tmp_path / "conf" / "base.toml"
    base.parent.mkdir()
    base.write_text('[environment]\nname = "one"\n')
    main = tmp_path / "main.toml"
    main.write_text('include = ["conf/base.toml"]\n')
    seen: list[Recipe | RecipeError] = []
    watcher = RecipeWatcher(main, seen.append, current=load_recipe(main))
    task = asyncio.create_task(watcher.run())
    try:
        await within(watcher.ready.wait(), 10)
        assert watcher.files == {main, base}

        base.write_text('[environment]\nname = "two"\n')
        await wait_until(lambda: len(seen) == 1, what="reload after editing the include")
        assert isinstance(seen[-1], Recipe) and seen[-1].name == "two"

        base.write_text('[environment]\nnmae = "three"\n')
        await wait_until(lambda: len(seen) == 2, what="reload of a broken include")
        error = seen[-1]
        assert isinstance(error, RecipeError)
        assert (error.problems[0].file, error.problems[0].line) == (base, 2)

        # A new include is watched from the moment the recipe names it.
        extra = tmp_path / "extra.toml"
        extra.write_text("[environment]\nprobe_interval = 5\n")
        base.write_text('[environment]\nname = "four"\n')
        main.write_text('include = ["conf/base.toml", "extra.toml"]\n')
        await wait_until(lambda: isinstance(seen[-1], Recipe) and seen[-1].name == "four")
        await wait_until(lambda: extra in watcher.files, what="extra watched")
        count = len(seen)
        extra.write_text("[environment]\nprobe_interval = 7\n")
        await wait_until(lambda: len(seen) > count, what="reload after editing the new include")
        last = seen[-1]
        assert isinstance(last, Recipe) and last.environment.probe_interval == 7
    finally:
        watcher.stop()
        await within(task, 5)


async def test_watcher_survives_atomic_rename_saves(tmp_path: Path) -> None:
    main = tmp_path / "main.toml"
    main.write_text('[environment]\nname = "one"\n')
    seen: list[Recipe | RecipeError] = []
    watcher = RecipeWatcher(main, seen.append)
    task = asyncio.create_task(watcher.run())
    try:
        await within(watcher.ready.wait(), 10)
        for count, name in enumerate(("two", "three"), 1):
            temp = tmp_path / ".main.toml.swp"
            temp.write_text(f'[environment]\nname = "{name}"\n')
            temp.replace(main)  # how vim and most editors save
            await wait_until(lambda: len(seen) >= count, what=f"reload {count}")  # noqa: B023
            last = seen[-1]
            assert isinstance(last, Recipe) and last.name == name
    finally:
        watcher.stop()
        await within(task, 5)


async def test_a_reload_loads_the_way_the_recipe_was_first_loaded(tmp_path: Path) -> None:
    """A cockpit opened with --free-ports keeps its free ports across reloads."""
    path = tmp_path / "recipe.toml"
    path.write_text(HEAD + service("a").replace('port = "auto"', "port = 45999"))
    first = load_recipe(path, auto_ports=True)
    assert first.services["a"].port != 45999
    seen: list[Recipe | RecipeError] = []
    result = await RecipeWatcher(path, seen.append, current=first).reload()
    assert seen == [result]
    assert isinstance(result, Recipe) and result.services["a"].port == first.services["a"].port
    assert diff_recipes(first, result, manages_processes=True).empty
