"""The log view: an index of line numbers, rendered one visible row at a time.

Modelled on toolong: the widget keeps only the sequence numbers of the lines
that pass its filter, reads new lines from the :class:`LogHub` on a frame
timer (so a flood costs one batch per frame), and renders only the rows on
screen through the Line API, caching the rendered strips.
"""

from __future__ import annotations

import bisect
import re
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field

from rich.segment import Segment
from rich.style import Style
from textual.binding import Binding
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from stagedeck.logs import LEVEL_RANK, LogHub, LogLine
from stagedeck.tui.palette import service_colour, style

FRAME_SECONDS = 0.2
"""New lines reach the screen at most five times a second."""
STRIP_CACHE = 2000


@dataclass
class LogFilter:
    """What the view shows. Empty fields mean "no restriction"."""

    services: frozenset[str] = frozenset()
    min_level: str = ""
    text: str = ""
    regex: bool = False
    request_id: str = ""
    since: float = 0.0
    _pattern: re.Pattern[str] | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.text:
            self._pattern = re.compile(
                self.text if self.regex else re.escape(self.text), re.IGNORECASE
            )

    @property
    def active(self) -> bool:
        return bool(self.services or self.min_level or self.text or self.request_id or self.since)

    def matches(self, line: LogLine) -> bool:
        if self.services and line.service not in self.services:
            return False
        if self.min_level and LEVEL_RANK.get(line.level or "info", 2) < LEVEL_RANK[self.min_level]:
            return False
        if self.request_id and line.rid != self.request_id:
            return False
        if self.since and line.ts < self.since:
            return False
        return not (self._pattern is not None and self._pattern.search(line.text) is None)


class LogView(ScrollView, can_focus=True):
    """Interleaved (or filtered) log of every service, following the newest line by default."""

    DEFAULT_CSS = """
    LogView { background: $surface; }
    """

    BINDINGS = [
        Binding("f", "toggle_follow", "Follow/pause", id="logs.follow"),
        Binding("j", "scroll_down", "Down", show=False, id="logs.down"),
        Binding("k", "scroll_up", "Up", show=False, id="logs.up"),
        Binding("g", "scroll_home", "Top", show=False, id="logs.top"),
        Binding("G", "scroll_end", "Bottom", show=False, id="logs.bottom"),
    ]

    follow: reactive[bool] = reactive(True)
    """Keep the newest line in view; scrolling up pauses, ``G`` or ``f`` resumes."""

    class Stats(Message):
        """Counts for the panel title: shown, new while paused, dropped."""

        def __init__(self, shown: int, unseen: int, dropped: int) -> None:
            super().__init__()
            self.shown = shown
            self.unseen = unseen
            self.dropped = dropped

    def __init__(
        self,
        hub: LogHub,
        *,
        service_order: list[str] | None = None,
        clock: Callable[[], float] = time.time,
        **kwargs: object,
    ) -> None:
        super().__init__(**kwargs)  # type: ignore[arg-type]
        self.hub = hub
        self.filter = LogFilter()
        self.service_order = service_order or []
        self._clock = clock
        self._rows: list[int] = []
        self._head = 0
        """Rows before ``_head`` were pruned (their lines left the hub); compacted lazily."""
        self._seen = hub.all.start
        self._unseen = 0
        self._width = 0
        self._strips: OrderedDict[int, Strip] = OrderedDict()
        self._stats: tuple[int, int, int] = (-1, -1, -1)

    # ------------------------------------------------------------------ data

    @property
    def row_count(self) -> int:
        return len(self._rows) - self._head

    def line_at(self, row: int) -> LogLine | None:
        index = self._head + row
        if not 0 <= row < self.row_count:
            return None
        try:
            return self.hub.all[self._rows[index]]
        except IndexError:
            return None

    def set_filter(self, new: LogFilter) -> None:
        """Rebuild the index from everything the hub still holds."""
        self.filter = new
        self._rows = [ln.seq for ln in self.hub.since(self.hub.all.start) if new.matches(ln)]
        self._head = 0
        self._seen = self.hub.seq
        self._unseen = 0
        self._width = max(
            (len(self._prefix_text(self.hub.all[s])) for s in self._rows[-200:]), default=0
        )
        self._strips.clear()
        self._resize()
        if self.follow:
            self.scroll_end(animate=False, immediate=True)
        self.refresh()

    def on_mount(self) -> None:
        self.set_filter(self.filter)
        self.set_interval(FRAME_SECONDS, self.pull)

    def pull(self) -> None:
        """Take the lines that arrived since the last frame (one batch, not one per line)."""
        hub = self.hub
        if hub.seq == self._seen and self._head_valid():
            return
        new = hub.since(self._seen)
        self._seen = hub.seq
        match = self.filter.matches if self.filter.active else None
        added = 0
        for line in new:
            if match is None or match(line):
                self._rows.append(line.seq)
                added += 1
                width = len(line.text) + 24
                if width > self._width:
                    self._width = min(width, 2000)
        self._prune()
        if not self.follow:
            self._unseen += added
        if added or not self._head_valid():
            self._resize()
            if self.follow:
                self.scroll_end(animate=False, immediate=True)
            self.refresh()
        self._post_stats()

    def _head_valid(self) -> bool:
        return self._head >= len(self._rows) or self._rows[self._head] >= self.hub.all.start

    def _prune(self) -> None:
        start = self.hub.all.start
        if self._head < len(self._rows) and self._rows[self._head] < start:
            self._head = bisect.bisect_left(self._rows, start, self._head)
        if self._head > 4096 and self._head > len(self._rows) // 2:
            del self._rows[: self._head]
            self._head = 0

    def _resize(self) -> None:
        self.virtual_size = Size(self._width, self.row_count)

    def _post_stats(self) -> None:
        stats = (self.row_count, self._unseen, self.hub.dropped())
        if stats != self._stats:
            self._stats = stats
            self.post_message(self.Stats(*stats))

    # ------------------------------------------------------------------ follow

    def watch_follow(self, follow: bool) -> None:
        if follow:
            self._unseen = 0
            self.scroll_end(animate=False, immediate=True)
        self._post_stats()

    def action_toggle_follow(self) -> None:
        self.follow = not self.follow

    def action_scroll_end(self) -> None:
        self.follow = True

    def action_scroll_up(self) -> None:
        self.follow = False
        super().action_scroll_up()

    def action_scroll_home(self) -> None:
        self.follow = False
        super().action_scroll_home()

    def action_page_up(self) -> None:
        self.follow = False
        super().action_page_up()

    def on_mouse_scroll_up(self) -> None:
        self.follow = False

    # ------------------------------------------------------------------ render

    def _prefix_text(self, line: LogLine) -> str:
        width = max((len(s) for s in self.service_order), default=8)
        stamp = time.strftime("%H:%M:%S", time.localtime(line.ts))
        return f"{stamp} {line.service:<{width}} "

    def _strip(self, line: LogLine) -> Strip:
        cached = self._strips.get(line.seq)
        if cached is not None:
            self._strips.move_to_end(line.seq)
            return cached
        app = self.app
        width = max((len(s) for s in self.service_order), default=8)
        stamp = time.strftime("%H:%M:%S", time.localtime(line.ts))
        text_style: Style | None = None
        if line.level == "error":
            text_style = style(app, "log-error", bold=True)
        elif line.level == "warn":
            text_style = style(app, "log-warn")
        elif line.level == "debug" or line.level == "trace":
            text_style = style(app, "log-debug")
        segments = [
            Segment(stamp + " ", style(app, "log-time")),
            Segment(
                f"{line.service:<{width}} ",
                Style(color=service_colour(line.service, self.service_order), bold=True),
            ),
            # The line's text is a plain Segment: never parsed as markup.
            Segment(line.text, text_style),
        ]
        strip = Strip(segments)
        self._strips[line.seq] = strip
        if len(self._strips) > STRIP_CACHE:
            self._strips.popitem(last=False)
        return strip

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        line = self.line_at(scroll_y + y)
        width = self.scrollable_content_region.width
        base = self.rich_style
        if line is None:
            return Strip.blank(width, base)
        strip = self._strip(line).crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width).apply_style(base)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._strips.clear()
