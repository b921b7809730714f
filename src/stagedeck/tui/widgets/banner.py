"""A banner across the top of every view for problems that need attention now.

A broken shared database, a recipe saved with errors: the cockpit keeps
running on its last good state, and the banner says what is wrong and what
to do until it is fixed. Several sources can raise one at once.
"""

from __future__ import annotations

from rich.text import Text
from textual.widgets import Static

from stagedeck.tui.ticker import every


class Banner(Static):
    DEFAULT_CSS = """
    Banner {
        dock: top;
        height: auto;
        max-height: 8;
        display: none;
        background: $error 25%;
        color: $text;
        border-left: thick $error;
        padding: 0 1;
    }
    """

    def on_mount(self) -> None:
        self._shown = ""
        self.refresh_banner()
        every(self, 0.5, self.refresh_banner)

    def refresh_banner(self) -> None:
        messages: dict[str, str] = getattr(self.app, "banners", {})
        text = "\n".join(m for m in messages.values() if m)
        if text == self._shown:
            return
        self._shown = text
        self.display = bool(text)
        self.update(Text(text))
