"""Choose a fault for the selected service, and how long it lasts.

The list holds only the kinds this service can take on its target (the core
says which). What the fault touches is confirmed on the next screen, the same
confirmation every mutating key shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from stagedeck.engine.logquery import QueryError, parse_duration
from stagedeck.faults.model import DESCRIPTIONS, MAX_DURATION_S, FaultKind
from stagedeck.tui.screens.forms import FORM_CSS


@dataclass(frozen=True)
class FaultChoice:
    kind: str
    """A FaultKind value, or 'lift' to lift this cockpit's faults now."""
    duration: float = 30.0


class FaultScreen(ModalScreen[FaultChoice | None]):
    DEFAULT_CSS = FORM_CSS.format(name="FaultScreen")
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="fault.cancel")]

    def __init__(self, service: str, kinds: tuple[FaultKind, ...], active: list[str]) -> None:
        super().__init__()
        self.service = service
        self.kinds = kinds
        self.active = active

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"Inject a fault into {self.service}"), classes="title")
            if self.active:
                yield Static(Text("In force now: " + "; ".join(self.active)))
            with RadioSet(id="kind"):
                for i, kind in enumerate(self.kinds):
                    yield RadioButton(
                        f"{kind.value}: {DESCRIPTIONS[kind]}", value=i == 0, name=kind.value
                    )
            yield Label("For how long (lifted automatically, also if the cockpit dies)")
            yield Input(value="30s", id="duration")
            yield Static("", classes="error", id="fault-error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                if self.active:
                    yield Button("Lift all now", id="lift", variant="success")
                yield Button("Inject…", id="inject", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#kind", RadioSet).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._inject()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "inject":
            self._inject()
        elif event.button.id == "lift":
            self.dismiss(FaultChoice("lift"))
        else:
            self.dismiss(None)

    def _inject(self) -> None:
        error = self.query_one("#fault-error", Static)
        try:
            duration = parse_duration(self.query_one("#duration", Input).value or "30s")
        except QueryError as exc:
            error.update(Text(str(exc)))
            return
        if not 0 < duration <= MAX_DURATION_S:
            error.update(Text(f"between 1s and {MAX_DURATION_S / 60:g}m"))
            return
        pressed = self.query_one("#kind", RadioSet).pressed_button
        kind = pressed.name if pressed is not None and pressed.name else self.kinds[0].value
        self.dismiss(FaultChoice(kind, duration))
