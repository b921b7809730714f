"""Pilot tests of the services table: keys, enter to the service's log, row-only redraws."""

from __future__ import annotations

from pathlib import Path

from stagedeck.engine.engine import Engine
from stagedeck.engine.events import ProcState
from stagedeck.tui.app import StagedeckApp
from stagedeck.tui.screens.logs import LogsScreen
from stagedeck.tui.widgets.graph import GraphView
from stagedeck.tui.widgets.services import ServicesTable
from support.apps import feed_logs, offline_engine
from support.wait import wait_until


async def test_keys_move_the_selection_and_enter_opens_that_log(tmp_path: Path) -> None:
    engine = offline_engine(tmp_path)
    feed_logs(engine)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False)
    async with app.run_test(size=(160, 48)) as pilot:
        table = app.screen.query_one(ServicesTable)
        assert table.has_focus and table.selected == "ledger"
        await pilot.press("j", "j")
        assert table.selected == "payments"
        await pilot.pause()
        assert app.screen.query_one(GraphView).selected == "payments"  # the graph follows
        await pilot.press("G")
        assert table.selected == "worker"
        await pilot.press("k", "g")
        assert table.selected == "ledger"
        await pilot.press("j", "enter")
        await pilot.pause()
        assert isinstance(app.screen, LogsScreen)
        assert app.screen.query_one("LogView").filter.services == {"inventory"}


async def test_a_state_change_redraws_only_its_row(tmp_path: Path) -> None:
    engine = offline_engine(tmp_path)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False)
    async with app.run_test(size=(120, 40)) as pilot:
        table = app.screen.query_one(ServicesTable)
        await pilot.pause(0.3)
        table.refresh()
        await pilot.pause(0.1)
        before = dict(table._strips)
        assert len(before) == 6
        engine.process_state("orders", ProcState.CRASHED, reason="exited with code 3")
        await wait_until(
            lambda: table._strips.get(("orders", False)) not in (None, before[("orders", False)]),
            pilot=pilot,
        )
        assert [str(c) for c in table.get_row("orders")][1:3] == ["crashed", "✖ down"]
        after = table._strips
        changed = {key for key in before if after.get(key) is not before[key]}
        assert changed == {("orders", False)}


def many_services(tmp_path: Path, count: int) -> tuple[Engine, StagedeckApp]:
    """An offline engine with ``count`` services svc00.., and a cockpit on it."""
    services = "".join(f'[services.svc{i:02d}]\ncommand = ["true"]\n\n' for i in range(count))
    engine = offline_engine(tmp_path, '[environment]\nname = "many"\n\n' + services)
    return engine, StagedeckApp(engine, start_engine=False, watch_themes=False)


async def test_many_services_scroll_under_a_fixed_header(tmp_path: Path) -> None:
    _, app = many_services(tmp_path, 21)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(ServicesTable)
        await wait_until(lambda: table.row_count == 21 and table.size.height, pilot=pilot)
        height = table.size.height
        assert 2 < height < 22  # fewer rows than services: the table scrolls

        def shown() -> list[str]:
            return [table.render_line(y).text.split()[0] for y in range(height)]

        await pilot.press("G")
        await wait_until(lambda: shown()[-1] == "svc20", what=lambda: str(shown()), pilot=pilot)
        assert shown()[0] == "SERVICE"
        await pilot.press("g")
        await wait_until(lambda: shown()[1] == "svc00", what=lambda: str(shown()), pilot=pilot)
        assert shown()[0] == "SERVICE"


async def test_rows_off_screen_are_computed_when_drawn_and_show_the_newest_state(
    tmp_path: Path,
) -> None:
    # With many services the table computes the rows on screen, others as they are drawn.
    engine, app = many_services(tmp_path, 60)
    async with app.run_test(size=(80, 24)) as pilot:
        table = app.screen.query_one(ServicesTable)
        await wait_until(lambda: table.row_count == 60 and table.size.height, pilot=pilot)
        await pilot.pause(0.3)
        visible = table.size.height - 1
        assert visible < 30
        computed = set(table._cells)
        assert "svc00" in computed and "svc59" not in computed
        assert len(computed) <= visible + 1, "only the rows on screen"
        # A row off screen changes: nothing is computed for it until it is shown...
        engine.process_state("svc59", ProcState.CRASHED, reason="exited with code 3")
        await pilot.pause(0.4)
        assert "svc59" not in table._cells
        # ...and it is drawn with its newest state when scrolled into view.
        await pilot.press("G")
        await wait_until(
            lambda: (
                table.render_line(table.size.height - 1).text.split()[:2] == ["svc59", "crashed"]
            ),
            pilot=pilot,
        )
        assert [str(c) for c in table.get_row("svc59")][1:3] == ["crashed", "✖ down"]
        # Read by name, a row is brought up to date first, on screen or not.
        engine.process_state("svc00", ProcState.CRASHED, reason="exited with code 3")
        assert [str(c) for c in table.get_row("svc00")][1] == "crashed"
