"""Small modal forms: take a lease, annotate a failure."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, RadioButton, RadioSet, Static

from stagedeck.engine.logquery import QueryError, parse_duration

TAGS = ("flaky", "environment", "data", "bug", "infra", "known")

FORM_CSS = """
{name} {{ align: center middle; }}
{name} > Vertical {{
    width: 76; max-width: 100%; height: auto; border: thick $primary;
    background: $surface; padding: 1 2;
}}
{name} .title {{ text-style: bold; margin-bottom: 1; }}
{name} Input {{ margin-bottom: 1; }}
{name} .error {{ color: $error; height: auto; }}
{name} Horizontal {{ height: auto; align-horizontal: right; }}
{name} Button {{ margin-left: 2; }}
"""


@dataclass(frozen=True)
class LeaseRequest:
    action: str
    """'acquire' or 'release'."""
    reason: str = ""
    ttl: float = 1800.0


class LeaseScreen(ModalScreen[LeaseRequest | None]):
    DEFAULT_CSS = FORM_CSS.format(name="LeaseScreen")
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="lease.cancel")]

    def __init__(self, env: str, current: str, mine: bool) -> None:
        super().__init__()
        self.env = env
        self.current = current
        self.mine = mine

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(Text(f"Lease on {self.env}"), classes="title")
            yield Static(Text(self.current or "Nobody holds a lease: the environment is free."))
            yield Label("Reason (others see it)")
            yield Input(placeholder="load test, demo for product, debugging payments…", id="reason")
            yield Label("For how long (renewed while this cockpit runs)")
            yield Input(value="30m", id="ttl")
            yield Static("", classes="error", id="lease-error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                if self.mine:
                    yield Button("Release", id="release", variant="warning")
                yield Button(
                    "Renew" if self.mine else "Take lease", id="acquire", variant="primary"
                )

    def on_mount(self) -> None:
        self.query_one("#reason", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._acquire()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "acquire":
            self._acquire()
        elif event.button.id == "release":
            self.dismiss(LeaseRequest("release"))
        else:
            self.dismiss(None)

    def _acquire(self) -> None:
        try:
            ttl = parse_duration(self.query_one("#ttl", Input).value)
        except QueryError as exc:
            self.query_one("#lease-error", Static).update(Text(str(exc)))
            return
        reason = self.query_one("#reason", Input).value.strip()
        self.dismiss(LeaseRequest("acquire", reason, ttl))


@dataclass(frozen=True)
class AnnotationRequest:
    tag: str
    note: str
    link: str | None


class AnnotateScreen(ModalScreen[AnnotationRequest | None]):
    DEFAULT_CSS = (
        FORM_CSS.format(name="AnnotateScreen")
        + """
    AnnotateScreen RadioSet { layout: horizontal; height: auto; margin-bottom: 1; width: 100%; }
    """
    )
    BINDINGS = [Binding("escape", "dismiss(None)", "Cancel", id="annotate.cancel")]

    def __init__(
        self, test_id: str, message: str, *, tag: str = "", note: str = "", link: str = ""
    ) -> None:
        super().__init__()
        self.test_id = test_id
        self.message = message
        self.initial = (tag, note, link)

    def compose(self) -> ComposeResult:
        tag, note, link = self.initial
        with Vertical():
            yield Static(Text(f"Annotate {self.test_id}"), classes="title")
            yield Static(Text(self.message[:300], style="dim"))
            yield Label("What do you know about this failure?")
            yield Input(value=note, placeholder="payments sandbox times out under load", id="note")
            yield Label("Tag")
            with RadioSet(id="tag"):
                for name in TAGS:
                    yield RadioButton(name, value=name == (tag or "flaky"), name=name)
            yield Label("Link (optional)")
            yield Input(value=link, placeholder="https://tracker/ISSUE-123", id="link")
            yield Static("", classes="error", id="annotate-error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#note", Input).focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        self._save()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "save":
            self._save()
        else:
            self.dismiss(None)

    def _save(self) -> None:
        note = self.query_one("#note", Input).value.strip()
        if not note:
            self.query_one("#annotate-error", Static).update(Text("write a note first"))
            return
        pressed = self.query_one("#tag", RadioSet).pressed_button
        tag = pressed.name if pressed is not None and pressed.name else "flaky"
        link = self.query_one("#link", Input).value.strip() or None
        self.dismiss(AnnotationRequest(tag, note, link))
