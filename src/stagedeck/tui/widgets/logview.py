"""The log view: an index of line numbers, rendered one visible row at a time.

Modelled on toolong: the widget keeps only the sequence numbers of the lines
that pass its filter, reads new lines from the :class:`LogHub` on a frame
timer (so a flood costs one batch per frame, not one event per line), and
renders only the rows on screen through the Line API, caching the strips.

Service text is data: it is drawn as plain segments, never parsed as markup,
and the hub has already stripped escape sequences from it.
"""

from __future__ import annotations

import asyncio
import bisect
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from functools import lru_cache
from itertools import pairwise
from pathlib import Path

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Region, Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from stagedeck.engine.clock import wall
from stagedeck.engine.logquery import LogFilter, compile_search
from stagedeck.engine.logs import LogHub, LogLine
from stagedeck.text import ColourSpans
from stagedeck.tui.palette import colour, rich_colour, service_colour, style
from stagedeck.tui.ticker import every
from stagedeck.tui.widgets.plain_rows import plain_rows

FRAME_SECONDS = 0.25
"""How often the view looks for new lines (a comparison of two numbers when there are none).
A quarter second shares the clock's wakes with the table's and graph's polls (0.25 s,
0.5 s, 1 s: see tui/ticker.py); 0.2 s woke it five more times a second on its own."""
SCROLL_FRAME_SECONDS = 1.0
"""A frame that scrolls the view redraws every visible row (about 5 KB at 160x48 for the
overview's log pane), so while lines trickle in it comes at most once a second: twenty
containers logging a line a second each cost 40 KB/s at five frames a second, and at 0.75 s
the frames were still most of an idle cockpit's CPU (1.3-1.5 % of a core against 1.0-1.1 %
at 1 s, bench_docker_threads.py). The newest line is at most about a second old, as with
``watch -n1``. Lines that land on empty rows, the first lines, and frames after a quiet
spell are drawn at once; a flood keeps BUSY_FRAME_SECONDS."""
STRIP_CACHE = 400
"""Rows drawn through the general path (search, wrap, wide text), a few screens' worth."""
BUSY_FRAME_LINES = 100
"""More new lines than this in one frame counts as a flood..."""
BUSY_FRAME_SECONDS = 0.5
"""...and during a flood the view redraws at most twice a second: every visible row
changes each frame then, so each frame costs the whole panel in terminal bytes."""
MAX_WIDTH = 4000
STATS_SECONDS = 5.0
"""While following, the line count in the panel's title moves every frame: it is redrawn
(two border rows) every five seconds; paused, every second (the count of new lines)."""


def _text_width(text: str) -> int:
    """Cells ``text`` takes; most log lines are ASCII, where that is its length."""
    return len(text) if text.isascii() else cell_len(text)


def stats_text(event: LogView.Stats) -> str:
    """The log panel's subtitle: "1,234 lines · paused, 56 new · 789 dropped (flood)"."""
    parts = [f"{event.shown:,} lines"]
    if not event.view.follow:
        parts.append(f"paused, {event.unseen:,} new" if event.unseen else "paused")
    if event.dropped:
        flood = event.view.hub.over_ceiling()
        why = f" (over {event.view.hub.max_rate:,} lines/s)" if flood else ""
        parts.append(f"{event.dropped:,} dropped{why}")
    return " · ".join(parts)


class LogView(ScrollView, can_focus=True):
    """Interleaved (or filtered) log of every service, following the newest line by default."""

    DEFAULT_CSS = """
    LogView { background: $surface; }
    """

    BINDINGS = [
        Binding("space", "toggle_follow", "Pause", id="logs.pause"),
        Binding("j,down", "cursor(1)", "Down", show=False, id="logs.down"),
        Binding("k,up", "cursor(-1)", "Up", show=False, id="logs.up"),
        Binding("pagedown,ctrl+f", "cursor_page(1)", "Page down", show=False, id="logs.page_down"),
        Binding("pageup,ctrl+b", "cursor_page(-1)", "Page up", show=False, id="logs.page_up"),
        Binding("g,home", "first", "Top", show=False, id="logs.top"),
        Binding("G,end", "last", "Bottom (follow)", show=False, id="logs.bottom"),
        Binding("n", "next_match(1)", "Next match", show=False, id="logs.next"),
        Binding("N", "next_match(-1)", "Previous match", show=False, id="logs.previous"),
        # W, not w: w is "why" (the explain view) everywhere in the cockpit.
        Binding("W", "toggle_wrap", "Wrap", id="logs.wrap"),
        Binding("enter", "follow_request", "Follow request", id="logs.request"),
    ]

    follow: reactive[bool] = reactive(True)
    """Keep the newest line in view; moving the cursor up pauses, ``G`` resumes."""
    wrap: reactive[bool] = reactive(False)
    cursor: reactive[int] = reactive(-1, always_update=True, repaint=False)
    """Selected row (-1: none); the cursor sits on the newest row while following.
    Moving it repaints the two rows concerned (``watch_cursor``), not the whole view."""

    class Stats(Message):
        """Counts for the panel title: shown, new while paused, dropped."""

        def __init__(self, view: LogView, shown: int, unseen: int, dropped: int) -> None:
            super().__init__()
            self.view = view
            self.shown = shown
            self.unseen = unseen
            self.dropped = dropped

    class RequestSelected(Message):
        """The user asked to follow the request id on the selected line."""

        def __init__(self, request_id: str) -> None:
            super().__init__()
            self.request_id = request_id

    def __init__(
        self,
        hub: LogHub,
        *,
        service_order: list[str] | None = None,
        clock: Callable[[], float] = wall,
        show_cursor: bool = True,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.hub = hub
        self.filter = LogFilter()
        self.search: re.Pattern[str] | None = None
        self.search_text = ""
        self.service_order = service_order or []
        self.show_cursor = show_cursor
        self._clock = clock
        self._rows: list[int] = []
        self._head = 0
        """Rows before ``_head`` were pruned (their lines left the hub); compacted lazily."""
        self._visual: list[tuple[int, int]] | None = None
        """With wrap on: (line seq, first cell) per screen row."""
        self._seen = hub.all.start
        self._waiting = False
        """Asked the hub to say when the next line arrives (see :meth:`_line_arrived`)."""
        self._unseen = 0
        self._width = 0
        self._strips: OrderedDict[int, Strip] = OrderedDict()
        self._rows_drawn: OrderedDict[int, Strip] = OrderedDict()
        """Finished rows of the common case (see :meth:`_row_strip`) by line, for
        :attr:`_rows_key`: a frame that scrolls redraws every visible row, and all but the
        new ones were built for the frame before."""
        self._rows_key: tuple[int, Style] | None = None
        self._stats: tuple[int, int, int] = (-1, -1, -1)
        self._stats_held = False
        self._stats_at = 0.0
        self._busy = False
        self._drawn_at = 0.0
        self._name_width = max((len(s) for s in self.service_order), default=8)
        self._prefix_width = 12 + self._name_width
        """Cells before a line's text: "HH:MM:SS ", the level mark, the service name and a space."""
        self._frame: tuple[Style, int] | None = None
        self._stamp: tuple[int, str] = (-1, "")
        self._names: dict[str, Segment] = {}
        """The service-name segment of each service (its colour depends only on the name)."""
        self._styles: dict[str, Style] = {}
        self._styles_for: object = None

    # ------------------------------------------------------------------ data

    @property
    def line_count(self) -> int:
        return len(self._rows) - self._head

    @property
    def row_count(self) -> int:
        return len(self._visual) if self._visual is not None else self.line_count

    def _row_line(self, row: int) -> tuple[LogLine, int] | None:
        """The line drawn on ``row`` and the first cell of it shown there."""
        if not 0 <= row < self.row_count:
            return None
        if self._visual is not None:
            seq, offset = self._visual[row]
        else:
            seq, offset = self._rows[self._head + row], 0
        try:
            return self.hub.all[seq], offset
        except IndexError:
            return None

    def line_at(self, row: int) -> LogLine | None:
        found = self._row_line(row)
        return found[0] if found else None

    @property
    def selected_line(self) -> LogLine | None:
        return self.line_at(self.cursor)

    def visible_lines(self) -> list[LogLine]:
        """Every line that passes the filter (what "save" writes), oldest first."""
        out = []
        for seq in self._rows[self._head :]:
            try:
                out.append(self.hub.all[seq])
            except IndexError:
                continue
        return out

    def set_filter(self, new: LogFilter) -> None:
        """Rebuild the index from everything the hub still holds."""
        self.filter = new
        now = self._clock()
        match = new.matches
        self._rows = [ln.seq for ln in self.hub.since(self.hub.all.start) if match(ln, now)]
        self._head = 0
        self._seen = self.hub.seq
        self._unseen = 0
        self._width = max((self._full_width(self.hub.all[s]) for s in self._rows[-500:]), default=0)
        self._forget_strips()
        self._rebuild_visual()
        self._resize()
        self._place_cursor_after_change()
        self.refresh()
        self._post_stats(now=True)

    def set_search(self, text: str) -> None:
        """Highlight matches of ``text`` (``re:`` for a regex) and jump to the nearest one."""
        self.search = compile_search(text)
        self.search_text = text
        self._forget_strips()
        self.refresh()
        if self.search is not None and not self._matches_row(self.cursor):
            self.action_next_match(-1 if self.follow else 1)

    def on_mount(self) -> None:
        self.set_class(self.follow, "-following")
        self.set_filter(self.filter)
        every(self, FRAME_SECONDS, self.pull)

    def pull(self) -> None:
        """Take the lines that arrived since the last frame (one batch, not one per line).

        Under a flood every visible row changes every frame, and each frame costs the
        whole panel in terminal bytes; so during a flood we draw at most twice a second,
        which keeps the newest line under a second old.
        """
        # Cheapest test first: this runs ten times a second, and asking the screen
        # anything walks the DOM.
        hub = self.hub
        if hub.seq == self._seen and self._head_valid():
            if self._stats_due():
                self._post_stats()  # a throttled count still due goes out on a quiet frame
            if not self._waiting:  # the next line, after this quiet spell, comes at once
                self._waiting = True
                hub.call_on_next_line(self._line_arrived)
            return
        if not self.screen.is_active:
            return  # hidden (another mode, or an overlay on top): catch up when shown
        since_drawn = time.monotonic() - self._drawn_at
        if self._busy and since_drawn < BUSY_FRAME_SECONDS:
            return
        if not self._busy and since_drawn < SCROLL_FRAME_SECONDS and self._scrolls():
            return  # a trickle: (a flood keeps its two frames a second, freshest first)
        records = hub.records_since(self._seen)
        self._seen = hub.seq
        flt = self.filter
        if flt.active:
            now = self._clock()
            records = [r for r in records if flt.matches(LogLine(*r), now)]
        added = [r[0] for r in records]
        widest = max((_text_width(r[4]) for r in records), default=0)
        self._width = max(self._width, min(self._prefix_width + widest, MAX_WIDTH))
        self._rows.extend(added)
        self._busy = len(added) > BUSY_FRAME_LINES
        self._drawn_at = time.monotonic()
        pruned = self._prune()
        if self._visual is not None:
            if pruned:
                self._rebuild_visual()
            else:
                self._extend_visual(added)
        if not self.follow:
            self._unseen += len(added)
            if pruned:
                self.cursor = max(0, self.cursor - pruned)
        if added or pruned:
            self._resize()
            if self.follow:
                self._place_cursor_after_change()
            self._refresh_rows()
        self._post_stats()

    def _line_arrived(self) -> None:
        """A line after a quiet spell: drawn now rather than at the next frame (an
        event's line on screen in tens of milliseconds, not up to a frame later)."""
        self._waiting = False
        if self.is_mounted:
            asyncio.get_running_loop().call_soon(self._pull_if_mounted)

    def _pull_if_mounted(self) -> None:
        if self.is_mounted:
            self.pull()

    def _scrolls(self) -> bool:
        """Whether new lines would move every visible row (rather than fill empty ones)."""
        # The size, not scrollable_content_region: that one asks the compositor for our
        # region (a walk of its map), and this runs ten times a second while paced.
        return not self.follow or self.row_count >= (self.size.height or 1)

    def _head_valid(self) -> bool:
        return self._head >= len(self._rows) or self._rows[self._head] >= self.hub.all.start

    def _prune(self) -> int:
        """Forget rows whose lines left the hub; return how many screen rows went."""
        start = self.hub.all.start
        before = self.row_count
        if self._head < len(self._rows) and self._rows[self._head] < start:
            self._head = bisect.bisect_left(self._rows, start, self._head)
        if self._head > 4096 and self._head > len(self._rows) // 2:
            del self._rows[: self._head]
            self._head = 0
        if self._visual is not None:
            return 0 if before == self.line_count else 1
        return before - self.row_count if before > self.row_count else 0

    def _full_width(self, line: LogLine) -> int:
        return self._prefix_width + _text_width(line.text)

    # ------------------------------------------------------------------ wrap

    def _wrap_width(self) -> int:
        return max(20, self.scrollable_content_region.width or 80)

    def _chunks(self, seq: int) -> list[tuple[int, int]]:
        width = self._wrap_width()
        try:
            total = self._full_width(self.hub.all[seq])
        except IndexError:
            return []
        return [(seq, start) for start in range(0, max(total, 1), width)]

    def _rebuild_visual(self) -> None:
        if not self.wrap:
            self._visual = None
            return
        visual: list[tuple[int, int]] = []
        for seq in self._rows[self._head :]:
            visual.extend(self._chunks(seq))
        self._visual = visual

    def _extend_visual(self, seqs: list[int]) -> None:
        assert self._visual is not None
        for seq in seqs:
            self._visual.extend(self._chunks(seq))

    def watch_wrap(self, wrap: bool) -> None:
        line = self.selected_line
        self._rebuild_visual()
        self._resize()
        if line is not None:
            self.cursor = self._row_of_seq(line.seq)
        self._scroll_to_cursor()
        self.refresh()

    def on_resize(self) -> None:
        if self.wrap:
            self._rebuild_visual()
            self._resize()
            self.refresh()

    def _row_of_seq(self, seq: int) -> int:
        if self._visual is not None:
            index = bisect.bisect_left(self._visual, (seq, 0))
            return min(index, len(self._visual) - 1)
        return bisect.bisect_left(self._rows, seq, self._head) - self._head

    # ------------------------------------------------------------------ cursor and follow

    def _resize(self) -> None:
        """Set the scrollable size, avoiding a layout pass of the whole screen when we can.

        ``virtual_size`` is a layout reactive: assigning it re-lays-out and repaints every
        widget on the screen, which under a log flood happened five times a second. Only
        a scrollbar appearing or disappearing needs layout; otherwise we set the value
        quietly and move the scrollbars ourselves.
        """
        width = 0 if self.wrap else self._width
        new = Size(width, self.row_count)
        old = self.virtual_size
        if new == old:
            return
        region = self.scrollable_content_region
        needs_layout = (
            not self.is_mounted
            or (old.height > region.height) != (new.height > region.height)
            or (old.width > region.width) != (new.width > region.width)
        )
        if needs_layout:
            self.virtual_size = new
            return
        self.set_reactive(LogView.virtual_size, new)
        self._update_scrollbars(new)
        self._refresh_rows()

    def _update_scrollbars(self, virtual_size: Size) -> None:
        """Textual's ``_scroll_update``, without repainting scrollbars that did not change.

        Textual repaints both scrollbars whenever the scrollable size changes; with lines
        arriving, the height changes every frame and the horizontal scrollbar under the
        rows (94 cells, about 2 KB to draw) went out again each time, unchanged. A
        scrollbar's own reactives repaint it when what it shows moves.
        """
        self._refresh_scrollbars()
        width, height = self.container_size
        if self.show_vertical_scrollbar and self.styles.scrollbar_size_vertical:
            self.vertical_scrollbar.window_virtual_size = virtual_size.height
            self.vertical_scrollbar.window_size = height - self.scrollbar_size_horizontal
        if self.show_horizontal_scrollbar and self.styles.scrollbar_size_horizontal:
            self.horizontal_scrollbar.window_virtual_size = virtual_size.width
            self.horizontal_scrollbar.window_size = width - self.scrollbar_size_vertical
        self.scroll_x = self.validate_scroll_x(self.scroll_x)
        self.scroll_y = self.validate_scroll_y(self.scroll_y)

    def _refresh_rows(self) -> None:
        """Repaint the rows, not the scrollbars around them (see ``_update_scrollbars``)."""
        width = self.size.width - self.scrollbar_size_vertical
        height = self.size.height - self.scrollbar_size_horizontal
        self.refresh(Region(0, 0, max(width, 0), max(height, 0)))

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        """As ScrollView's, but a scroll repaints the rows only (the scrollbar's position
        repaints the scrollbar), and a hidden scrollbar is left alone: while following it
        has no width, and repainting a widget the compositor does not show made it
        rebuild its whole map (every widget on the screen) on each frame that scrolled.
        ``watch_follow`` sets the position when the scrollbar shows again."""
        if self.show_vertical_scrollbar and self.scrollbar_size_vertical:
            self.vertical_scrollbar.position = new_value
        if round(old_value) != round(new_value):
            self._refresh_rows()

    def _place_cursor_after_change(self) -> None:
        if self.follow:
            self.cursor = self.row_count - 1
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        else:
            self.cursor = min(max(self.cursor, 0), self.row_count - 1)

    def watch_cursor(self, old: int, new: int) -> None:
        self._scroll_to_cursor()
        self._refresh_row(old)
        self._refresh_row(new)

    def _refresh_row(self, row: int) -> None:
        y = row - self.scroll_offset.y
        if 0 <= y < self.size.height:
            self.refresh(Region(0, y, self.size.width, 1))

    def _scroll_to_cursor(self) -> None:
        if self.cursor < 0:
            return
        top = self.scroll_offset.y
        height = self.scrollable_content_region.height or 1
        if self.cursor < top:
            self.scroll_to(y=self.cursor, animate=False, immediate=True)
        elif self.cursor >= top + height:
            self.scroll_to(y=self.cursor - height + 1, animate=False, immediate=True)

    def _stats_due(self) -> bool:
        """A count held back by the throttle is still to go out (counts only move when
        lines arrive, so a quiet frame has nothing else to tell)."""
        return self._stats_held

    def _post_stats(self, now: bool = False) -> None:
        """Counts for the panel title, at most once a second (they change every frame)."""
        stats = (self.line_count, self._unseen, self.hub.dropped())
        self._stats_held = False
        if stats == self._stats:
            return
        moment = time.monotonic()
        if not now and moment - self._stats_at < (STATS_SECONDS if self.follow else 1.0):
            self._stats_held = True
            return
        self._stats_at = moment
        self._stats = stats
        self.post_message(self.Stats(self, *stats))

    def watch_follow(self, follow: bool) -> None:
        self.set_class(follow, "-following")
        if not follow and self.show_vertical_scrollbar:
            self.vertical_scrollbar.position = self.scroll_y  # not kept while hidden
        if follow:
            self._unseen = 0
            self._place_cursor_after_change()
        self._post_stats(now=True)

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow

    def action_cursor(self, delta: int) -> None:
        target = min(max(self.cursor + delta, 0), self.row_count - 1)
        if delta < 0 or target < self.row_count - 1:
            self.follow = False
        self.cursor = target
        if target == self.row_count - 1 and delta > 0:
            self.follow = True

    def action_cursor_page(self, direction: int) -> None:
        self.action_cursor(direction * max(1, self.scrollable_content_region.height - 1))

    def action_first(self) -> None:
        self.follow = False
        self.cursor = 0

    def action_last(self) -> None:
        self.follow = True

    def on_mouse_scroll_up(self) -> None:
        self.follow = False

    def on_click(self, event: object) -> None:
        y = getattr(event, "y", None)
        if isinstance(y, int):
            self.follow = False
            self.cursor = min(self.scroll_offset.y + y, self.row_count - 1)

    # ------------------------------------------------------------------ search

    def _matches_row(self, row: int) -> bool:
        line = self.line_at(row)
        return bool(line and self.search and self.search.search(line.text))

    def action_next_match(self, direction: int) -> None:
        if self.search is None:
            return
        row = self.cursor
        last = self.row_count - 1
        for _ in range(self.row_count):
            row += direction
            if row < 0 or row > last:
                self.app.bell()
                return
            line = self.line_at(row)
            if line is not None and self.search.search(line.text):
                previous = self.line_at(row - 1) if self._visual is not None else None
                if previous is not None and previous.seq == line.seq:
                    continue  # same wrapped line: land on its first row only
                self.follow = False
                self.cursor = row
                return

    def action_follow_request(self) -> None:
        line = self.selected_line
        if line is None:
            return
        if not line.rid:
            self.notify("this line carries no request id", severity="warning", timeout=3)
            return
        self.post_message(self.RequestSelected(line.rid))

    def go_to(self, *, seq: int | None = None, at: float | None = None) -> bool:
        """Stop following and put the cursor on line ``seq`` if it passes the filter, else
        on the line nearest in time to ``at``. False when neither applies (cursor stays)."""
        rows = self._rows[self._head :]
        if not rows:
            return False
        target: int | None = None
        if seq is not None:
            found = bisect.bisect_left(rows, seq)
            if found < len(rows) and rows[found] == seq:
                target = seq
        if target is None and at is not None:
            best = float("inf")
            for row_seq in rows:
                try:
                    gap = abs(self.hub.all[row_seq].ts - at)
                except IndexError:
                    continue
                if gap < best:
                    best, target = gap, row_seq
        if target is None:
            return False
        self.follow = False
        self.cursor = self._row_of_seq(target)
        return True

    def action_toggle_wrap(self) -> None:
        self.wrap = not self.wrap

    def save(self, path: Path) -> int:
        """Write the lines that pass the filter, as plain text; return how many."""
        lines = self.visible_lines()
        with path.open("w", encoding="utf-8") as out:
            for line in lines:
                stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(line.ts))
                out.write(f"{stamp} {line.service} {line.text}\n")
        return len(lines)

    # ------------------------------------------------------------------ render

    def _prefix(self, line: LogLine) -> tuple[list[Segment], Style | None]:
        """Time, level mark and service name as segments, and the style of the text."""
        styles = self._level_styles()
        second = int(line.ts)
        if second != self._stamp[0]:  # the rows of a frame mostly share their second
            self._stamp = (second, time.strftime("%H:%M:%S", time.localtime(line.ts)))
        stamp = self._stamp[1]
        text_style = styles.get(line.level)
        level_mark = {"error": "E ", "warn": "W "}.get(line.level)
        # A blank mark goes with the time: one segment fewer (its colour codes, about
        # 20 bytes) on most rows of every frame.
        if level_mark is None:
            head = [Segment(stamp + "   ", styles["time"])]
        else:
            head = [Segment(stamp + " ", styles["time"]), Segment(level_mark, text_style)]
        name = self._names.get(line.service)
        if name is None:
            name = self._names[line.service] = Segment(
                f"{line.service:<{self._name_width}} ",
                Style(color=service_colour(line.service, self.service_order), bold=True),
            )
        return [*head, name], text_style

    def _level_styles(self) -> dict[str, Style]:
        """The prefix's styles for the active theme, worked out once per theme (a new row
        of every frame needs them, and each is a theme lookup and a parse)."""
        variables = getattr(self.app, "theme_variables", None)
        if variables is not self._styles_for or not self._styles:
            app = self.app
            self._styles_for = variables
            self._styles = {
                "time": style(app, "log-time"),
                "error": style(app, "log-error", bold=True),
                "warn": style(app, "log-warn"),
                "debug": style(app, "log-debug"),
                "trace": style(app, "log-debug"),
            }
        return self._styles

    def _strip(self, line: LogLine) -> Strip:
        cached = self._strips.get(line.seq)
        if cached is not None:
            self._strips.move_to_end(line.seq)
            return cached
        segments, text_style = self._prefix(line)
        # The line's text is plain Segments: never parsed as markup. Its colours, if the
        # service wrote any, come as spans the gate kept (never as escape sequences).
        segments.extend(self._highlighted(line.text, text_style, self.hub.colours_of(line.seq)))
        strip = Strip(segments)
        self._strips[line.seq] = strip
        if len(self._strips) > STRIP_CACHE:
            self._strips.popitem(last=False)
        return strip

    def _forget_strips(self) -> None:
        """Search, filter or styles changed: every row is drawn anew."""
        self._strips.clear()
        self._rows_drawn.clear()

    def _row_strip_cached(self, line: LogLine, width: int, base: Style) -> Strip | None:
        """:meth:`_row_strip`, reusing the row drawn for an earlier frame."""
        if self._rows_key != (width, base):
            self._rows_drawn.clear()
            self._rows_key = (width, base)
        drawn = self._rows_drawn.get(line.seq)
        if drawn is None:
            drawn = self._row_strip(line, width, base)
            if drawn is None:
                return None
            self._rows_drawn[line.seq] = drawn
            if len(self._rows_drawn) > STRIP_CACHE:
                self._rows_drawn.popitem(last=False)
        return drawn

    def _row_strip(self, line: LogLine, width: int, base: Style) -> Strip | None:
        """The common case in one Strip: ASCII text, no search, no horizontal scroll.

        Cropping, padding and the background style are done while building the
        segments; the general path (:meth:`_strip`, then crop, pad and style) makes
        four Strips per row, and a flood redraws every row on each frame."""
        text = line.text
        if self.search is not None or not (text.isascii() and line.service.isascii()):
            return None
        if self.hub.colours and line.seq in self.hub.colours:
            return None  # coloured: the general path draws its spans
        segments, text_style = self._prefix(line)
        room = width - self._prefix_width
        if room < 0:
            return None
        shown = text[:room]
        out = [Segment(seg.text, base + seg.style if seg.style else base) for seg in segments]
        if text_style is None:
            # Text and padding in one segment: each segment costs its full colour codes
            # (about 20 bytes) on every row of every frame.
            out.append(Segment(shown.ljust(room), base))
        else:
            out.append(Segment(shown, base + text_style))
            if len(shown) < room:
                out.append(Segment(" " * (room - len(shown)), base))
        return Strip(out, width)

    def _highlighted(
        self, text: str, base: Style | None, colours: ColourSpans = ()
    ) -> list[Segment]:
        if colours:
            return self._coloured(text, base, colours)
        if self.search is None:
            return [Segment(text, base)]
        out: list[Segment] = []
        last = 0
        mark = Style(reverse=True, bold=True, color=rich_colour(colour(self.app, "accent")))
        for m in self.search.finditer(text):
            if m.start() == m.end():
                continue
            if m.start() > last:
                out.append(Segment(text[last : m.start()], base))
            out.append(Segment(text[m.start() : m.end()], mark))
            last = m.end()
        if last < len(text):
            out.append(Segment(text[last:], base))
        return out

    def _coloured(self, text: str, base: Style | None, colours: ColourSpans) -> list[Segment]:
        """The line in the colours its service wrote, search matches marked over them."""
        marks: list[tuple[int, int]] = []
        if self.search is not None:
            marks = [
                (m.start(), m.end()) for m in self.search.finditer(text) if m.end() > m.start()
            ]
        cuts = {0, len(text)}
        for start, end, _ in colours:
            cuts.update((start, end))
        for start, end in marks:
            cuts.update((start, end))
        edges = sorted(c for c in cuts if 0 <= c <= len(text))
        mark = Style(reverse=True, bold=True, color=rich_colour(colour(self.app, "accent")))
        out: list[Segment] = []
        span_i = mark_i = 0
        for a, b in pairwise(edges):
            while span_i < len(colours) and colours[span_i][1] <= a:
                span_i += 1
            while mark_i < len(marks) and marks[mark_i][1] <= a:
                mark_i += 1
            piece_style = base
            if span_i < len(colours) and colours[span_i][0] <= a:
                coloured = colour_style(colours[span_i][2])
                piece_style = coloured if piece_style is None else piece_style + coloured
            if mark_i < len(marks) and marks[mark_i][0] <= a:
                piece_style = mark if piece_style is None else piece_style + mark
            out.append(Segment(text[a:b], piece_style))
        return out

    def render_lines(self, crop: Region) -> list[Strip]:
        # Looked up once per frame rather than once per row: both walk the DOM.
        self._frame = (self.rich_style, self.scrollable_content_region.width)
        try:
            rows = plain_rows(self, crop, self.render_line)
            return super().render_lines(crop) if rows is None else rows
        finally:
            self._frame = None

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        found = self._row_line(row)
        base, width = self._frame or (self.rich_style, self.scrollable_content_region.width)
        if found is None:
            return Strip.blank(width, base)
        line, offset = found
        is_cursor = self.show_cursor and row == self.cursor and (self.has_focus or not self.follow)
        if self._visual is None and scroll_x == 0 and not is_cursor:
            fast = self._row_strip_cached(line, width, base)
            if fast is not None:
                return fast
        full = self._strip(line)
        if self._visual is not None:
            strip = full.crop(offset, offset + width)
        else:
            strip = full.crop(scroll_x, scroll_x + width)
        strip = strip.extend_cell_length(width)
        if is_cursor:
            strip = strip.apply_style(
                Style(bgcolor=rich_colour(colour(self.app, "panel")), bold=True)
            )
        return strip.apply_style(base)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._forget_strips()


@lru_cache(maxsize=512)
def colour_style(spec: str) -> Style:
    """A kept colour span's style (``"bold color(1) on #202020"``), parsed once."""
    return Style.parse(spec)
