"""The services table: one row per service, each row drawn only when its text changed.

It is not a ``DataTable``: that widget re-renders every cell of every row after
any single cell update, which for 21 services was 45 ms of work each time the
p95 column moved, under a log flood just when keys need answering. Here each
row is one cached strip; a changed row repaints that row alone.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from stagedeck.engine.clock import wall
from stagedeck.engine.engine import Engine
from stagedeck.engine.events import ProcState, ServiceStatus
from stagedeck.engine.sparkline import latency_sparkline
from stagedeck.triage.conditions import health_style_name
from stagedeck.tui.palette import HEALTH_SYMBOL, style
from stagedeck.tui.ticker import every

SLOW_COLUMNS_SECONDS = 10.0
"""How often p95, trend and age may redraw the table (a minute's p95 moves slowly; the
trend's buckets are 30 s). On the wall clock's 10 s grid, as the latency chart's buckets
and the graph's detail line, so the three change in one frame, not three."""

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
    """Coarse on purpose: "7s", "<1m", "3m", "2h". Each label change redraws the table
    (every row, when the services started together), so under ten seconds it counts
    seconds (a fresh restart is worth seeing), then says "<1m", then minutes."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{int(seconds)}s"
    if seconds < 60:
        return "<1m"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


class ServicesTable(ScrollView, can_focus=True):
    """Services with their state and health; the cursor picks the service actions apply to."""

    DEFAULT_CSS = """
    ServicesTable {
        background: $surface;
        color: $foreground;
        height: auto;
        max-height: 100%;
        & > .services--header { text-style: bold; background: $panel; color: $foreground; }
        &:ansi > .services--header { background: ansi_bright_blue; color: ansi_default; }
        & > .services--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
            text-style: $block-cursor-blurred-text-style;
        }
        &:focus {
            background-tint: $foreground 5%;
            & > .services--cursor {
                background: $block-cursor-background;
                color: $block-cursor-foreground;
                text-style: $block-cursor-text-style;
            }
            & > .services--header { background-tint: $foreground 5%; }
        }
    }
    """
    COMPONENT_CLASSES = {"services--header", "services--cursor"}

    BINDINGS = [
        Binding("j,down", "cursor(1)", "Down", show=False, id="table.down"),
        Binding("k,up", "cursor(-1)", "Up", show=False, id="table.up"),
        Binding("g,home", "first", "Top", show=False, id="table.top"),
        Binding("G,end", "last", "Bottom", show=False, id="table.bottom"),
        Binding("pagedown", "cursor_page(1)", "Page down", show=False, id="table.page_down"),
        Binding("pageup", "cursor_page(-1)", "Page up", show=False, id="table.page_up"),
        Binding("enter", "open", "Open logs", show=False, id="services.open"),
    ]

    cursor_row: reactive[int] = reactive(0, always_update=True)

    class Selected(Message):
        """The highlighted service changed."""

        def __init__(self, service: str) -> None:
            super().__init__()
            self.service = service

    class RowSelected(Message):
        """``enter`` on a service: open its log."""

        def __init__(self, service: str) -> None:
            super().__init__()
            self.service = service

    def __init__(
        self, engine: Engine, *, clock: Callable[[], float] = wall, **kwargs: object
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.engine = engine
        self._clock = clock
        self._cells: dict[str, list[Text | str]] = {}
        self._drawn: dict[str, tuple[str, ...]] = {}
        self._order: list[str] = []
        self._strips: dict[tuple[str, bool], Strip] = {}
        self._seen_version = -1
        self._slow_slot = -1
        self._fresh: dict[str, tuple[float, int]] = {}
        """When each row's cells were last computed (monotonic) and the engine's version
        then: a row scrolled into view with cells older than ``SLOW_COLUMNS_SECONDS``, or
        drawn after a status change anywhere (it may be the one that changed), is
        computed again as it is drawn."""
        self._platform = engine.recipe.environment.target != "local"
        self._columns = (*COLUMNS, "platform") if self._platform else COLUMNS
        self._widths = self._column_widths()

    def _column_widths(self) -> list[int]:
        name_width = max((len(n) for n in self.engine.statuses), default=7)
        return [WIDTHS.get(c, max(7, name_width)) for c in self._columns]

    def on_mount(self) -> None:
        self.refresh_rows(force=True)
        every(self, 0.25, self.refresh_rows)
        self.app.theme_changed_signal.subscribe(self, lambda _: self.refresh_rows(force=True))

    # ------------------------------------------------------------------ rows

    @property
    def rows(self) -> dict[str, int]:
        """Service name → row index, in display order."""
        return {name: i for i, name in enumerate(self._order)}

    @property
    def row_count(self) -> int:
        return len(self._order)

    def get_row(self, name: str) -> list[Text | str]:
        self._bring_up_to_date(name)
        return list(self._cells[name])

    def get_row_index(self, name: str) -> int:
        return self._order.index(name)

    @property
    def selected(self) -> str | None:
        if not self._order:
            return None
        return self._order[min(self.cursor_row, len(self._order) - 1)]

    def _cells_for(self, s: ServiceStatus) -> list[Text | str]:
        app = self.app
        health_name = health_style_name(s.health, s.state)
        state_style = style(app, "down") if s.state in (ProcState.CRASHED, ProcState.FAILED) else ""
        health = Text(f"{HEALTH_SYMBOL[s.health]} {s.health.value}", style=style(app, health_name))
        now = self._clock()
        summary = (
            self.engine.latency[s.name].summary(now=now) if s.name in self.engine.latency else None
        )
        p95 = f"{summary.p95:.0f} ms" if summary and summary.p95 is not None else "–"
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
            name = {
                "healthy": "healthy",
                "unhealthy": "down",
                "starting": "unknown",
                "none": "unknown",
            }.get(verdict, "unknown" if verdict == "–" else "degraded")
            cells.append(Text(verdict, style=style(app, name)))
        return cells

    def refresh_rows(self, force: bool = False) -> None:
        """Redraw only the rows whose text changed; skip everything when nothing did.

        State and health show within a quarter of a second; the drifting numbers
        (p95 over a minute, trend, age) every few seconds, in one batch: an idle
        cockpit should draw almost nothing.
        """
        now = time.monotonic()
        slot = int(self._clock() // SLOW_COLUMNS_SECONDS)
        slow_due = force or slot != self._slow_slot
        changed = self.engine.version != self._seen_version
        if not changed and not slow_due:
            return  # before asking whether we are on screen, which walks the DOM
        if not force and not self.is_on_screen:
            return
        self._seen_version = self.engine.version
        if slow_due:
            self._slow_slot = slot
        names = list(self.engine.statuses)
        if force:
            self._strips.clear()
        if names != self._order:
            self._order = names
            self._widths = self._column_widths()
            self._strips.clear()
            self.virtual_size = Size(self._table_width(), len(names) + 1)
            self.cursor_row = min(self.cursor_row, max(0, len(names) - 1))
            self.refresh()
        # Only the rows on screen: with 500 services, computing every row's cells on
        # each status change (as they start) or every 5 s cost more than all the rest.
        # A row scrolled into view later is brought up to date as it is drawn.
        top = self.scroll_offset.y
        rows = range(top, min(len(names), top + max(0, self.size.height - 1)))
        version = self.engine.version
        for row in rows:
            name = names[row]
            cells = self._cells_for(self.engine.statuses[name])
            key = tuple(str(c) for c in cells)
            previous = self._drawn.get(name, ())
            if not force and previous == key:
                self._fresh[name] = (now, version)
                continue
            if not slow_due and previous and key[:3] == previous[:3]:
                continue  # only slow columns moved: wait for their turn
            self._store(name, cells, key, now)
            self._refresh_row(row)
        for gone in [n for n in self._drawn if n not in self.engine.statuses]:
            del self._drawn[gone]
            self._cells.pop(gone, None)
            self._fresh.pop(gone, None)

    def _store(self, name: str, cells: list[Text | str], key: tuple[str, ...], now: float) -> None:
        self._cells[name] = cells
        self._drawn[name] = key
        self._fresh[name] = (now, self.engine.version)
        self._strips.pop((name, False), None)
        self._strips.pop((name, True), None)

    def _bring_up_to_date(self, name: str) -> None:
        """A row about to be drawn (or read) whose cells are older than the slow columns'
        period, or than the last status change."""
        now = time.monotonic()
        at, version = self._fresh.get(name, (-SLOW_COLUMNS_SECONDS, -1))
        if now - at < SLOW_COLUMNS_SECONDS and version == self.engine.version:
            return
        status = self.engine.statuses.get(name)
        if status is None:
            return
        cells = self._cells_for(status)
        key = tuple(str(c) for c in cells)
        if key == self._drawn.get(name):
            self._fresh[name] = (now, self.engine.version)
        else:
            self._store(name, cells, key, now)

    def _table_width(self) -> int:
        return sum(w + 2 for w in self._widths)

    def _refresh_row(self, row: int) -> None:
        y = row + 1 - self.scroll_offset.y
        if 1 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    # ------------------------------------------------------------------ cursor

    def watch_cursor_row(self, old: int, new: int) -> None:
        self._refresh_row(old)
        self._refresh_row(new)
        top, height = self.scroll_offset.y, max(1, self.size.height - 1)
        if new < top:
            self.scroll_to(y=new, animate=False, immediate=True)
        elif new >= top + height:
            self.scroll_to(y=new - height + 1, animate=False, immediate=True)
        name = self.selected
        if name is not None:
            self.post_message(self.Selected(name))

    def move_cursor(self, *, row: int) -> None:
        self.cursor_row = min(max(row, 0), max(0, self.row_count - 1))

    def action_cursor(self, delta: int) -> None:
        self.move_cursor(row=self.cursor_row + delta)

    def action_cursor_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.size.height - 2))

    def action_first(self) -> None:
        self.move_cursor(row=0)

    def action_last(self) -> None:
        self.move_cursor(row=self.row_count - 1)

    def action_open(self) -> None:
        name = self.selected
        if name is not None:
            self.post_message(self.RowSelected(name))

    def on_click(self, event: events.Click) -> None:
        if event.y >= 1:
            self.move_cursor(row=self.scroll_offset.y + event.y - 1)

    def on_resize(self) -> None:
        self._strips.clear()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()

    # ------------------------------------------------------------------ render

    def _row_strip(
        self, cells: list[Text | str], row_style: Style, over: Style | None = None
    ) -> Strip:
        """One row: each cell padded to its column, with one space either side.
        ``over`` (the cursor) goes on top of the cells' own colours."""
        segments: list[Segment] = []
        console = self.app.console
        edge = row_style + over if over else row_style
        for cell, width in zip(cells, self._widths, strict=False):
            text = cell.copy() if isinstance(cell, Text) else Text(cell)
            text.truncate(width, overflow="ellipsis", pad=True)
            segments.append(Segment(" ", edge))
            # ``Text.render`` yields span styles only; the text's own style goes under them.
            cell_style = row_style + console.get_style(text.style) if text.style else row_style
            for seg in text.render(console):
                seg_style = cell_style + seg.style if seg.style else cell_style
                segments.append(Segment(seg.text, seg_style + over if over else seg_style))
            segments.append(Segment(" ", edge))
        return Strip(segments)

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.rich_style
        if y == 0:
            header = base + self.get_component_rich_style("services--header")
            cells: list[Text | str] = [c.upper() for c in self._columns]
            strip = self._row_strip(cells, header)
            return strip.crop(scroll_x, scroll_x + width).extend_cell_length(width, header)
        row = scroll_y + y - 1
        if not 0 <= row < len(self._order):
            return Strip.blank(width, base)
        name = self._order[row]
        self._bring_up_to_date(name)
        is_cursor = row == self.cursor_row
        cached = self._strips.get((name, is_cursor))
        if cached is None:
            over = self.get_component_rich_style("services--cursor") if is_cursor else None
            cached = self._row_strip(self._cells.get(name, []), base, over)
            fill = base + over if over else base
            cached = cached.extend_cell_length(max(width, cached.cell_length), fill)
            self._strips[(name, is_cursor)] = cached
        return cached.crop(scroll_x, scroll_x + width)
