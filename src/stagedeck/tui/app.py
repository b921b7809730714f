"""The cockpit application: wiring only; screens and widgets do the work."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path

from textual.app import App
from textual.binding import Binding

from stagedeck.engine import Engine
from stagedeck.events import Event, Notice
from stagedeck.recipe import Recipe
from stagedeck.tui.palette import SEMANTIC_DEFAULTS
from stagedeck.tui.screens.help import HelpScreen
from stagedeck.tui.screens.main import MainScreen


class StagedeckApp(App[int]):
    """A view on an engine. The engine is started here and stopped by whoever ran us."""

    CSS_PATH = Path(__file__).with_name("app.tcss")
    TITLE = "stagedeck"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding(
            "q", "quit", "Quit", tooltip="Quit (stops services this cockpit started)", id="app.quit"
        ),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding("tab", "focus_next", "Next panel", show=False, id="app.focus_next"),
    ]

    def __init__(self, engine: Engine, *, start_engine: bool = True) -> None:
        super().__init__()
        self.engine = engine
        self._start_engine = start_engine
        self._unsubscribe = engine.subscribe(self._on_engine_event)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(SEMANTIC_DEFAULTS)

    def on_mount(self) -> None:
        self.push_screen(MainScreen(self.engine))
        if self._start_engine:
            self.run_worker(self.engine.start(), name="engine-start", exit_on_error=False)

    def _on_engine_event(self, event: Event) -> None:
        if isinstance(event, Notice):
            self.notify(event.message, severity=event.severity, timeout=6)  # type: ignore[arg-type]

    def action_help(self) -> None:
        sections = [("Global", [b for b in self.BINDINGS if isinstance(b, Binding)])]
        focused = self.focused
        if focused is not None:
            own = [b for b in focused.BINDINGS if isinstance(b, Binding)]
            sections.insert(0, (type(focused).__name__, own))
        self.push_screen(HelpScreen(sections))

    async def action_quit(self) -> None:
        self.notify("stopping services…", timeout=2)
        self.exit(0)


async def run_cockpit_async(recipe: Recipe, *, theme: str | None = None) -> int:
    """Run the cockpit and, whatever happens, stop the engine (and local services) after."""
    engine = Engine(recipe)
    app = StagedeckApp(engine)
    if theme:
        app.theme = theme
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, app.exit)
    try:
        result = await app.run_async()
    finally:
        await engine.stop()
    return result or 0


def run_cockpit(recipe: Recipe, *, theme: str | None = None) -> int:
    return asyncio.run(run_cockpit_async(recipe, theme=theme))
