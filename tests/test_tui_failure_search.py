"""The cockpit's failures view searches every run's failures (`/`), and `esc` comes back.

A real SQLite file with the realistic failures of test_failure_search; the store
is read in a thread through SharedState, never by the screen itself.
"""

from __future__ import annotations

from pathlib import Path

from textual.widgets import DataTable, Input

from stagedeck.store import Store
from stagedeck.store.shared import SharedState
from stagedeck.tui.app import StagedeckApp
from stagedeck.tui.screens.suites import SuitesScreen
from support.apps import offline_engine
from test_failure_search import record


def rows(screen: SuitesScreen) -> list[list[str]]:
    table = screen.query_one("#failures", DataTable)
    return [[str(c) for c in table.get_row_at(i)] for i in range(table.row_count)]


async def test_slash_searches_every_run_and_escape_shows_the_latest_again(
    tmp_path: Path,
) -> None:
    engine = offline_engine(tmp_path)
    env = engine.recipe.name
    store = Store.open(tmp_path / "shared.db")
    _, second = record(store, env)
    refund = next(f for f in store.failures(env, second) if f.result.test_id.endswith("refund"))
    assert refund.result.signature
    store.add_annotation(
        refund.result.signature, refund.result.test_id, env, "carol", "infra", "INC-4411", None
    )
    shared = SharedState(store, env, "alice")
    app = StagedeckApp(engine, start_engine=False, watch_themes=False, shared=shared, user="alice")
    async with app.run_test(size=(120, 40)) as pilot:
        await shared.refresh(force=True)
        await pilot.press("5")
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, SuitesScreen)
        assert len(rows(screen)) == 3  # the latest run's
        screen.query_one("#failures", DataTable).focus()

        async def search(text: str) -> None:
            await pilot.press("slash")
            box = screen.query_one("#failure-query", Input)
            assert box.display and box.has_focus
            box.value = text
            await pilot.press("enter")
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()

        await search("timed out")
        found = rows(screen)
        assert [r[0] for r in found] == [f"{second}·flows", f"{second - 1}·flows"]  # newest first
        panel = screen.query_one("#failures-panel")
        assert "matching 'timed out' · 2" in str(panel.border_title)
        await search("rid=9f1c2e7a-41b0")  # FTS5 operators typed as they are
        assert [r[0] for r in rows(screen)] == [f"{second - 1}·flows"]
        await search('"payments unavailable"')
        (row,) = rows(screen)
        assert "INC-4411" in row[-1]  # the note on it, as in the latest-run list
        detail = str(screen.query_one("#failure-detail").render())
        assert "carol [infra]" in detail and "payments unavailable" in detail
        await search("no-such-failure")
        assert rows(screen) == []
        assert "No failure matches" in str(screen.query_one("#failure-detail").render())

        await pilot.press("escape")
        await pilot.pause()
        assert len(rows(screen)) == 3 and "run" in str(panel.border_title)
        assert not screen.query_one("#failure-query", Input).display
    store.close()
