"""The overview: services and the interleaved log; on a big terminal, graph and charts too."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import Screen

from stagedeck.engine.engine import Engine
from stagedeck.triage.model import Ranking
from stagedeck.tui.messages import OpenLogs
from stagedeck.tui.row_crop import crop_rows
from stagedeck.tui.widgets.banner import Banner
from stagedeck.tui.widgets.border import set_border_subtitle
from stagedeck.tui.widgets.charts import ChartsPanel
from stagedeck.tui.widgets.footer import QuietFooter
from stagedeck.tui.widgets.graph import GraphPanel, GraphView
from stagedeck.tui.widgets.logview import LogView, stats_text
from stagedeck.tui.widgets.services import ServicesTable
from stagedeck.tui.widgets.statusbar import StatusBar
from stagedeck.tui.widgets.suspects import SuspectLine, follow_ranking

WIDE = (150, 40)
"""From this size up, graph and charts sit beside services and logs."""


class MainScreen(Screen[None]):
    def __init__(self, engine: Engine, *, ascii_graph: bool = False) -> None:
        super().__init__()
        crop_rows(self)  # its log pane scrolls: see tui/row_crop.py
        self.engine = engine
        self.ascii_graph = ascii_graph

    def compose(self) -> ComposeResult:
        # The layout class is set before the children mount, so they are styled once with
        # it; setting it in on_mount restyled the whole screen (20-60 ms of start-up).
        self._fit(self.app.size.width, self.app.size.height, update=False)
        yield Banner()
        with Horizontal(id="main-columns"):
            with Vertical(id="main-left"):
                with Vertical(id="services-panel") as panel:
                    panel.border_title = "services"
                    yield ServicesTable(self.engine, id="services")
                with Vertical(id="logs-panel") as panel:
                    panel.border_title = "logs"
                    yield LogView(
                        self.engine.logs, service_order=list(self.engine.recipe.services), id="logs"
                    )
            with Vertical(id="main-right"):
                with Vertical(id="graph-panel") as panel:
                    panel.border_title = "dependencies"
                    yield GraphPanel(self.engine, ascii=self.ascii_graph, id="graph")
                with Vertical(id="charts-panel") as panel:
                    panel.border_title = "latency"
                    yield ChartsPanel(self.engine, lean=True, id="charts")
        yield SuspectLine()
        yield StatusBar(self.engine)
        yield QuietFooter()

    @property
    def selected_service(self) -> str | None:
        return self.query_one(ServicesTable).selected

    def on_mount(self) -> None:
        self.query_one(ServicesTable).focus()
        self._fit(self.app.size.width, self.app.size.height)
        follow_ranking(self, self.show_ranking)

    def show_ranking(self, ranking: Ranking) -> None:
        """A new environment ranking (triage): the suspect line and the graph's mark."""
        self.query_one(SuspectLine).show(ranking)
        self.query_one(GraphPanel).show_ranking(ranking)

    def show_service(self, service: str) -> None:
        """Select ``service`` in the table (graph and chart follow), from a jump."""
        table = self.query_one(ServicesTable)
        if service in table.rows:
            table.move_cursor(row=table.get_row_index(service))
            table.focus()

    def on_resize(self, event: events.Resize) -> None:
        self._fit(event.size.width, event.size.height)

    def _fit(self, width: int, height: int, update: bool = True) -> None:
        self.set_class(width >= WIDE[0] and height >= WIDE[1], "-wide", update=update)

    def on_services_table_selected(self, event: ServicesTable.Selected) -> None:
        self.query_one(GraphPanel).select(event.service)
        self.query_one(ChartsPanel).select(event.service)

    def on_graph_view_selected(self, event: GraphView.Selected) -> None:
        if event.service is None:
            return
        self.query_one(ChartsPanel).select(event.service)
        table = self.query_one(ServicesTable)
        table.move_cursor(row=table.get_row_index(event.service))

    def on_services_table_row_selected(self, event: ServicesTable.RowSelected) -> None:
        """``enter`` on a service opens the log explorer on it."""
        self.post_message(OpenLogs(event.service))

    def on_log_view_stats(self, event: LogView.Stats) -> None:
        set_border_subtitle(self.query_one("#logs-panel"), stats_text(event))
