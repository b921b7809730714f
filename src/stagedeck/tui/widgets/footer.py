"""The key footer, rebuilt only when the keys it shows change.

Textual's ``Footer`` throws away and re-mounts all its keys (each one styled anew)
on every "bindings updated" signal: focus moving, a screen resuming, a widget
mounting. At start-up that was four rebuilds of the same keys, and each focus
change in the cockpit cost another. This footer remembers what it last showed
(key, label, action, enabled, tooltip, group for every active binding) and
rebuilds only when that differs; at most one rebuild is pending at a time, and
it shows the bindings as they are when it runs. Each key is also made with the
footer's compactness, instead of being restyled twice to reach it.
"""

from __future__ import annotations

from typing import Any

from textual.app import ComposeResult
from textual.screen import Screen
from textual.widgets import Footer
from textual.widgets._footer import FooterKey


class QuietFooter(Footer):
    """A ``Footer`` that recomposes only on a change of what it shows."""

    _shown: tuple[Any, ...] | None = None
    """What the last compose showed (see ``_showing``); None before the first."""
    _rebuild_pending = False

    def _showing(self) -> tuple[Any, ...]:
        app = self.app
        keys = tuple(
            (binding, app.get_key_display(binding), enabled, tooltip)
            for (_node, binding, enabled, tooltip) in self.screen.active_bindings.values()
        )
        return (keys, self.compact, self.show_command_palette, self.combine_groups)

    def compose(self) -> ComposeResult:
        if self._bindings_ready:
            self._shown = self._showing()
        for widget in super().compose():
            if isinstance(widget, FooterKey) and not widget.has_class("-command-palette"):
                # A key starts compact and is then bound to the footer's (not compact):
                # two restyles of every key per rebuild. Start it as it will be. (The
                # palette's key is not bound, and stays as it starts.)
                widget.set_reactive(FooterKey.compact, self.compact)
            yield widget

    def bindings_changed(self, screen: Screen[Any]) -> None:
        self._bindings_ready = True
        if not screen.app.app_focus:
            return
        if not (self.is_attached and screen is self.screen) or self._rebuild_pending:
            return
        if self._showing() == self._shown:
            return
        self._rebuild_pending = True
        self.call_after_refresh(self._rebuild)

    async def _rebuild(self) -> None:
        self._rebuild_pending = False
        if self.is_attached and self._showing() != self._shown:
            await self.recompose()
