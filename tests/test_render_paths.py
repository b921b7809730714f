"""The two short cuts past Textual's rendering draw exactly what Textual would.

``plain_rows`` hands the log view's rows to the compositor without the styles
cache's wrapping, and ``RowCropCompositor`` renders only the rows an update
touches. Both exist for the idle CPU of a cockpit whose log pane scrolls (issue
14); both must be invisible: the same segments, the same bytes to the terminal.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from textual._compositor import Compositor
from textual.geometry import Region
from textual.widget import Widget

from stagedeck.tui.app import StagedeckApp
from stagedeck.tui.row_crop import RowCropCompositor
from stagedeck.tui.widgets.logview import LogView
from stagedeck.tui.widgets.plain_rows import plain_rows
from support.apps import feed_logs, offline_engine

REALISTIC = [
    (
        "gateway",
        '2026-12-02T03:12:44.512Z INFO gateway rid=9f1c2e7a-44b1 POST /api/orders {"sku":"SKU-1","qty":2}',
    ),
    (
        "payments",
        '\x1b[31mERROR\x1b[0m payments rid=9f1c2e7a-44b1 card declined: {"code":"limit","retry":false}',
    ),
    ("orders", "WARN  orders rid=9f1c2e7a-44b1 payment failed, releasing stock · café ✓ 注文"),
    ("inventory", "x" * 300),  # wider than the pane: it is cut, never wrapped here
    ("worker", "DEBUG worker\ttab\there and a trailing space "),
]


def make_app(tmp_path: Path) -> StagedeckApp:
    engine = offline_engine(tmp_path)
    feed_logs(engine)
    for i, (service, text) in enumerate(REALISTIC):
        engine.logs.append(service, text, ts=1_700_000_100.0 + i)
    for i in range(60):  # more than a screen: the paused view gets its vertical scrollbar
        engine.logs.append(
            "orders",
            f"INFO orders rid=req-{i:04d} GET /api/orders/o-{i} 200 {i * 3}ms",
            ts=1_700_000_200.0 + i,
        )
    return StagedeckApp(engine, start_engine=False, watch_themes=False)


def segments(strips: list) -> list[list[tuple[str, object]]]:
    return [[(seg.text, seg.style) for seg in strip] for strip in strips]


@pytest.mark.parametrize("no_color", [False, True])
async def test_the_log_views_plain_rows_are_the_rows_textual_draws(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_color: bool
) -> None:
    """With the app's line filters too: NO_COLOR adds one that changes every row."""
    if no_color:
        monkeypatch.setenv("NO_COLOR", "1")
    app = make_app(tmp_path)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        view = app.screen.query_one("#logs", LogView)
        width, height = view.region.size
        assert view.line_count >= 75
        # The 300-cell line gives the pane a horizontal scrollbar; pausing adds the
        # vertical one (following hides it): rows are padded under it as Textual pads them.
        for following in (True, False):
            view.follow = following
            await pilot.pause()
            assert view.scrollbar_gutter.bottom == 1
            assert view.scrollbar_gutter.right == (0 if following else 1)
            for crop in (Region(0, 0, width, height), Region(0, 3, width, 5), Region(7, 2, 30, 4)):
                assert plain_rows(view, crop, view.render_line) is not None
                ours = view.render_lines(crop)
                theirs = Widget.render_lines(view, crop)
                assert segments(ours) == segments(theirs), crop
        # A style the short cut cannot honour sends the rows through Textual again.
        view.styles.padding = (0, 1)
        await pilot.pause()
        assert plain_rows(view, Region(0, 0, 10, 2), view.render_line) is None
        crop = Region(0, 0, *view.region.size)
        assert segments(view.render_lines(crop)) == segments(Widget.render_lines(view, crop))


async def test_row_cropped_updates_write_the_bytes_textual_writes(tmp_path: Path) -> None:
    app = make_app(tmp_path)
    async with app.run_test(size=(160, 48)) as pilot:
        await pilot.pause()
        compositor = app.screen._compositor
        assert isinstance(compositor, RowCropCompositor)
        logs = app.screen.query_one("#logs", LogView).region
        cases = [
            [logs],  # the pane scrolls
            [Region(logs.x, logs.y + 3, logs.width, 1)],  # one row: the cursor
            [Region(0, 0, 160, 1), Region(logs.x, logs.bottom - 1, logs.width, 1)],  # far apart
            [Region(100, 5, 40, 10)],  # the right column only
            [Region(0, 46, 160, 2)],  # status bar and footer
            [Region(0, 0, 160, 48)],  # everything
        ]
        for regions in cases:
            written = []
            for cls in (RowCropCompositor, Compositor):
                compositor.__class__ = cls
                try:
                    compositor._dirty_regions = set(regions)
                    update = compositor.render_partial_update()
                    assert update is not None
                    written.append(update.render_segments(app.console))
                finally:
                    compositor.__class__ = RowCropCompositor
            assert written[0] == written[1], regions
