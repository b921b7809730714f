"""Pilot tests of the shared-environment features: suites, annotations, leases,
activity from other processes, and read-only mode."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from stagedeck.engine.engine import Engine
from stagedeck.operations.policy import ReadOnly
from stagedeck.recipe.model import load_recipe
from stagedeck.store import Store
from stagedeck.store.shared import SharedState
from stagedeck.suites.runner import SuiteState
from stagedeck.tui.app import StagedeckApp
from stagedeck.tui.screens.confirm import ConfirmScreen
from stagedeck.tui.screens.forms import AnnotateScreen
from stagedeck.tui.screens.suites import SuitesScreen
from support.wait import wait_until

SUITE = """
def test_checkout():
    assert "payments sandbox timed out after 5000 ms" == "ok"

def test_browse():
    assert True
"""


def recipe(tmp_path: Path) -> Path:
    (tmp_path / "test_shop.py").write_text(SUITE)
    path = tmp_path / "recipe.toml"
    path.write_text(
        textwrap.dedent(f"""
        [environment]
        name = "shared-env"

        [services.api]
        command = ["true"]

        [seeds.data]
        service = "api"
        command = ["true"]

        [suites.shop]
        command = ["{{python}}", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_shop.py", "--junitxml={{junit}}"]
        cwd = "{tmp_path}"

        [suites.load]
        command = ["true"]
        exclusive = true
        """)
    )
    return path


def make_app(
    tmp_path: Path, user: str = "alice", read_only: ReadOnly | None = None
) -> StagedeckApp:
    engine = Engine(load_recipe(recipe(tmp_path)))
    store = Store.open(tmp_path / "shared.db")
    shared = SharedState(store, "shared-env", user)
    return StagedeckApp(
        engine,
        start_engine=False,
        watch_themes=False,
        shared=shared,
        user=user,
        suites_workdir=tmp_path / "runs",
        read_only=read_only,
    )


async def test_run_suite_annotate_and_see_it_resurface(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("5")
        screen = app.screen
        assert isinstance(screen, SuitesScreen)
        await pilot.press("t")  # the cursor is on the first suite: shop
        await wait_until(
            lambda: "shop" in app.suites.progress and app.suites.progress["shop"].state.finished,
            pilot=pilot,
        )
        assert app.suites.progress["shop"].state is SuiteState.FAILED
        await wait_until(lambda: screen.selected_failure is not None, pilot=pilot)
        failure = screen.selected_failure
        assert failure is not None and failure.failure.result.test_id.endswith("test_checkout")

        await pilot.press("a")
        assert isinstance(app.screen, AnnotateScreen)
        await pilot.press(*"payments sandbox times out under load", "enter")
        store = app.shared.store  # type: ignore[union-attr]
        signature = failure.failure.result.signature
        await wait_until(lambda: bool(store.annotations_for(signature)), pilot=pilot)
        (note,) = store.annotations_for(signature)
        assert (note.author, note.tag, note.note) == (
            "alice",
            "flaky",
            "payments sandbox times out under load",
        )

        # The same failure again: the cockpit shows what is known, inline.
        await pilot.press("t")
        await wait_until(lambda: app.shared.snapshot.last_run_id == 2, pilot=pilot)  # type: ignore[union-attr]
        await wait_until(
            lambda: screen.selected_failure is not None and screen.selected_failure.seen == 2,
            pilot=pilot,
        )
        detail = str(screen.query_one("#failure-detail").render())
        assert "seen 2 times since today" in detail
        assert "alice [flaky]" in detail and "payments sandbox times out under load" in detail


async def test_another_process_lease_and_audit_appear_within_two_seconds(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("6")
        app.shared.start()  # type: ignore[union-attr]
        await pilot.pause(0.3)
        started = time.monotonic()
        subprocess.run(
            [
                sys.executable,
                "-m",
                "stagedeck",
                "lease",
                "acquire",
                "--env",
                "shared-env",
                "--db",
                str(tmp_path / "shared.db"),
                "--user",
                "bob",
                "--reason",
                "load test",
                "--ttl",
                "25m",
            ],
            check=True,
            capture_output=True,
        )
        await wait_until(lambda: app.shared.snapshot.lease is not None, timeout=5, pilot=pilot)  # type: ignore[union-attr]
        assert time.monotonic() - started < 2.5
        status = app.screen.query_one("StatusBar")
        await wait_until(
            lambda: "leased by bob for 25 more minutes: load test" in str(status.render()),
            pilot=pilot,
        )
        # bob's lease stops alice's exclusive suite and asks before a redeploy.
        await pilot.press("5")
        screen = app.screen
        assert isinstance(screen, SuitesScreen)
        await pilot.press("j")
        assert screen.selected_suite == "load"
        await pilot.press("t")  # load is exclusive: bob's lease must be forced, or nothing runs
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert (
            app.screen.title_text
            == "run load refused: leased by bob for 25 more minutes: load test"
        )
        await pilot.press("n")
        await wait_until(lambda: not isinstance(app.screen, ConfirmScreen), pilot=pilot)
        assert "load" not in app.suites.progress
        await pilot.press("1", "r")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "leased by bob" in app.screen.title_text


async def test_read_only_refuses_every_mutating_key(tmp_path: Path) -> None:
    app = make_app(tmp_path, read_only=ReadOnly("read-only (--read-only)"))
    async with app.run_test(size=(120, 40)) as pilot:

        def refusals() -> int:
            return sum(
                "refused: this cockpit is read-only" in n.message for n in app._notifications
            )

        for count, key in enumerate(("r", "R", "s", "L"), start=1):
            await pilot.press(key)
            await wait_until(lambda: refusals() >= count, what=key, pilot=pilot)  # noqa: B023
            assert not isinstance(app.screen, ConfirmScreen), key
        await pilot.press("5", "j")
        assert isinstance(app.screen, SuitesScreen) and app.screen.selected_suite == "load"
        await pilot.press("t")  # the exclusive suite
        await wait_until(lambda: refusals() >= 5, what="run load", pilot=pilot)
        messages = [n.message for n in app._notifications]
        for action in ("redeploy", "bring-up", "reseed", "lease", "run load"):
            assert any(
                m.startswith(f"{action} refused: this cockpit is read-only") for m in messages
            ), action
        assert "load" not in app.suites.progress
        assert app.shared.store.recent_audit("shared-env") == []  # type: ignore[union-attr]


def test_read_only_cli_refuses_every_mutating_command(tmp_path: Path) -> None:
    path = recipe(tmp_path)
    db = str(tmp_path / "cli.db")
    commands = [
        ["up", str(path), "--headless", "--read-only", "--yes"],
        ["reseed", str(path), "--read-only", "--yes"],
        ["lease", "acquire", str(path), "--read-only", "--db", db],
        ["lease", "release", str(path), "--read-only", "--db", db],
    ]
    for args in commands:
        out = subprocess.run(
            [sys.executable, "-m", "stagedeck", *args], capture_output=True, text=True
        )
        assert out.returncode == 1, (args, out.stderr)
        assert "refused: this cockpit is read-only" in out.stderr, args


async def test_unwritable_database_disables_annotations_but_keeps_running(tmp_path: Path) -> None:
    bad = tmp_path / "corrupt.db"
    bad.write_bytes(b"this is not a database" * 100)
    # The path the cockpit takes: it draws first, then connects to the shared database.
    shared = SharedState(None, "shared-env", "alice", db_path=bad)
    await shared.connect()
    assert shared.store is None and "annotations disabled" in shared.snapshot.problem
    engine = Engine(load_recipe(recipe(tmp_path)))
    app = StagedeckApp(engine, start_engine=False, watch_themes=False, shared=shared, user="alice")
    async with app.run_test(size=(120, 40)) as pilot:
        banner = app.screen.query_one("Banner")
        await wait_until(
            lambda: banner.display and "annotations disabled" in str(banner.render()), pilot=pilot
        )
        assert str(bad) in str(banner.render())
        await pilot.press("L")
        assert any("leases need the shared database" in n.message for n in app._notifications)
        await asyncio.sleep(0)
