"""Activity: what everyone sharing this environment did, newest first."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from stagedeck.engine.engine import Engine
from stagedeck.store import AuditEntry
from stagedeck.store.shared import SharedSnapshot, SharedState
from stagedeck.triage.model import Ranking
from stagedeck.tui.palette import style
from stagedeck.tui.widgets.banner import Banner
from stagedeck.tui.widgets.footer import QuietFooter
from stagedeck.tui.widgets.statusbar import StatusBar
from stagedeck.tui.widgets.suspects import SuspectLine, follow_ranking
from stagedeck.tui.widgets.table import KeyTable


class ActivityScreen(Screen[None]):
    """The shared audit log. Given the engine (status bar) and the shared state it shows."""

    def __init__(self, engine: Engine, shared: SharedState | None) -> None:
        super().__init__()
        self.engine = engine
        self.shared = shared
        self._unsubscribe: Callable[[], None] = lambda: None
        self._shown: tuple[AuditEntry, ...] = ()

    def compose(self) -> ComposeResult:
        yield Banner()
        with Vertical(id="activity-panel") as panel:
            panel.border_title = "activity · everyone sharing this environment"
            yield KeyTable(id="activity", cursor_type="row")
        yield SuspectLine()
        yield StatusBar(self.engine)
        yield QuietFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for name, width in (
            ("WHEN", 9),
            ("WHO", 10),
            ("ACTION", 24),
            ("SERVICES", 22),
            ("OUTCOME", 9),
            ("TOOK", 6),
        ):
            table.add_column(name, key=name.lower(), width=width)
        table.add_column("DETAIL", key="detail")
        table.focus()
        if self.shared is not None:
            self._unsubscribe = self.shared.subscribe(self._on_shared)
        follow_ranking(self, self.show_ranking)

    def show_ranking(self, ranking: Ranking) -> None:
        self.query_one(SuspectLine).show(ranking)

    def on_unmount(self) -> None:
        self._unsubscribe()

    def _on_shared(self, snapshot: SharedSnapshot) -> None:
        if snapshot.audit == self._shown:
            return
        self._shown = snapshot.audit
        table = self.query_one(DataTable)
        table.clear()
        for entry in snapshot.audit:
            if entry.outcome is None:
                outcome = Text("running", style=style(self.app, "degraded"))
            elif entry.outcome == "ok":
                outcome = Text("ok", style=style(self.app, "healthy"))
            else:
                outcome = Text(entry.outcome, style=style(self.app, "down"))
            took = f"{entry.ended - entry.started:.0f}s" if entry.ended else ""
            action = Text(entry.action)
            if entry.forced:
                action.append(" (forced)", style=style(self.app, "down", bold=True))
            detail = str(entry.details.get("detail", "")).splitlines()[0:1]
            table.add_row(
                time.strftime("%H:%M:%S", time.localtime(entry.started)),
                entry.user,
                action,
                ", ".join(entry.services),
                outcome,
                took,
                Text(detail[0] if detail else ""),
                key=str(entry.id),
            )

    def show_entry(self, audit_id: int | None, at: float | None = None) -> None:
        """Put the cursor on audit entry ``audit_id``, else on the entry nearest ``at``
        (a jump from a change in the explain view)."""
        table = self.query_one(DataTable)
        row: int | None = None
        if audit_id is not None:
            try:
                row = table.get_row_index(str(audit_id))
            except RowDoesNotExist:  # older than the entries shown
                row = None
        if row is None and at is not None and self._shown:
            entries = list(self._shown)
            nearest = min(entries, key=lambda e: abs(e.started - at))
            row = entries.index(nearest)
        if row is None:
            self.notify("that change is not in the recent activity", severity="warning", timeout=4)
            return
        table.move_cursor(row=row)
        table.focus()
