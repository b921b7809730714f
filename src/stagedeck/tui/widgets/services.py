"""The services table: one row per service, refreshed only when something changed."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.message import Message
from textual.widgets import DataTable

from stagedeck.clock import wall
from stagedeck.engine import Engine
from stagedeck.events import ProcState, ServiceStatus
from stagedeck.sparkline import latency_sparkline
from stagedeck.tui.palette import HEALTH_SYMBOL, health_style_name, style
from stagedeck.tui.widgets.table import KeyTable

SLOW_COLUMNS_SECONDS = 5.0
"""How often p95, trend and age may redraw the table (a minute's p95 moves slowly)."""

COLUMNS = ("service", "state", "health", "p95", "trend", "restarts", "in state")
WIDTHS = {
    "state": 10,
    "health": 11,
    "p95": 7,
    "trend": 8,
    "restarts": 8,
    "in state": 8,
    "platform": 10,
}
"""Fixed widths: a column that resizes when a value grows makes the whole table jump."""


def age(seconds: float) -> str:
    """Coarse on purpose: "7s", "40s", "3m", "2h". Each label change redraws the table,
    so under ten seconds it counts seconds, then tens of seconds, then minutes."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{int(seconds)}s"
    if seconds < 60:
        return f"{int(seconds // 10) * 10}s"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


class ServicesTable(KeyTable):
    """Services with their state and health; the cursor picks the service actions apply to."""

    class Selected(Message):
        """The highlighted service changed."""

        def __init__(self, service: str) -> None:
            super().__init__()
            self.service = service

    def __init__(
        self, engine: Engine, *, clock: Callable[[], float] = wall, **kwargs: object
    ) -> None:
        super().__init__(cursor_type="row", zebra_stripes=False, **kwargs)  # type: ignore[arg-type]
        self.engine = engine
        self._clock = clock
        self._drawn: dict[str, tuple[object, ...]] = {}
        self._seen_version = -1
        self._slow_at = 0.0
        self._platform = engine.recipe.environment.target != "local"
        self._columns = (*COLUMNS, "platform") if self._platform else COLUMNS

    def on_mount(self) -> None:
        name_width = max((len(n) for n in self.engine.statuses), default=7)
        columns = self._columns
        for column in columns:
            self.add_column(
                column.upper(), key=column, width=WIDTHS.get(column, max(7, name_width))
            )
        for name in self.engine.statuses:
            self.add_row(*self._cells(self.engine.statuses[name]), key=name)
        self.refresh_rows(force=True)
        self.set_interval(0.25, self.refresh_rows)
        self.app.theme_changed_signal.subscribe(self, lambda _: self.refresh_rows(force=True))

    @property
    def selected(self) -> str | None:
        if not self.row_count:
            return None
        row_key, _ = self.coordinate_to_cell_key(self.cursor_coordinate)
        return str(row_key.value)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.Selected(str(event.row_key.value)))

    def _cells(self, s: ServiceStatus) -> list[Text | str]:
        app = self.app
        health_name = health_style_name(s.health, s.state)
        state_style = style(app, "down") if s.state in (ProcState.CRASHED, ProcState.FAILED) else ""
        health = Text(f"{HEALTH_SYMBOL[s.health]} {s.health.value}", style=style(app, health_name))
        now = self._clock()
        summary = (
            self.engine.latency[s.name].summary(now=now) if s.name in self.engine.latency else None
        )
        p95 = f"{summary.p95:.0f} ms" if summary and summary.p95 is not None else "–"
        now = self._clock()
        trend = latency_sparkline(self.engine.latency[s.name], WIDTHS["trend"], now=now)
        cells: list[Text | str] = [
            Text(s.name, style="bold"),
            Text(s.state.value, style=state_style),
            health,
            p95,
            Text(trend, style=style(app, health_name if health_name != "healthy" else "log-time")),
            str(s.restarts),
            age(now - s.since),
        ]
        if self._platform:
            # The platform's own verdict (Docker HEALTHCHECK, Kubernetes readiness), beside ours.
            verdict = s.platform_health or "–"
            name = {"healthy": "healthy", "unhealthy": "down", "starting": "unknown"}.get(
                verdict, "unknown" if verdict == "–" else "degraded"
            )
            cells.append(Text(verdict, style=style(app, name)))
        return cells

    def refresh_rows(self, force: bool = False) -> None:
        """Rewrite only the cells whose text changed; skip everything when nothing did.

        State and health show within a quarter of a second; the drifting numbers
        (p95 over a minute, trend, age) every few seconds, in one batch: each update
        makes the table draw again, and an idle cockpit should draw almost nothing.
        """
        if not force and not self.is_on_screen:
            return
        now = time.monotonic()
        slow_due = force or now - self._slow_at >= SLOW_COLUMNS_SECONDS
        if self.engine.version == self._seen_version and not slow_due:
            return
        self._seen_version = self.engine.version
        if slow_due:
            self._slow_at = now
        with self.app.batch_update():
            self._refresh_cells(force, slow_due)

    def _refresh_cells(self, force: bool, slow_due: bool) -> None:
        for name, status in self.engine.statuses.items():
            cells = self._cells(status)
            key = tuple(str(c) for c in cells)
            previous = self._drawn.get(name, ())
            if not force and previous == key:
                continue
            if not slow_due and previous and key[:3] == previous[:3]:
                continue  # only slow columns moved: wait for their turn
            if name not in self.rows:
                self.add_row(*cells, key=name)
            else:
                previous = self._drawn.get(name, ())
                for index, column in enumerate(self._columns):
                    if force or index >= len(previous) or previous[index] != key[index]:
                        self.update_cell(name, column, cells[index], update_width=index == 2)
            self._drawn[name] = key
        for gone in [n for n in self._drawn if n not in self.engine.statuses]:
            self.remove_row(gone)
            del self._drawn[gone]
