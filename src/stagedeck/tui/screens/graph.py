"""The dependency graph on its own, with the selected service's details and chart."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen

from stagedeck.engine.engine import Engine
from stagedeck.triage.model import Ranking
from stagedeck.tui.widgets.banner import Banner
from stagedeck.tui.widgets.charts import ChartsPanel
from stagedeck.tui.widgets.footer import QuietFooter
from stagedeck.tui.widgets.graph import GraphPanel, GraphView
from stagedeck.tui.widgets.statusbar import StatusBar
from stagedeck.tui.widgets.suspects import SuspectLine, follow_ranking


class GraphScreen(Screen[None]):
    def __init__(self, engine: Engine, *, ascii_graph: bool = False, charts: bool = False) -> None:
        super().__init__()
        self.engine = engine
        self.ascii_graph = ascii_graph
        self.charts_first = charts
        self._selected: str | None = None

    def compose(self) -> ComposeResult:
        yield Banner()
        with Vertical(id="graph-panel") as panel:
            panel.border_title = "dependencies · j/k select · h/l across layers"
            yield GraphPanel(self.engine, ascii=self.ascii_graph, id="graph")
        with Vertical(id="charts-panel") as panel:
            panel.border_title = "latency · a: every service"
            yield ChartsPanel(self.engine, id="charts")
        yield SuspectLine()
        yield StatusBar(self.engine)
        yield QuietFooter()

    def on_mount(self) -> None:
        if self.charts_first:
            self.add_class("-charts")
            self.query_one(ChartsPanel).focus()
        else:
            self.query_one("#graph-view").focus()
        follow_ranking(self, self.show_ranking)

    def show_ranking(self, ranking: Ranking) -> None:
        self.query_one(SuspectLine).show(ranking)
        self.query_one(GraphPanel).show_ranking(ranking)

    def show_service(self, service: str) -> None:
        """Select ``service`` in the graph and its chart (a jump from the explain or gate view)."""
        self._selected = service
        self.query_one(GraphPanel).select(service)
        self.query_one(ChartsPanel).select(service)

    @property
    def selected_service(self) -> str | None:
        return self._selected

    def on_graph_view_selected(self, event: GraphView.Selected) -> None:
        self._selected = event.service
        if event.service is not None:
            self.query_one(ChartsPanel).select(event.service)
