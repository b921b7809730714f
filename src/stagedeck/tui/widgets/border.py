"""Change a panel's border subtitle by repainting the border's row, not the panel.

Textual repaints a whole widget when its border title or subtitle is assigned, even
to the same text. The log panes carry their line count there, updated every few
seconds while lines arrive: each update redrew the whole pane, every row and its
scrollbar (about 10 KB at 160x48) to change a few characters of its bottom edge.
"""

from __future__ import annotations

from textual.geometry import Region
from textual.widget import Widget


def set_border_subtitle(widget: Widget, text: str) -> None:
    """Show ``text`` (markup) as ``widget``'s border subtitle, repainting only that row."""
    if widget.border_subtitle == text:
        return
    if not widget.is_mounted or not widget.styles.border_bottom[0]:
        widget.border_subtitle = text  # nothing drawn yet, or no border: Textual's way
        return
    # Textual's own conversion (the ``border_subtitle`` descriptor), without its refresh.
    widget._border_subtitle = widget.render_str(text).expand_tabs(4).split()[0]
    width, height = widget.outer_size
    left, top = widget.content_offset
    widget.refresh(Region(-left, height - 1 - top, width, 1))
