"""Choose a failure scenario of the recipe to rehearse.

Only the choice is made here; its fault is then confirmed on the confirmation
screen every mutating key shows (what is touched, for how long), refused the
same way in read-only mode or under someone else's lease, and audited.
"""

from __future__ import annotations

from collections.abc import Mapping

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from stagedeck.recipe.gate import Scenario
from stagedeck.tui.screens.forms import FORM_CSS


class ScenarioScreen(ModalScreen[str | None]):
    DEFAULT_CSS = (
        FORM_CSS.format(name="ScenarioScreen")
        + """
    ScenarioScreen OptionList { height: auto; max-height: 16; }
    """
    )
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="scenario.cancel")]

    def __init__(self, scenarios: Mapping[str, Scenario]) -> None:
        super().__init__()
        self.scenarios = dict(scenarios)

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text("Rehearse a failure scenario"), classes="title")
            options = []
            for name, s in self.scenarios.items():
                label = Text(name, style="bold")
                label.append(f"  {s.fault} {s.service} for {s.duration:g}s")
                if s.description:
                    label.append(f"\n  {s.description}", style="dim")
                options.append(Option(label, id=name))
            yield OptionList(*options, id="scenarios")

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)
