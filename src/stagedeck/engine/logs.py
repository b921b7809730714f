"""LogHub: every service's output in bounded buffers, safe to display.

Three decisions shape this module:

* **Bounded, counted.** Each service has a ring of its own and all lines are
  also in one interleaved ring. When a ring is full the oldest line goes and
  the drop is counted per service, so a view can say "12,034 dropped" rather
  than pretend it has everything.
* **Sanitised once, at ingest.** Service output is data. Escape sequences and
  control characters are stripped here so that no later path (screen, saved
  file, report) can let a log line move the user's cursor or set the
  clipboard. Views must still render ``text`` as plain text, never as markup.
* **Pulled, not pushed.** Lines carry a global sequence number. A view
  remembers the last number it drew and reads the rest when its frame timer
  fires, so the cost of a flood is one batch per frame, not one event per line.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Generic, TypeVar

from stagedeck.text import (
    UNSAFE,
    UNSAFE_EXCEPT_NEWLINE,
    ColourSpans,
    clean_keeping_colours,
    strip_line,
    valid_colour_spans,
)

T = TypeVar("T")

_LEVEL = re.compile(r"\b(fatal|critical|crit|error|err|warning|warn|info|debug|trace)\b")
"""Matched against the lowercased head of a line: cheaper than an ignore-case search."""
LEVELS = ("trace", "debug", "info", "warn", "error")
_LEVEL_NAMES = {
    "fatal": "error",
    "critical": "error",
    "crit": "error",
    "error": "error",
    "err": "error",
    "warning": "warn",
    "warn": "warn",
    "info": "info",
    "debug": "debug",
    "trace": "trace",
}
LEVEL_RANK = {name: i for i, name in enumerate(LEVELS)}
_REQUEST_ID = re.compile(
    # A W3C traceparent (header or log field): its trace id, the part shared across services.
    r"(?i)\btraceparent\"?\s*[=:]\s*\"?[0-9a-f]{2}-(?!0{32})([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}\b"
    # Request ids and the common trace-id fields: rid, request_id, X-Request-Id, trace_id,
    # traceId, trace.id (ECS), dd.trace_id (Datadog), X-B3-TraceId (Zipkin), otelTraceID
    # (OpenTelemetry log appenders), correlation_id / X-Correlation-Id.
    r"|\b(?:rid|request[_-]?id|req[_-]?id|trace[_.-]?id|x-request-id|otel[_.]?trace[_.]?id"
    r"|correlation[_-]?id|x-correlation-id)\"?\s*[=:]\s*\"?([A-Za-z0-9][A-Za-z0-9_.\-]{3,63})"
)


_LEADING_TIME = re.compile(
    r"^\[?(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?(Z|[+-]\d{2}:?\d{2})?\]?\s+"
)


def split_timestamp(text: str) -> tuple[float | None, str]:
    """Lift a leading ISO-8601 timestamp off a line: (epoch seconds, rest).

    Services and ``docker logs --timestamps`` both start lines with one; keeping
    it in the text would show every line's time twice. No zone means local time.
    """
    m = _LEADING_TIME.match(text)
    if m is None:
        return None, text
    date, clock, fraction, zone = m.groups()
    try:
        if zone in (None, ""):
            base = time.mktime(time.strptime(f"{date} {clock}", "%Y-%m-%d %H:%M:%S"))
        else:
            offset = 0 if zone == "Z" else _zone_seconds(zone)
            base = calendar.timegm(time.strptime(f"{date} {clock}", "%Y-%m-%d %H:%M:%S")) - offset
    except (ValueError, OverflowError):
        return None, text
    if fraction:
        base += float(fraction[:10])
    return base, text[m.end() :]


def _zone_seconds(zone: str) -> int:
    sign = -1 if zone[0] == "-" else 1
    digits = zone[1:].replace(":", "")
    return sign * (int(digits[:2]) * 3600 + int(digits[2:4]) * 60)


def _shift(spans: ColourSpans, by: int) -> ColourSpans:
    """Spans over a line after its first ``by`` characters were lifted off (a timestamp)."""
    out = []
    for start, end, style in spans:
        start, end = max(0, start - by), end - by
        if end > start:
            out.append((start, end, style))
    return tuple(out)


def sanitize(text: str) -> str:
    """Strip escape sequences, control and invisible characters; tabs become spaces.

    The gate is :func:`stagedeck.text.clean`; the check first keeps the common
    clean line (in a batch that has one bad line) free of the gate's copying."""
    if UNSAFE.search(text) is not None:
        return strip_line(text)
    return text.expandtabs(4) if "\t" in text else text


def detect_level(text: str) -> str:
    """The line's level from common formats (``ERROR``, ``level=warn``, JSON); '' if none.

    The first level word in the first 160 characters wins, so ``INFO retrying after
    error`` is info."""
    m = _LEVEL.search(text[:160].lower())
    if m:
        return _LEVEL_NAMES[m.group(1)]
    return ""


def detect_request_id(text: str) -> str:
    """The first request or trace id in ``text`` ('' if none): a traceparent gives its trace id."""
    m = _REQUEST_ID.search(text)
    if m is None:
        return ""
    return (m.group(1) or "").lower() or m.group(2)


class LogLine:
    """One line of output. ``text`` is already sanitised.

    The request id is found on first use: most lines are never asked for it, and
    looking for it at ingest was a quarter of a flood's cost."""

    __slots__ = ("_rid", "level", "seq", "service", "stream", "text", "ts")

    def __init__(
        self,
        seq: int,
        ts: float,
        service: str,
        stream: str,
        text: str,
        level: str,
        rid: str | None = None,
    ) -> None:
        self.seq = seq
        self.ts = ts
        self.service = service
        self.stream = stream
        self.text = text
        self.level = level
        self._rid = rid

    @property
    def rid(self) -> str:
        rid = self._rid
        if rid is None:
            rid = self._rid = detect_request_id(self.text)
        return rid

    def __repr__(self) -> str:
        return f"LogLine({self.seq}, {self.service!r}, {self.level!r}, {self.text!r})"


class Ring(Generic[T]):
    """A fixed-capacity buffer addressed by an ever-growing index: O(1) append and lookup."""

    __slots__ = ("_items", "capacity", "end")

    def __init__(self, capacity: int) -> None:
        self.capacity = max(1, capacity)
        self._items: list[T | None] = [None] * self.capacity
        self.end = 0
        """Index one past the newest item."""

    @property
    def start(self) -> int:
        """Index of the oldest item still held."""
        return max(0, self.end - self.capacity)

    def __len__(self) -> int:
        return self.end - self.start

    def append(self, item: T) -> bool:
        """Add ``item``; True when an old item had to be dropped to make room."""
        dropped = self.end >= self.capacity
        self._items[self.end % self.capacity] = item
        self.end += 1
        return dropped

    def __getitem__(self, index: int) -> T:
        if not self.start <= index < self.end:
            raise IndexError(index)
        item = self._items[index % self.capacity]
        assert item is not None
        return item

    def slice(self, start: int, stop: int) -> list[T]:
        start, stop = max(start, self.start), min(stop, self.end)
        if stop <= start:
            return []
        first, last = start % self.capacity, (stop - 1) % self.capacity
        items = self._items
        picked = items[first : last + 1] if first <= last else items[first:] + items[: last + 1]
        return picked  # type: ignore[return-value]  # every slot in range is filled

    def __iter__(self) -> Iterator[T]:
        for i in range(self.start, self.end):
            yield self[i]

    def tail(self, n: int) -> list[T]:
        return self.slice(self.end - n, self.end)


Record = tuple[int, float, str, str, str, str]
"""How a line is stored: (seq, ts, service, stream, text, level)."""


class LineRing:
    """A ring of log lines kept as plain tuples, handed out as :class:`LogLine`.

    Why tuples: a tuple of strings and numbers is one the garbage collector stops
    tracking, while every object with attributes is scanned on each full
    collection. With 80,000 lines held, a full collection took 150 ms, and it
    happened mid-flood, exactly when the user pressed a key.
    """

    __slots__ = ("_ring",)

    def __init__(self, capacity: int) -> None:
        self._ring: Ring[Record] = Ring(capacity)

    @property
    def capacity(self) -> int:
        return self._ring.capacity

    @property
    def start(self) -> int:
        return self._ring.start

    @property
    def end(self) -> int:
        return self._ring.end

    def __len__(self) -> int:
        return len(self._ring)

    def append(self, record: Record) -> bool:
        return self._ring.append(record)

    def __getitem__(self, index: int) -> LogLine:
        return LogLine(*self._ring[index])

    def slice(self, start: int, stop: int) -> list[LogLine]:
        return [LogLine(*record) for record in self._ring.slice(start, stop)]

    def records(self, start: int, stop: int) -> list[Record]:
        """The stored tuples themselves: for loops over many lines that need few fields."""
        return self._ring.slice(start, stop)

    def __iter__(self) -> Iterator[LogLine]:
        return iter(self.slice(self.start, self.end))

    def tail(self, n: int) -> list[LogLine]:
        return self.slice(self.end - n, self.end)


Masker = Callable[[str], str]

DEFAULT_MAX_RATE = 20_000
"""Lines a second one service may add before the rest are dropped (and counted)."""


class LogHub:
    """Fan-in of every service's output."""

    def __init__(
        self,
        per_service: int = 20_000,
        total: int | None = None,
        *,
        max_rate: int = DEFAULT_MAX_RATE,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_service = per_service
        self.max_rate = max_rate
        """Lines a second one service may add; more are dropped and counted (0: no limit)."""
        self._clock = clock
        self._budget: dict[str, tuple[float, float]] = {}
        """Per service: (tokens left, when they were counted) for the ingest ceiling."""
        self.all = LineRing(total or per_service * 4)
        """Every line in arrival order; ``LogLine.seq`` is its index here."""
        self._services: dict[str, LineRing] = {}
        self._dropped: dict[str, int] = {}
        self._received: dict[str, int] = {}
        self._errors: dict[str, int] = {}
        self._ceiling_hits: dict[str, int] = {}
        self.masks: list[Masker] = []
        """Applied to each line before it is stored (secret masking)."""
        self.colours: dict[int, ColourSpans] = {}
        """The colours services wrote (SGR only, as spans over the clean text), by line
        sequence number; only lines that had any, and only while ``all`` holds them."""
        self._on_next: list[Callable[[], None]] = []
        """Called once when the next line arrives (see :meth:`call_on_next_line`)."""

    @property
    def seq(self) -> int:
        """The sequence number the next line will get."""
        return self.all.end

    def services(self) -> list[str]:
        return list(self._services)

    def call_on_next_line(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` once, when the next line arrives (on the ingesting loop).

        A view that found nothing new asks this instead of waiting for its next
        frame: a line after a quiet spell is drawn at once, while a stream of lines
        still costs one frame per period (the view re-asks only when it goes quiet)."""
        if callback not in self._on_next:
            self._on_next.append(callback)

    def _arrived(self) -> None:
        waiting, self._on_next = self._on_next, []
        for callback in waiting:
            try:
                callback()
            except Exception:  # a view's bug must not lose the line for everyone
                import logging

                logging.getLogger("stagedeck").exception("new-line callback failed")

    def ring(self, service: str) -> LineRing:
        ring = self._services.get(service)
        if ring is None:
            ring = self._services[service] = LineRing(self.per_service)
            self._dropped[service] = 0
            self._received[service] = 0
            self._errors[service] = 0
        return ring

    def append(
        self, service: str, text: str, stream: str = "out", ts: float | None = None
    ) -> LogLine:
        return self._ingest(service, (text,), stream, ts)

    def extend(
        self, service: str, lines: Sequence[str], stream: str = "out", *, admitted: bool = False
    ) -> None:
        """Add a batch from one service, within its ingest ceiling.

        A service flooding faster than ``max_rate`` lines a second would otherwise
        have the cockpit parse every line and starve the keyboard. Over the ceiling
        the newest lines of each batch are kept (they are what a person reads) and
        the rest are dropped and counted, so the view says so instead of lagging.
        ``admitted`` means the caller already asked :meth:`admit` (before decoding).
        """
        if not admitted:
            keep = self.admit(service, len(lines))
            if keep < len(lines):
                lines = lines[len(lines) - keep :]
        if lines:
            self._ingest(service, lines, stream, time.time())

    def _ingest(self, service: str, texts: Sequence[str], stream: str, ts: float | None) -> LogLine:
        """Store a batch; return its last line. The per-line work here is what a log
        flood costs, so checks that are rarely true run once per batch where they can."""
        ring = self.ring(service)
        every = self.all
        masks = self.masks
        # One scan of the batch decides whether any line needs escape stripping
        # (the newline joining them is the only control character otherwise).
        unsafe = UNSAFE_EXCEPT_NEWLINE.search("\n".join(texts)) is not None
        dropped = errors = 0
        record: Record | None = None
        colours = self.colours
        for text in texts:
            text = text.rstrip("\r\n")
            spans: ColourSpans = ()
            if unsafe:
                if "\x1b[" in text:
                    text, spans = clean_keeping_colours(text)
                else:
                    text = sanitize(text)
            elif "\t" in text:
                text = text.expandtabs(4)
            for mask in masks:
                masked = mask(text)
                if masked != text:
                    text, spans = masked, ()  # a secret moved the offsets: plain is safe
            stamped = None
            if text[:1].isdigit() or text[:1] == "[":
                before = len(text)
                stamped, text = split_timestamp(text)
                if spans and stamped is not None:
                    spans = _shift(spans, before - len(text))
            if spans:
                colours[every.end] = spans
            level = detect_level(text)
            record = (
                every.end,
                stamped if stamped is not None else ts if ts is not None else time.time(),
                service,
                stream,
                text,
                level,
            )
            if level == "error":
                errors += 1
            if ring.append(record):
                dropped += 1
            every.append(record)
        self._received[service] += len(texts)
        self._errors[service] += errors
        self._dropped[service] += dropped
        if colours:
            self._forget_colours()
        if self._on_next:
            self._arrived()
        assert record is not None
        return LogLine(*record)

    def _forget_colours(self) -> None:
        """Drop the colours of lines the ring no longer holds (oldest first: dict order)."""
        colours, start = self.colours, self.all.start
        while colours:
            oldest = next(iter(colours))
            if oldest >= start:
                return
            del colours[oldest]

    def colours_of(self, seq: int) -> ColourSpans:
        """The colour spans of line ``seq`` (``()`` for most lines: plain)."""
        return self.colours.get(seq, ())

    def adopt(self, records: Sequence[Sequence[object]]) -> None:
        """Store lines another LogHub already ingested (masked, levelled):
        ``(ts, service, stream, text, level[, colours])``. An attached viewer mirrors the
        environment process's hub this way without parsing every line again."""
        every = self.all
        # The other hub sanitised them, but it is another process (maybe another
        # user's): one scan of the batch re-checks, as at ingest.
        unsafe = UNSAFE.search("".join(str(r[3]) for r in records)) is not None
        colours = self.colours
        for ts, service, stream, text, level, *more in records:
            text, service = str(text), str(service)
            if unsafe:
                cleaned, service = sanitize(text), sanitize(service)
                if cleaned != text:
                    more = []  # the offsets were about other text
                text = cleaned
            if more:  # colour spans, checked like everything else from there
                spans = valid_colour_spans(more[0], len(text))
                if spans:
                    colours[every.end] = spans
            ring = self._services.get(service) or self.ring(service)
            record = (every.end, float(ts), service, str(stream), text, str(level))  # type: ignore[arg-type]
            ring.append(record)
            every.append(record)
        if colours:
            self._forget_colours()
        if records and self._on_next:
            self._arrived()

    def set_counts(
        self, service: str, received: int, dropped: int, errors: int, over_ceiling: int
    ) -> None:
        """Take another hub's counters for ``service`` (a mirror shows the source's)."""
        self.ring(service)
        self._received[service] = received
        self._dropped[service] = dropped
        self._errors[service] = errors
        self._ceiling_hits[service] = over_ceiling

    def admit(self, service: str, count: int) -> int:
        """How many of ``count`` new lines ``service`` may add now; the rest are counted
        as dropped. Readers call this before decoding, so a flood costs a newline count."""
        keep = self._allowance(service, count)
        if keep < count:
            skipped = count - keep
            self.ring(service)
            self._dropped[service] += skipped
            self._received[service] += skipped
            self._ceiling_hits[service] = self._ceiling_hits.get(service, 0) + skipped
        return keep

    def _allowance(self, service: str, wanted: int) -> int:
        if not self.max_rate:
            return wanted
        now = self._clock()
        tokens, then = self._budget.get(service, (float(self.max_rate), now))
        tokens = min(float(self.max_rate), tokens + (now - then) * self.max_rate)
        keep = min(wanted, int(tokens))
        self._budget[service] = (tokens - keep, now)
        return keep

    def over_ceiling(self, service: str | None = None) -> int:
        """Lines dropped at ingest because a service wrote faster than ``max_rate``."""
        if service is not None:
            return self._ceiling_hits.get(service, 0)
        return sum(self._ceiling_hits.values())

    def dropped(self, service: str | None = None) -> int:
        """Lines no longer held for ``service`` (or for all) because buffers were full."""
        if service is not None:
            return self._dropped.get(service, 0)
        return sum(self._dropped.values())

    def errors(self, service: str) -> int:
        """How many error lines ``service`` has written (a cheap "anything new?" check)."""
        return self._errors.get(service, 0)

    def received(self, service: str | None = None) -> int:
        if service is not None:
            return self._received.get(service, 0)
        return sum(self._received.values())

    def since(self, seq: int) -> list[LogLine]:
        """Lines with a sequence number of at least ``seq`` still held in the interleaved ring."""
        return self.all.slice(seq, self.all.end)

    def records_since(self, seq: int) -> list[Record]:
        """As :meth:`since`, as stored tuples ``(seq, ts, service, stream, text, level)``."""
        return self.all.records(seq, self.all.end)

    def last(self, service: str, n: int = 10) -> list[LogLine]:
        return self.ring(service).tail(n) if service in self._services else []

    def window(
        self,
        start: float,
        end: float,
        *,
        min_level: str = "warn",
        limit_per_service: int = 50,
    ) -> dict[str, list[LogLine]]:
        """Lines at ``min_level`` or worse written in [start, end], bounded per service."""
        rank = LEVEL_RANK[min_level]
        out: dict[str, list[LogLine]] = {}
        for name, ring in self._services.items():
            picked: list[LogLine] = []
            for line in ring:
                if line.ts < start or line.ts > end:
                    continue
                if line.level and LEVEL_RANK[line.level] >= rank:
                    picked.append(line)
            if picked:
                out[name] = picked[-limit_per_service:]
        return out
