"""The main screen: services on top, the interleaved log below, status at the bottom."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Footer

from stagedeck.engine import Engine
from stagedeck.tui.widgets.banner import Banner
from stagedeck.tui.widgets.logview import LogView
from stagedeck.tui.widgets.services import ServicesTable
from stagedeck.tui.widgets.statusbar import StatusBar


class MainScreen(Screen[None]):
    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine

    def compose(self) -> ComposeResult:
        yield Banner()
        with Vertical(id="services-panel") as panel:
            panel.border_title = "services"
            yield ServicesTable(self.engine, id="services")
        with Vertical(id="logs-panel") as panel:
            panel.border_title = "logs"
            yield LogView(
                self.engine.logs, service_order=list(self.engine.recipe.services), id="logs"
            )
        yield StatusBar(self.engine)
        yield Footer()

    @property
    def selected_service(self) -> str | None:
        return self.query_one(ServicesTable).selected

    def on_mount(self) -> None:
        self.query_one(ServicesTable).focus()

    def on_data_table_row_selected(self, event: ServicesTable.RowSelected) -> None:
        """``enter`` on a service opens the log explorer on it."""
        opener = getattr(self.app, "open_logs_for", None)
        if opener is not None:
            opener(str(event.row_key.value))

    def on_log_view_stats(self, event: LogView.Stats) -> None:
        panel = self.query_one("#logs-panel")
        parts = [f"{event.shown:,} lines"]
        if not event.view.follow:
            parts.append(f"paused, {event.unseen:,} new" if event.unseen else "paused")
        if event.dropped:
            parts.append(f"{event.dropped:,} dropped")
        panel.border_subtitle = " · ".join(parts)
