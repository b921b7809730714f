"""The cockpit's keys go through the operations layer: lease, force, audit, cancel.

Pilot drives a cockpit on real local services and a real SQLite file; bob's
lease is written by another Store, as another person's cockpit would.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from stagedeck.engine.engine import Engine
from stagedeck.recipe.model import load_recipe
from stagedeck.store import AuditEntry, Store
from stagedeck.store.shared import SharedState
from stagedeck.tui.app import StagedeckApp
from stagedeck.tui.screens.confirm import ConfirmScreen
from stagedeck.tui.screens.forms import LeaseScreen
from stagedeck.tui.screens.suites import SuitesScreen
from support.operations import BOB_REASON, ENV, audit, bob_leases, write_recipe
from support.wait import wait_until


def make_app(tmp_path: Path, seed: str = "ok") -> tuple[StagedeckApp, Path]:
    db = tmp_path / "shared.db"
    engine = Engine(load_recipe(write_recipe(tmp_path, seed=seed)))
    shared = SharedState(Store.open(db), ENV, "alice")
    app = StagedeckApp(
        engine,
        watch_themes=False,
        watch_recipe=False,
        shared=shared,
        user="alice",
        suites_workdir=tmp_path / "runs",
    )
    return app, db


@contextlib.asynccontextmanager
async def cockpit(app: StagedeckApp) -> AsyncIterator[Any]:
    """Run the cockpit; afterwards stop its services, as ``lifecycle.run_cockpit_async`` does."""
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            yield pilot
    finally:
        await app.engine.stop()


async def all_healthy(pilot: Any, app: StagedeckApp) -> None:
    # worker has no health check: up, shown as "no check" (Health.UNCHECKED), counts as ok
    await wait_until(lambda: all(s.ok for s in app.engine.statuses.values()), pilot=pilot)


def finished(db: Path, action: str) -> list[AuditEntry]:
    return [e for e in audit(db) if e.action == action and e.ended is not None]


async def press_for_action(pilot: Any, app: StagedeckApp, name: str) -> None:
    if name == "run load":
        await pilot.press("5")
        assert isinstance(app.screen, SuitesScreen)
        await pilot.press("j")
        assert app.screen.selected_suite == "load"
        await pilot.press("t")
    else:
        await pilot.press({"redeploy": "r", "redeploy all": "R", "reseed": "s"}[name])


@pytest.mark.parametrize("action", ["redeploy", "redeploy all", "reseed", "run load"])
async def test_a_key_under_someone_elses_lease_asks_to_force_and_audits_the_override(
    tmp_path: Path, action: str
) -> None:
    app, db = make_app(tmp_path)
    bob_leases(db)
    async with cockpit(app) as pilot:
        await all_healthy(pilot, app)
        await press_for_action(pilot, app, action)
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot)
        screen = app.screen
        assert isinstance(screen, ConfirmScreen)
        assert screen.title_text.startswith(f"{action} refused: leased by bob for 2")
        assert screen.title_text.endswith(BOB_REASON)
        assert "recorded in the audit log" in screen.body
        await pilot.press("n")  # declined: nothing runs, nothing is written
        await wait_until(lambda: not isinstance(app.screen, ConfirmScreen), pilot=pilot)
        assert audit(db) == []

        await press_for_action(pilot, app, action)
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot)
        await pilot.press("y")  # force
        if action != "run load":  # then the confirmation naming what is touched
            await wait_until(
                lambda: (
                    isinstance(app.screen, ConfirmScreen)
                    and not app.screen.title_text.endswith(BOB_REASON)
                ),
                pilot=pilot,
            )
            assert isinstance(app.screen, ConfirmScreen)
            assert app.screen.body  # what this will touch
            await pilot.press("y")
        await wait_until(lambda: bool(finished(db, action)), timeout=30, pilot=pilot)
    (entry,) = finished(db, action)
    assert (entry.user, entry.forced, entry.outcome) == ("alice", True, "ok")
    assert BOB_REASON in entry.details["overrode_lease"]
    assert Store.open(db).current_lease(ENV).owner == "bob"


async def test_the_lease_key_takes_a_lease_from_bob_only_when_forced(tmp_path: Path) -> None:
    app, db = make_app(tmp_path)
    bob_leases(db)
    async with cockpit(app) as pilot:
        await wait_until(lambda: app.shared.snapshot.lease is not None, pilot=pilot)  # type: ignore[union-attr]
        await pilot.press("L")
        await wait_until(lambda: isinstance(app.screen, LeaseScreen), pilot=pilot)
        await pilot.press(*"hotfix", "enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert "leased by bob" in app.screen.title_text and BOB_REASON in app.screen.title_text
        await pilot.press("y")
        await wait_until(lambda: Store.open(db).current_lease(ENV).owner == "alice", pilot=pilot)  # type: ignore[union-attr]
    forced = [e for e in audit(db) if e.forced]
    assert [(e.action, e.user, e.details["previous_owner"]) for e in forced] == [
        ("lease.force", "alice", "bob")
    ]


async def test_cockpit_audits_success_and_failure_and_quitting_mid_action_cancels(
    tmp_path: Path,
) -> None:
    app, db = make_app(tmp_path, seed="fail")
    async with cockpit(app) as pilot:
        await all_healthy(pilot, app)
        await pilot.press("s")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot)
        await pilot.press("y")
        await wait_until(lambda: bool(finished(db, "reseed")), pilot=pilot)
        await wait_until(
            lambda: any("req-7f3a9c" in n.message for n in app._notifications), pilot=pilot
        )
        await pilot.press("r")  # the selected service: api
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot)
        await pilot.press("y")
        await wait_until(lambda: bool(finished(db, "redeploy")), pilot=pilot)
    assert [(e.action, e.outcome) for e in audit(db)] == [("reseed", "failed"), ("redeploy", "ok")]

    (tmp_path / "slow").mkdir()
    slow, db2 = make_app(tmp_path / "slow", seed="slow")
    async with cockpit(slow) as pilot:
        await all_healthy(pilot, slow)
        await pilot.press("s")
        await wait_until(lambda: isinstance(slow.screen, ConfirmScreen), pilot=pilot)
        await pilot.press("y")
        await wait_until(lambda: any(e.action == "reseed" for e in audit(db2)), pilot=pilot)
        await pilot.pause(0.3)
        # leaving the block quits the cockpit while the seed still runs
    (entry,) = audit(db2)
    assert entry.outcome == "cancelled" and entry.ended is not None


async def test_the_fault_key_pauses_the_selected_service_visibly_and_lifts_it(
    tmp_path: Path,
) -> None:
    from stagedeck.tui.screens.fault import FaultScreen
    from support.procstate import frozen

    app, db = make_app(tmp_path)
    async with cockpit(app) as pilot:
        await all_healthy(pilot, app)
        pid = app.engine.target.pid("api")  # type: ignore[attr-defined]
        await pilot.press("F")  # the selected service: api
        await wait_until(lambda: isinstance(app.screen, FaultScreen), pilot=pilot)
        app.screen.query_one("#duration").value = "2s"  # type: ignore[attr-defined]
        await pilot.press("tab", "enter")  # to the duration, and submit
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot)
        screen = app.screen
        assert isinstance(screen, ConfirmScreen)
        assert screen.title_text == "Pause api for 2s?"
        assert "api's process group is frozen (SIGSTOP)" in screen.body
        assert "After 2s it is resumed" in screen.body
        await pilot.press("y")
        await wait_until(lambda: frozen(pid), pilot=pilot)
        await pilot.press("6")  # Activity shows it while it is in force
        await wait_until(
            lambda: any(e.action == "fault pause" for e in app.shared.snapshot.audit), pilot=pilot
        )  # type: ignore[union-attr]
        await wait_until(lambda: not frozen(pid), timeout=10, pilot=pilot)
        await wait_until(lambda: bool(finished(db, "fault pause")), pilot=pilot)
        # A longer one is lifted when the cockpit quits.
        await pilot.press("1", "F")
        await wait_until(lambda: isinstance(app.screen, FaultScreen), pilot=pilot)
        await pilot.press("tab", "enter")  # 30s
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot)
        await pilot.press("y")
        await wait_until(lambda: frozen(pid), pilot=pilot)
    assert not frozen(pid)
    entries = finished(db, "fault pause")
    assert [e.details["lifted"] for e in entries] == ["expired", "the cockpit quit"]


async def test_the_fault_key_under_someone_elses_lease_asks_to_force(tmp_path: Path) -> None:
    from stagedeck.tui.screens.fault import FaultScreen

    app, db = make_app(tmp_path)
    bob_leases(db)
    async with cockpit(app) as pilot:
        await all_healthy(pilot, app)
        await pilot.press("F")
        await wait_until(lambda: isinstance(app.screen, FaultScreen), pilot=pilot)
        await pilot.press("tab", "enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot)
        assert isinstance(app.screen, ConfirmScreen)
        assert app.screen.title_text.startswith("fault pause refused: leased by bob")
        assert BOB_REASON in app.screen.title_text
        await pilot.press("n")
        await wait_until(lambda: not isinstance(app.screen, ConfirmScreen), pilot=pilot)
    assert audit(db) == []


async def test_redeploy_with_its_dependents_audits_every_service_it_touched(
    tmp_path: Path,
) -> None:
    app, db = make_app(tmp_path)
    async with cockpit(app) as pilot:
        await all_healthy(pilot, app)
        await pilot.press("r")  # api; worker depends on it
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot)
        assert app.screen.option is not None and "worker" in app.screen.option  # type: ignore[attr-defined]
        await pilot.press("d", "y")  # the option, then yes
        await wait_until(lambda: bool(finished(db, "redeploy")), pilot=pilot)
    (entry,) = finished(db, "redeploy")
    assert entry.services == ("api", "worker") and entry.outcome == "ok"
    assert "worker" in entry.details["option"]
