"""The help screen, generated from the live bindings so it can never go stale."""

from __future__ import annotations

from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static


def describe_key(key: str) -> str:
    names = {"question_mark": "?", "slash": "/", "escape": "esc", "space": "space"}
    return ", ".join(names.get(k.strip(), k.strip()) for k in key.split(","))


class HelpScreen(ModalScreen[None]):
    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 90; max-width: 100%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """
    BINDINGS = [
        Binding("escape,q,question_mark", "dismiss", "Close", id="help.close"),
    ]

    def __init__(
        self, sections: list[tuple[str, list[Binding]]], remapped: dict[str, str] | None = None
    ) -> None:
        super().__init__()
        self.sections = sections
        self.remapped = remapped or {}

    def compose(self) -> ComposeResult:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold", no_wrap=True)
        table.add_column()
        table.add_column(style="dim")
        for title, bindings in self.sections:
            table.add_row(Text(title, style="underline"), "", "")
            seen: set[str] = set()
            for b in bindings:
                if not b.description or b.description in seen:
                    continue
                seen.add(b.description)
                key = self.remapped.get(b.id or "", b.key)
                table.add_row(describe_key(key), b.tooltip or b.description, b.id or "")
            table.add_row("", "", "")
        with VerticalScroll():
            yield Static(table)
