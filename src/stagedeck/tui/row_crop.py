"""A compositor that renders only the rows an update touches, for screens that update often.

For a partial update Textual renders every widget under the changed area, and a
widget wholly on screen is rendered whole: a log pane that scrolls made the screen,
the column and the panel around it render all their 46 rows (from cache, each row
through the line filters) on every frame, more work than the pane's own new rows.
Here every widget is rendered for the update's rows only. Columns are left whole:
the compositor splits rows at its cuts, and a crop edge between two cuts would put
a piece at the wrong place.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from textual._compositor import Compositor
from textual.geometry import Region
from textual.screen import Screen
from textual.strip import Strip


class RowCropCompositor(Compositor):
    def _get_renders(
        self, crop: Region | None = None
    ) -> Iterable[tuple[Region, Region, list[Strip]]]:
        if crop is None:
            yield from super()._get_renders(crop)
            return
        top, bottom = crop.y, crop.bottom
        for widget, (region, clip) in self.visible_widgets.items():
            if not crop.overlaps(clip):
                continue
            # The rows of this widget that are on screen and in the update, whole columns.
            x, y, width, height = region.intersection(clip)
            y1, y2 = max(y, top), min(y + height, bottom)
            if not width or y2 <= y1:
                continue
            rows = Region(x, y1, width, y2 - y1)
            yield region, rows, widget.render_lines(rows.translate(-region.offset))


def crop_rows(screen: Screen[Any]) -> None:
    """Give ``screen`` the row-cropping compositor (call from its ``__init__``)."""
    screen._compositor = RowCropCompositor()
