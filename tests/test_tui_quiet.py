"""Issue 14: what the cockpit no longer does when nothing it shows changed.

Each test counts the work itself (a re-parse, a rebuild, a repaint of a region, a
wake of the clock) in the real app under Pilot, so a regression fails here instead
of only moving a benchmark figure.
"""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any

from textual.css.stylesheet import Stylesheet
from textual.geometry import Region

from stagedeck.cli.main import main
from stagedeck.startup_gc import pause_gc, resume_gc
from stagedeck.tui.app import StagedeckApp
from stagedeck.tui.widgets.footer import QuietFooter
from stagedeck.tui.widgets.logview import LogView
from support.apps import feed_logs, offline_engine
from support.wait import wait_until


def make_app(tmp_path: Path) -> StagedeckApp:
    engine = offline_engine(tmp_path)
    feed_logs(engine)
    return StagedeckApp(engine, start_engine=False, watch_themes=False)


async def test_opening_views_does_not_reparse_every_stylesheet(
    tmp_path: Path, monkeypatch: Any
) -> None:
    reparses: list[int] = []
    original = Stylesheet.reparse

    def counted(self: Stylesheet) -> None:
        reparses.append(1)
        original(self)

    monkeypatch.setattr(Stylesheet, "reparse", counted)
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        assert app.current_mode == "overview"
        at_start = len(reparses)
        assert at_start <= 1  # the theme's, once (it was three before issue 14)
        for key in ("2", "3", "1"):  # logs, graph, back to the overview
            await pilot.press(key)
            await pilot.pause()
        assert len(reparses) == at_start
        # A real change still re-parses: the theme.
        app.theme = "textual-light"
        await pilot.pause()
        assert len(reparses) > at_start


async def test_footer_rebuilds_only_when_its_keys_change(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        footer = app.screen.query_one(QuietFooter)
        rebuilds: list[int] = []
        original = footer.recompose

        async def counted() -> None:
            rebuilds.append(1)
            await original()

        footer.recompose = counted  # type: ignore[method-assign]
        # The same bindings announced again (what focus moves and screen resumes do).
        for _ in range(5):
            app.screen.bindings_updated_signal.publish(app.screen)
        await pilot.pause()
        assert rebuilds == []
        # A different set of keys: the log view focused shows its own (Pause).
        app.screen.query_one(LogView).focus()
        await wait_until(lambda: rebuilds, timeout=5, pilot=pilot)
        await pilot.pause()
        assert "Pause" in " ".join(str(k.render()) for k in footer.children)


async def test_new_log_lines_repaint_rows_not_the_scrollbars(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        view = app.screen.query_one(LogView)
        long = "x" * 300  # wider than the pane: a horizontal scrollbar
        for i in range(60):
            app.engine.logs.append("orders", f"INFO orders rid=- line {i} {long}")
        view.pull()
        await pilot.pause(0.2)  # the scrollbar appearing is a layout: let it finish
        await pilot.pause()
        assert view.show_horizontal_scrollbar
        bar = view.horizontal_scrollbar
        repaints: list[tuple[Region, ...]] = []
        original_bar, original_view = bar.refresh, view.refresh

        def bar_refresh(*regions: Region, **kw: Any) -> Any:
            repaints.append(("bar",))  # type: ignore[arg-type]
            return original_bar(*regions, **kw)

        def view_refresh(*regions: Region, **kw: Any) -> Any:
            repaints.append(regions)
            return original_view(*regions, **kw)

        bar.refresh = bar_refresh  # type: ignore[method-assign]
        view.refresh = view_refresh  # type: ignore[method-assign]
        for i in range(3):
            # Narrower than the widest line so far: what the scrollbar shows is unchanged.
            app.engine.logs.append("orders", f"INFO orders rid=- more {i} {long[:200]}")
            view._drawn_at = 0.0  # as if the pacing interval had passed
            view.pull()
            await pilot.pause()
        assert repaints, "new lines were not drawn"
        assert ("bar",) not in repaints
        rows_height = view.size.height - view.scrollbar_size_horizontal
        for regions in repaints:
            assert regions, "a whole-widget repaint (scrollbars and all)"
            assert all(r.bottom <= rows_height for r in regions)


async def test_a_scrolling_frame_builds_only_the_new_rows(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        view = app.screen.query_one(LogView)
        for i in range(80):
            app.engine.logs.append("orders", f"INFO  orders rid=req-{i:04d} order o-{i} paid")
        for text in ("", "INFO  orders rid=- settled"):  # (the first frame scrolls later)
            if text:
                app.engine.logs.append("orders", text)
            view._drawn_at = 0.0
            view.pull()
            await pilot.pause()
        assert view.scroll_y > 0
        built: list[str] = []
        original = view._row_strip

        def counted(line: Any, width: int, base: Any) -> Any:
            built.append(line.text)
            return original(line, width, base)

        view._row_strip = counted  # type: ignore[method-assign]
        for i in range(3):
            app.engine.logs.append("payments", f"ERROR payments rid=req-9{i:03d} card declined")
        view._drawn_at = 0.0  # as if the pacing interval had passed
        view.pull()
        await pilot.pause()
        assert 0 < len(built) <= 3, built  # every row moved; only the new ones were built
        assert (
            app.screen.query_one(LogView)
            .visible_lines()[-1]
            .text.endswith("req-9002 card declined")
        )
        # A search draws every row anew (its matches are marked).
        built.clear()
        view.set_search("o-7")
        await pilot.pause()
        view.set_search("")
        await pilot.pause()
        assert len(built) > 10


async def test_line_count_repaints_the_border_row_only(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        panel = app.screen.query_one("#logs-panel")
        await wait_until(lambda: "10 lines" in str(panel.border_subtitle), pilot=pilot)
        whole: list[int] = []
        original = panel.refresh

        def counted(*regions: Region, **kw: Any) -> Any:
            if not regions:
                whole.append(1)
            return original(*regions, **kw)

        panel.refresh = counted  # type: ignore[method-assign]
        view = app.screen.query_one(LogView)
        for i in range(5):
            app.engine.logs.append("orders", f"INFO orders rid=- extra {i}")

        def shown() -> bool:
            view.pull()
            return "15 lines" in str(panel.border_subtitle)

        await wait_until(shown, timeout=10, pilot=pilot)
        assert whole == []
        await pilot.pause()
        assert "15&#160;lines" in app.export_screenshot()  # and it is on screen


def test_start_up_gc_pause_is_undone_by_a_plain_command(capsys: Any) -> None:
    assert gc.isenabled()
    pause_gc()
    try:
        assert not gc.isenabled()
        assert main(["examples"]) == 0
        assert gc.isenabled()  # every command but the cockpit resumes it at once
    finally:
        resume_gc()
    gc.disable()
    try:
        pause_gc()
        resume_gc()
        assert not gc.isenabled()  # someone else's pause is left alone
    finally:
        gc.enable()
