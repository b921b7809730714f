"""Pilot tests of the log explorer: filter, search, pause/follow, request-id stitching."""

from __future__ import annotations

from pathlib import Path

import pytest

from stagedeck.engine.logquery import QueryError, parse_query
from stagedeck.tui.app import StagedeckApp
from stagedeck.tui.screens.logs import LogsScreen
from stagedeck.tui.widgets.logview import LogView
from support.apps import feed_logs, offline_engine
from support.wait import wait_until


def make_app(tmp_path: Path) -> StagedeckApp:
    engine = offline_engine(tmp_path)
    feed_logs(engine)
    return StagedeckApp(engine, start_engine=False, watch_themes=False)


def test_query_language() -> None:
    flt = parse_query(
        "service:orders,payments level:warn since:5m rid:req-1 declined", ["orders", "payments"]
    )
    assert flt.services == {"orders", "payments"} and flt.min_level == "warn"
    assert flt.since_seconds == 300 and flt.request_id == "req-1" and flt.text == "declined"
    assert parse_query(flt.describe()) == flt
    with pytest.raises(QueryError, match="no service 'nope'"):
        parse_query("service:nope", ["orders"])
    with pytest.raises(QueryError, match="use 30s, 5m"):
        parse_query("since:soon")
    with pytest.raises(QueryError, match="bad regular expression"):
        parse_query("re:(")


async def test_filter_by_service_and_level(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        view = screen.view
        assert view.line_count == 10
        await pilot.press("f")
        await pilot.press(*"service:orders,inventory", "enter")
        assert {ln.service for ln in view.visible_lines()} == {"orders", "inventory"}
        assert view.line_count == 5
        await pilot.press("e")  # errors and warnings only
        assert [ln.level for ln in view.visible_lines()] == ["warn"]
        await pilot.press("escape")  # back to the previous filter
        assert view.line_count == 5


async def test_search_highlights_and_moves(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2", "slash", *"SKU-1", "enter")
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        view = screen.view
        assert view.line_count == 10  # search does not hide lines
        first = view.selected_line
        assert first is not None and "SKU-1" in first.text
        await pilot.press("N")
        second = view.selected_line
        assert second is not None and "SKU-1" in second.text and second.seq < first.seq
        # The match is drawn highlighted (reverse video) and nothing else on the row is.
        row = view.render_line(view.cursor - view.scroll_offset.y)
        marked = [seg.text for seg in row if seg.style and seg.style.reverse]
        assert marked == ["SKU-1"]


async def test_pause_counts_new_lines_and_follow_resumes(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2", "space")
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        view = screen.view
        assert not view.follow
        cursor = view.cursor
        for i in range(7):
            app.engine.logs.append("orders", f"INFO orders rid=- late line {i}")
        view.pull()
        await pilot.pause()
        assert view.cursor == cursor  # paused: nothing moves

        # The counter is refreshed about once a second (it changes on every frame otherwise).
        def counted() -> bool:
            view.pull()
            return "paused, 7 new" in str(screen.query_one("#explorer-panel").border_subtitle)

        await wait_until(counted, timeout=5, pilot=pilot)
        await pilot.press("G")
        assert view.follow and view.cursor == view.row_count - 1
        assert view.selected_line is not None and view.selected_line.text.endswith("late line 6")


async def test_enter_follows_a_request_across_services(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2", "f", *"service:payments", "enter")
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        view = screen.view
        await pilot.press("enter")  # the selected payments line carries rid=req-0001
        assert view.filter.request_id == "req-0001"
        assert [ln.service for ln in view.visible_lines()] == [
            "gateway",
            "orders",
            "inventory",
            "payments",
            "orders",
            "inventory",
        ]
        assert "request req-0001" in str(screen.query_one("#explorer-panel").border_title)


async def test_save_writes_the_filtered_view(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        screen = app.screen
        assert isinstance(screen, LogsScreen)
        screen.save_dir = tmp_path
        await pilot.press("f", *"level:error", "enter", "ctrl+s")
        saved = list(tmp_path.glob("stagedeck-logs-*.log"))
        assert len(saved) == 1
        assert (
            saved[0]
            .read_text()
            .strip()
            .endswith("payments ERROR payments rid=req-0001 card declined: limit exceeded")
        )


async def test_wrap_splits_long_lines(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.engine.logs.append("orders", "INFO " + "x" * 300)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        view = app.screen.query_one(LogView)
        rows = view.row_count
        await pilot.press("W")
        assert view.row_count >= rows + 3
        await pilot.press("W")
        assert view.row_count == rows


async def test_markup_in_log_lines_stays_text(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    app.engine.logs.append("orders", "[bold red]not bold[/] \x1b[31mnot red\x1b[0m")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        view = app.screen.query_one(LogView)
        row = view.render_line(view.cursor - view.scroll_offset.y)
        text = "".join(seg.text for seg in row)
        assert "[bold red]not bold[/] not red" in text
        assert "\x1b" not in text
