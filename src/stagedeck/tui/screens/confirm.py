"""Confirmation for disruptive actions: it says exactly what will be touched."""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Static


class ConfirmScreen(ModalScreen[tuple[bool, bool]]):
    """Dismisses with (confirmed, option); ``y`` confirms, ``n``/``esc`` cancel."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 70; max-width: 100%; height: auto; border: thick $warning;
        background: $surface; padding: 1 2;
    }
    ConfirmScreen #confirm-title { text-style: bold; margin-bottom: 1; }
    ConfirmScreen Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    ConfirmScreen Button { margin-left: 2; }
    """
    BINDINGS = [
        Binding("y", "answer(True)", "Yes", id="confirm.yes"),
        Binding("n,escape", "answer(False)", "No", id="confirm.no"),
        Binding("d", "toggle_option", "Toggle option", show=False, id="confirm.option"),
    ]

    def __init__(
        self, title: str, body: str, *, confirm: str = "Yes", option: str | None = None
    ) -> None:
        super().__init__()
        self.title_text = title
        self.body = body
        self.confirm_label = confirm
        self.option = option

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(self.title_text), id="confirm-title")
            yield Static(Text(self.body), id="confirm-body")
            if self.option:
                yield Checkbox(self.option, id="confirm-option")
            with Horizontal():
                yield Button("No (n)", id="no")
                yield Button(f"{self.confirm_label} (y)", id="yes", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#no", Button).focus()

    def _option(self) -> bool:
        return bool(self.option) and self.query_one("#confirm-option", Checkbox).value

    def action_answer(self, yes: bool) -> None:
        self.dismiss((yes, self._option() if yes else False))

    def action_toggle_option(self) -> None:
        if self.option:
            box = self.query_one("#confirm-option", Checkbox)
            box.value = not box.value

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.action_answer(event.button.id == "yes")
