"""The traces view (recent traces, filtered) and the waterfall of one trace.

Both read the engine's :class:`~stagedeck.traces.store.TraceStore` on a
half-second timer and redraw only when its version moved, so a flood of
spans costs one redraw per tick, and nothing at all while another view is
on screen. Every answer (which traces match, the tree, the critical path,
the failing span) comes from :mod:`stagedeck.traces.query`, the same code
the CLI and the report use.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static

from stagedeck.engine.engine import Engine
from stagedeck.traces import query
from stagedeck.traces.store import Trace, TraceStore
from stagedeck.tui.messages import OpenSpanLogs
from stagedeck.tui.palette import style
from stagedeck.tui.widgets.banner import Banner
from stagedeck.tui.widgets.footer import QuietFooter
from stagedeck.tui.widgets.table import KeyTable
from stagedeck.tui.widgets.waterfall import row_cells, summary_cells

REFRESH_SECONDS = 0.5
MAX_ROWS = 300
NO_RECEIVER = (
    "Traces are off: this recipe has no [traces] section.\n\n"
    "Add one, and services started by stagedeck send their spans here:\n\n"
    "  [traces]\n  port = 4318\n\n"
    "Local services get OTEL_EXPORTER_OTLP_ENDPOINT, OTEL_SERVICE_NAME and\n"
    "OTEL_RESOURCE_ATTRIBUTES; containers send to the endpoint shown by\n"
    "`stagedeck traces RECIPE`."
)


def trace_store(engine: Engine) -> TraceStore | None:
    store: TraceStore | None = getattr(engine, "traces", None)
    return store


def counters(store: TraceStore) -> str:
    """Held, dropped and refused, short enough for an 80-column line."""
    s = store.stats()
    text = f"{s['traces']} traces · {s['spans']} spans"
    if s["dropped_traces"]:
        text += f" · {s['dropped_traces']} dropped (cap {s['max_traces']}/{s['max_spans']})"
    if s["refused_payloads"]:
        text += f" · {s['refused_payloads']} refused"
    return text


class TracesScreen(Screen[None]):
    """Recent traces, newest first; ``enter`` opens the waterfall."""

    BINDINGS = [
        Binding("f", "ask_filter", "Filter", id="traces.filter"),
        Binding("e", "errors_only", "Errors only", id="traces.errors"),
        Binding("escape", "back", "Clear / back", id="traces.back"),
    ]

    def __init__(self, engine: Engine) -> None:
        super().__init__()
        self.engine = engine
        self.filter = query.TraceFilter()
        self._drawn: tuple[int, query.TraceFilter] | None = None
        self._ids: list[str] = []

    @property
    def store(self) -> TraceStore | None:
        return trace_store(self.engine)

    def compose(self) -> ComposeResult:
        yield Banner()
        yield Input(id="traces-query", placeholder="")
        with Vertical(id="traces-panel") as panel:
            panel.border_title = "traces"
            yield KeyTable(id="traces", cursor_type="row")
            yield Static(Text(NO_RECEIVER), id="traces-off")
        yield Static(id="traces-line")
        yield QuietFooter()

    def on_mount(self) -> None:
        self.query_one("#traces-query", Input).display = False
        table = self.query_one("#traces", DataTable)
        root, services = self.column_widths()
        table.add_column("TIME", key="time", width=8)
        table.add_column("DUR", key="dur", width=7)
        table.add_column("!", key="err", width=1)
        table.add_column("ROOT", key="root", width=root)
        table.add_column("SERVICES", key="services", width=services)
        self.query_one("#traces-off").display = self.store is None
        table.display = self.store is not None
        table.focus()
        self.refresh_traces(force=True)
        self.set_interval(REFRESH_SECONDS, self.refresh_traces)

    def column_widths(self) -> tuple[int, int]:
        """(root, services) widths that fill the screen without a horizontal scrollbar."""
        # time, duration, mark; five column gaps of 2; the border and a scrollbar
        free = max(30, (self.app.size.width or 80) - 16 - 10 - 3)
        root = max(20, free * 3 // 5)
        return root, max(8, free - root)

    def on_resize(self) -> None:
        table = self.query_one("#traces", DataTable)
        root, services = self.column_widths()
        for key, width in (("root", root), ("services", services)):
            column = table.columns.get(key)  # type: ignore[call-overload]
            if column is not None:
                column.width = width
        self.refresh_traces(force=True)

    def refresh_traces(self, force: bool = False) -> None:
        store = self.store
        if store is None or (not self.is_current and not force):
            return
        key = (store.version, self.filter)
        if key == self._drawn and not force:
            return
        self._drawn = key
        table = self.query_one("#traces", DataTable)
        selected = self.selected_trace_id
        summaries = query.list_traces(store, self.filter, MAX_ROWS)
        services = list(self.engine.recipe.services)
        table.clear()
        self._ids = []
        for summary in summaries:
            table.add_row(*summary_cells(self.app, summary, services), key=summary.trace_id)
            self._ids.append(summary.trace_id)
        if selected in self._ids:
            table.move_cursor(row=self._ids.index(selected), animate=False)
        what = self.filter.describe()
        panel = self.query_one("#traces-panel")
        panel.border_title = f"traces · {what}" if what else "traces · all"
        panel.border_subtitle = f"{len(summaries)} shown"
        line = Text()
        line.append(" filter ", style="reverse")
        line.append(f" {what or 'none'}  ")
        line.append(counters(store), style="dim")
        self.query_one("#traces-line", Static).update(line)

    @property
    def selected_trace_id(self) -> str | None:
        table = self.query_one("#traces", DataTable)
        row = table.cursor_coordinate.row
        return self._ids[row] if table.row_count and row < len(self._ids) else None

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        event.stop()
        trace_id = self.selected_trace_id
        store = self.store
        trace = store.get(trace_id) if store is not None and trace_id else None
        if trace is not None:
            self.app.push_screen(WaterfallScreen(self.engine, trace))

    def show_filter(self, flt: query.TraceFilter) -> None:
        self.filter = flt
        self.refresh_traces(force=True)

    def action_errors_only(self) -> None:
        f = self.filter
        self.show_filter(query.TraceFilter(f.service, not f.errors_only, f.min_duration, f.test))

    def action_ask_filter(self) -> None:
        box = self.query_one("#traces-query", Input)
        box.placeholder = "service:NAME errors min:200ms test:ID — enter to apply, esc to cancel"
        box.value = self.filter.describe()
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            flt = query.parse_filter(event.value, list(self.engine.recipe.services))
        except query.FilterError as exc:
            self.notify(str(exc), severity="error", timeout=6, markup=False)
            return
        self._close_input()
        self.show_filter(flt)

    def _close_input(self) -> None:
        box = self.query_one("#traces-query", Input)
        box.display = False
        self.query_one("#traces", DataTable).focus()

    def action_back(self) -> None:
        if self.query_one("#traces-query", Input).display:
            self._close_input()
        elif self.filter != query.TraceFilter():
            self.show_filter(query.TraceFilter())
        else:
            self.app.switch_mode("overview")


class WaterfallScreen(Screen[None]):
    """One trace: spans in tree order with timings, the critical path and the failing span."""

    BINDINGS = [
        Binding("l", "logs", "Span's logs", id="waterfall.logs"),
        Binding("escape", "back", "Back", id="waterfall.back"),
    ]
    NAME_WIDTH = 30

    def __init__(self, engine: Engine, trace: Trace) -> None:
        super().__init__()
        self.engine = engine
        self.trace = trace
        self._drawn = (-1, -1)
        self._rows: list[query.Row] = []

    def compose(self) -> ComposeResult:
        yield Static(id="waterfall-head")
        with Vertical(id="waterfall-panel") as panel:
            panel.border_title = f"trace {self.trace.trace_id}"
            yield KeyTable(id="waterfall", cursor_type="row")
        yield Static(id="waterfall-detail")
        yield QuietFooter()

    def on_mount(self) -> None:
        table = self.query_one("#waterfall", DataTable)
        table.add_column("SPAN", key="span", width=self.NAME_WIDTH)
        table.add_column("SERVICE", key="service", width=10)
        table.add_column("DUR", key="dur", width=7)
        table.add_column("TIMELINE", key="bar", width=self.bar_width())
        table.focus()
        self.redraw()
        self.set_interval(REFRESH_SECONDS, self.redraw)

    def bar_width(self) -> int:
        # name, service, duration, four column gaps of 2, the border and a scrollbar
        width = self.app.size.width or 80
        return max(8, width - self.NAME_WIDTH - 10 - 7 - 8 - 4)

    def on_resize(self) -> None:
        self._drawn = (-1, -1)
        self.redraw()

    def redraw(self) -> None:
        width = self.bar_width()
        if (self.trace.version, width) == self._drawn or not self.is_mounted:
            return
        self._drawn = (self.trace.version, width)
        trace = self.trace
        self._rows = query.waterfall(trace)
        services = list(self.engine.recipe.services)
        table = self.query_one("#waterfall", DataTable)
        column = table.columns.get("bar")  # type: ignore[call-overload]
        if column is not None:
            column.width = width
        row_index = table.cursor_coordinate.row
        table.clear()
        for n, row in enumerate(self._rows):
            cells = row_cells(
                self.app, row, trace.start, trace.duration, width, services, self.NAME_WIDTH
            )
            table.add_row(*cells, key=str(n))
        if self._rows:
            table.move_cursor(row=min(row_index, len(self._rows) - 1), animate=False)
        self._head()
        self._detail()

    def _head(self) -> None:
        trace = self.trace
        verdict = query.blame(trace)
        summary = query.summarize(trace)
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f" {query.duration_text(trace.duration)} ", style="reverse")
        text.append(f" {len(trace.spans)} spans · {', '.join(summary.services)}\n")
        if verdict.error_service:
            text.append(" ✖ failed first: ", style=style(self.app, "down", bold=True))
            text.append(f"{verdict.error_service} · {verdict.error_span}")
            if verdict.error_message:
                text.append(f" · {verdict.error_message}", style="dim")
            text.append("\n")
        else:
            text.append(" no span failed\n", style="dim")
        if verdict.slow_service:
            text.append(" ┃ took the time: ", style="bold")
            own = query.duration_text(verdict.slow_self_time)
            text.append(f"{verdict.slow_service} · {own} own · {verdict.slow_span}")
        if summary.test:
            text.append(f"\n test: {summary.test}", style="dim")
        self.query_one("#waterfall-head", Static).update(text)

    @property
    def selected_row(self) -> query.Row | None:
        table = self.query_one("#waterfall", DataTable)
        row = table.cursor_coordinate.row
        return self._rows[row] if table.row_count and row < len(self._rows) else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._detail()

    def _detail(self) -> None:
        row = self.selected_row
        text = Text(no_wrap=True, overflow="ellipsis")
        if row is not None:
            span = row.span
            offset = (span.start - self.trace.start) * 1000
            text.append(f" {span.kind} · +{offset:.1f}ms · {query.duration_text(span.duration)}")
            text.append(f" ({query.duration_text(row.self_time)} own)")
            if span.status_message:
                text.append(f" · {span.status_message}", style=style(self.app, "down"))
            shown = [f"{k}={v}" for k, v in span.attributes if k not in ("test.id",)][:6]
            if shown:
                text.append("\n " + "  ".join(shown), style="dim")
        self.query_one("#waterfall-detail", Static).update(text)

    def action_logs(self) -> None:
        row = self.selected_row
        if row is None:
            return
        span = row.span
        rid = span.request_id or next((s.request_id for s in self.trace.spans if s.request_id), "")
        self.post_message(OpenSpanLogs(span.service, rid, self.trace.trace_id, span.start))

    def action_back(self) -> None:
        self.dismiss()
