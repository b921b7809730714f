"""The log explorer: every service's log, filtered, searched, followed or paused."""

from __future__ import annotations

import time
from pathlib import Path

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Input, Static

from stagedeck.engine.engine import Engine
from stagedeck.engine.logquery import LogFilter, QueryError, parse_query
from stagedeck.triage.model import Ranking
from stagedeck.tui.messages import OpenTrace
from stagedeck.tui.row_crop import crop_rows
from stagedeck.tui.widgets.banner import Banner
from stagedeck.tui.widgets.border import set_border_subtitle
from stagedeck.tui.widgets.footer import QuietFooter
from stagedeck.tui.widgets.logview import LogView, stats_text
from stagedeck.tui.widgets.statusbar import StatusBar
from stagedeck.tui.widgets.suspects import SuspectLine, follow_ranking


class LogsScreen(Screen[None]):
    """``/`` searches (highlight, n/N), ``f`` filters (service:, level:, since:, rid:)."""

    BINDINGS = [
        Binding("slash", "ask('search')", "Search", key_display="/", id="logs.search"),
        Binding("f", "ask('filter')", "Filter", id="logs.filter"),
        Binding("e", "errors_only", "Errors only", id="logs.errors"),
        Binding("ctrl+s", "save", "Save view", id="logs.save"),
        Binding("escape", "back", "Clear / back", id="logs.back"),
        Binding("v", "open_trace", "Trace", id="logs.trace"),
    ]

    def __init__(self, engine: Engine, *, save_dir: Path | None = None) -> None:
        super().__init__()
        crop_rows(self)  # its log pane scrolls: see tui/row_crop.py
        self.engine = engine
        self.save_dir = save_dir or Path.cwd()
        self._asking = ""
        self._history: list[LogFilter] = []

    def compose(self) -> ComposeResult:
        yield Banner()
        yield Input(id="log-query", placeholder="")
        with Vertical(id="explorer-panel") as panel:
            panel.border_title = "logs · all services"
            yield LogView(
                self.engine.logs, service_order=list(self.engine.recipe.services), id="explorer"
            )
        yield Static(id="log-filter-line")
        yield SuspectLine()
        yield StatusBar(self.engine)
        yield QuietFooter()

    @property
    def view(self) -> LogView:
        return self.query_one("#explorer", LogView)

    def on_mount(self) -> None:
        self.query_one("#log-query", Input).display = False
        self.view.focus()
        self._describe()
        follow_ranking(self, self.show_ranking)

    def show_ranking(self, ranking: Ranking) -> None:
        self.query_one(SuspectLine).show(ranking)

    def apply_filter(self, new: LogFilter, *, remember: bool = True) -> None:
        if remember:
            self._history.append(self.view.filter)
        self.view.set_filter(new)
        self._describe()

    def _describe(self) -> None:
        flt = self.view.filter
        line = Text()
        line.append(" filter ", style="reverse")
        line.append(f" {flt.describe() or 'none'}  ")
        if self.view.search_text:
            line.append(" search ", style="reverse")
            line.append(f" {self.view.search_text}  (n/N)")
        self.query_one("#log-filter-line", Static).update(line)
        panel = self.query_one("#explorer-panel")
        what = ", ".join(sorted(flt.services)) if flt.services else "all services"
        if flt.request_id:
            what = f"request {flt.request_id} across services"
        panel.border_title = f"logs · {what}"

    def action_ask(self, what: str) -> None:
        box = self.query_one("#log-query", Input)
        self._asking = what
        if what == "search":
            box.placeholder = "search text, or re:regex — enter to apply, esc to cancel"
            box.value = self.view.search_text
        else:
            box.placeholder = "service:a,b level:warn since:5m rid:ID text — enter to apply"
            box.value = self.view.filter.describe()
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        try:
            if self._asking == "search":
                self.view.set_search(event.value.strip())
            else:
                self.apply_filter(parse_query(event.value, list(self.engine.recipe.services)))
        except QueryError as exc:
            self.notify(str(exc), severity="error", timeout=6, markup=False)
            return
        self._close_input()
        self._describe()

    def _close_input(self) -> None:
        box = self.query_one("#log-query", Input)
        box.display = False
        self._asking = ""
        self.view.focus()

    def on_log_view_request_selected(self, event: LogView.RequestSelected) -> None:
        self.apply_filter(self.view.filter.with_request(event.request_id))
        self.notify(
            f"following request {event.request_id} across services (esc to go back)", timeout=4
        )

    def on_log_view_stats(self, event: LogView.Stats) -> None:
        set_border_subtitle(self.query_one("#explorer-panel"), stats_text(event))

    def action_errors_only(self) -> None:
        flt = self.view.filter
        level = "" if flt.min_level == "warn" else "warn"
        self.apply_filter(
            LogFilter(flt.services, level, flt.text, flt.request_id, flt.since_seconds)
        )

    def action_save(self) -> None:
        path = self.save_dir / time.strftime("stagedeck-logs-%Y%m%d-%H%M%S.log")
        try:
            count = self.view.save(path)
        except OSError as exc:
            self.notify(f"cannot save to {path}: {exc.strerror}", severity="error")
            return
        self.notify(f"saved {count:,} lines to {path}", timeout=6, markup=False)

    def action_back(self) -> None:
        if self._asking:
            self._close_input()
        elif self.view.search_text:
            self.view.set_search("")
            self._describe()
        elif self._history:
            self.apply_filter(self._history.pop(), remember=False)
        else:
            self.app.switch_mode("overview")

    async def action_open_trace(self) -> None:
        """The trace of the selected line: by a trace id in it, else by its request id."""
        from stagedeck.traces.query import find_trace

        line = self.view.selected_line
        store = self.engine.traces
        if line is None or store is None:
            self.notify("no traces: the recipe has no [traces] section", severity="warning")
            return
        trace = find_trace(store, line.rid) if line.rid else None
        trace = trace or find_trace(store, line.text)
        if trace is None:
            self.notify("no trace held for this line's request", severity="warning", timeout=4)
            return
        self.post_message(OpenTrace(trace.trace_id))

    def show_span(self, service: str, request_id: str, trace_id: str, at: float) -> None:
        """A span's service's lines of its request, the cursor on the first at the span's time.

        Filtered by the request id services write in their lines; by the trace id as
        text when the span carries no request id.
        """
        text = "" if request_id else trace_id
        self.apply_filter(
            LogFilter(services=frozenset({service}), request_id=request_id, text=text)
        )
        view = self.view
        for row in range(view.row_count):
            line = view.line_at(row)
            if line is not None and line.ts >= at - 0.001:
                view.follow = False
                view.cursor = row
                break

    def show_service(self, service: str) -> None:
        """Open on one service (from the services table's ``enter``)."""
        self.apply_filter(LogFilter(services=frozenset({service})))

    def show_evidence(
        self, new: LogFilter, *, seq: int | None = None, at: float | None = None
    ) -> None:
        """Open on a piece of evidence (the explain view): its request or service, with the
        cursor on its line (``seq``) or at its moment (``at``); esc goes back."""
        self.apply_filter(new)
        if (seq is not None or at is not None) and not self.view.go_to(seq=seq, at=at):
            self.notify("that line is no longer in the log buffer", severity="warning", timeout=4)
