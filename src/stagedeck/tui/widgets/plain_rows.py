"""A Line API widget's rows as they are, past Textual's per-row styling when it adds nothing.

Textual's styles cache wraps every row a widget renders in a new ``Strip`` (for
borders, padding, tint and opacity) even when the widget has none of them, and a
new Strip starts with empty caches: the compositor then divides it at the
screen's cuts and renders its escape codes again on every frame. The log view
redraws all its visible rows on each frame that scrolls (once a second while twenty
containers trickle a line a second each), and that wrapping was half of the frame.
When the widget's styles are plain, the rows it draws are used as they are: the same
Strip for the same line, frame after frame, so dividing, filtering and rendering each
hit the cache the Strip carries.
"""

from __future__ import annotations

from collections.abc import Callable

from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget


def plain_rows(
    widget: Widget, crop: Region, render_line: Callable[[int], Strip]
) -> list[Strip] | None:
    """The rows in ``crop`` from ``render_line`` with the app's line filters applied, or
    None when the widget's styles would change them (then Textual's path must draw them).

    ``render_line`` must return rows as wide as the widget's content (no wider), in its
    background.
    """
    styles = widget.styles
    region = widget.region
    if (
        widget.content_region.size != region.size  # a border or padding
        or any(edge for edge, _ in styles.outline)
        or styles.tint.a
        or styles.text_opacity != 1.0
        or (styles.has_rule("hatch") and styles.hatch != "none")
        or widget.opacity != 1.0
    ):
        return None
    # Rows drawn this way never reach the styles cache: a later frame that goes through
    # it (a padding appeared) must not find rows from before.
    widget._styles_cache.clear()
    base_background, background = widget.background_colors
    # Under a scrollbar the row is padded to the widget's width, as Textual pads it (the
    # scrollbar is drawn over that cell); Strip caches the padded row too.
    inner = widget._styles_cache.get_inner_outer(base_background, background)[0].rich_style
    width = region.width
    filters = widget.get_line_filters()
    rows: list[Strip] = []
    for y in crop.line_range:
        strip = render_line(y).adjust_cell_length(width, inner)
        for line_filter in filters:
            strip = strip.apply_filter(line_filter, background)
        rows.append(strip)
    x1, x2 = crop.column_span
    if (x1, x2) != (0, width):
        rows = [strip.crop(x1, x2) for strip in rows]
    return rows
