"""With many services the table computes the rows on screen, and others as they are drawn."""

from __future__ import annotations

from pathlib import Path

from stagedeck.engine.events import ProcState
from stagedeck.tui.app import StagedeckApp
from stagedeck.tui.widgets.services import ServicesTable
from support.apps import offline_engine
from support.wait import wait_until


async def test_rows_off_screen_are_computed_when_drawn_and_show_the_newest_state(
    tmp_path: Path,
) -> None:
    services = "".join(f'[services.svc{i:02d}]\ncommand = ["true"]\n\n' for i in range(60))
    engine = offline_engine(tmp_path, '[environment]\nname = "many"\n\n' + services)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False)
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
            lambda: table.render_line(table.size.height - 1).text.split()[:2]
            == ["svc59", "crashed"],
            pilot=pilot,
        )
        assert [str(c) for c in table.get_row("svc59")][1:3] == ["crashed", "✖ down"]
        # Read by name, a row is brought up to date first, on screen or not.
        engine.process_state("svc00", ProcState.CRASHED, reason="exited with code 3")
        assert [str(c) for c in table.get_row("svc00")][1] == "crashed"
