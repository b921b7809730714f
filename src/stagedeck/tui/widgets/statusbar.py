"""The status bar: environment, target, connection, health summary, clock."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.widgets import Static

from stagedeck.engine import Engine
from stagedeck.events import Health
from stagedeck.tui.palette import style


class StatusBar(Static):
    """One line; redrawn once a second and only when its text changed."""

    DEFAULT_CSS = """
    StatusBar { height: 1; background: $panel; color: $foreground; padding: 0 1; }
    """

    def __init__(self, engine: Engine, *, clock: Callable[[], float] = time.time) -> None:
        super().__init__("")
        self.engine = engine
        self._clock = clock
        self._drawn = ""
        self.extra: dict[str, Text] = {}
        """Segments other features add (lease, presence, read-only), keyed by name."""

    def on_mount(self) -> None:
        self.tick()
        self.set_interval(1.0, self.tick)

    def tick(self) -> None:
        engine = self.engine
        env = engine.recipe.environment
        statuses = engine.statuses.values()
        healthy = sum(1 for s in statuses if s.health is Health.HEALTHY)
        total = len(engine.statuses)
        text = Text()
        text.append(f" {env.name} ", style="bold reverse")
        text.append(f" {env.target} ")
        if engine.connected:
            text.append("● connected", style=style(self.app, "healthy"))
        else:
            text.append(f"✖ {engine.connection_detail}", style=style(self.app, "down", bold=True))
        text.append("  ")
        summary_style = "healthy" if healthy == total else ("down" if engine.down() else "degraded")
        text.append(f"{healthy}/{total} healthy", style=style(self.app, summary_style))
        for segment in self.extra.values():
            text.append("  ")
            text.append_text(segment)
        clock = time.strftime("%H:%M:%S", time.localtime(self._clock()))
        width = self.size.width - 2 if self.size.width else 80
        pad = max(1, width - text.cell_len - len(clock))
        text.append(" " * pad)
        text.append(clock, style="dim")
        plain = text.plain
        if plain != self._drawn:
            self._drawn = plain
            self.update(text)
