"""Questions asked of traces: pure functions over the store, shared by every front end.

The traces view, the waterfall, ``stagedeck traces``, the run report and the
triage ranking all ask the same few things — which traces match, how one
trace's spans nest, which spans were on the critical path, which span failed
first and which took the time, which service got slower — so those answers
are computed here, once, with no UI in sight.

Triage seam (for ``stagedeck.triage``): :func:`blame` answers "on this
failed request, which service errored deepest and which took the time",
:func:`traces_for_window` / :func:`traces_for_test` find the requests, and
:func:`latency_shift` compares each service's span latency in a window
with a baseline window, which is evidence even while the service's health is
green.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from stagedeck.traces.model import TEST_ATTRIBUTE, Span
from stagedeck.traces.store import Trace, TraceStore

TRACE_ID = re.compile(r"\b([0-9a-f]{32})\b")
_TOLERANCE = 0.0005
"""Seconds of clock jitter between services tolerated when fitting children in a parent."""


def duration_text(seconds: float) -> str:
    """A duration in at most 7 cells, for every front end: ``0.4ms``, ``312ms``, ``4.21s``."""
    value = seconds * 1000
    if value < 10:
        return f"{value:.1f}ms"
    if value < 1000:
        return f"{value:.0f}ms"
    if value < 10_000:
        return f"{value / 1000:.2f}s"
    return f"{value / 1000:.0f}s"


# --------------------------------------------------------------------------- summaries


@dataclass(frozen=True)
class TraceSummary:
    """One line of the traces list."""

    trace_id: str
    root_name: str
    root_service: str
    start: float
    duration: float
    error: bool
    services: tuple[str, ...]
    span_count: int
    test: str

    def to_json(self) -> dict[str, object]:
        return {
            "trace_id": self.trace_id,
            "root": self.root_name,
            "root_service": self.root_service,
            "start": round(self.start, 6),
            "duration_ms": round(self.duration * 1000, 3),
            "error": self.error,
            "services": list(self.services),
            "spans": self.span_count,
            "test": self.test or None,
        }


def roots(trace: Trace) -> list[Span]:
    """Spans whose parent is not in the trace, earliest first.

    A test that sends a ``traceparent`` without sending its own span makes
    every request of the test a root of the same trace.
    """
    ids = trace.span_ids
    return sorted(
        (s for s in trace.spans if not s.parent_id or s.parent_id not in ids),
        key=lambda s: (s.start, -s.end),
    )


def test_of(trace: Trace) -> str:
    for span in trace.spans:
        if span.attributes:
            test = span.attribute(TEST_ATTRIBUTE)
            if test:
                return test
    return ""


_summary_cache: dict[str, tuple[int, TraceSummary]] = {}


def summarize(trace: Trace) -> TraceSummary:
    cached = _summary_cache.get(trace.trace_id)
    if cached is not None and cached[0] == trace.version:
        return cached[1]
    top = roots(trace)
    root = top[0] if top else None
    name = root.name if root else "(no spans)"
    if len(top) > 1:
        name = f"{name} (+{len(top) - 1} more)"
    summary = TraceSummary(
        trace_id=trace.trace_id,
        root_name=name,
        root_service=root.service if root else "",
        start=trace.start if trace.spans else 0.0,
        duration=trace.duration,
        error=trace.error,
        services=tuple(trace.services()),
        span_count=len(trace.spans),
        test=test_of(trace),
    )
    if len(_summary_cache) > 20_000:
        _summary_cache.clear()
    _summary_cache[trace.trace_id] = (trace.version, summary)
    return summary


@dataclass(frozen=True)
class TraceFilter:
    """What the traces list shows; empty fields match everything."""

    service: str = ""
    errors_only: bool = False
    min_duration: float = 0.0
    """Seconds."""
    test: str = ""
    """A test id, or a part of one."""

    def matches(self, summary: TraceSummary) -> bool:
        if self.errors_only and not summary.error:
            return False
        if self.min_duration and summary.duration < self.min_duration:
            return False
        if self.service and self.service not in summary.services:
            return False
        return not self.test or self.test in summary.test

    def describe(self) -> str:
        parts = []
        if self.service:
            parts.append(f"service:{self.service}")
        if self.errors_only:
            parts.append("errors")
        if self.min_duration:
            parts.append(f"min:{self.min_duration * 1000:g}ms")
        if self.test:
            parts.append(f"test:{self.test}")
        return " ".join(parts)


class FilterError(ValueError):
    pass


def parse_filter(text: str, services: Sequence[str] = ()) -> TraceFilter:
    """``service:orders errors min:200ms test:checkout`` -> a filter (words in any order)."""
    service = test = ""
    errors = False
    minimum = 0.0
    for word in text.split():
        key, _, value = word.partition(":")
        if word in ("errors", "error", "err"):
            errors = True
        elif key in ("service", "svc") and value:
            if services and value not in services:
                close = [s for s in services if s.startswith(value)]
                if len(close) != 1:
                    raise FilterError(f"unknown service '{value}': " + ", ".join(services))
                value = close[0]
            service = value
        elif key in ("min", "slower") and value:
            minimum = parse_duration(value)
        elif key == "test" and value:
            test = value
        else:
            raise FilterError(f"cannot read '{word}': use service:NAME, errors, min:200ms, test:ID")
    return TraceFilter(service, errors, minimum, test)


def parse_duration(text: str) -> float:
    """``250ms``, ``1.5s``, ``250`` (milliseconds) -> seconds."""
    m = re.fullmatch(r"(\d+(?:\.\d+)?)(ms|s)?", text.strip())
    if not m:
        raise FilterError(f"not a duration: '{text}' (like 250ms or 1.5s)")
    value = float(m.group(1))
    return value if m.group(2) == "s" else value / 1000


def list_traces(
    store: TraceStore, flt: TraceFilter | None = None, limit: int = 500
) -> list[TraceSummary]:
    """Matching traces, the most recently started first."""
    flt = flt or TraceFilter()
    out = [s for t in store if (s := summarize(t)).span_count and flt.matches(s)]
    out.sort(key=lambda s: s.start, reverse=True)
    return out[:limit]


# --------------------------------------------------------------------------- one trace


@dataclass(frozen=True)
class Row:
    """One line of a waterfall."""

    span: Span
    depth: int
    critical: bool
    """On the critical path: the chain of spans that determined the trace's duration."""
    self_time: float
    """Seconds of this span not covered by its children."""
    error_origin: bool
    """The deepest span that errored: where the failure started."""


def children_of(trace: Trace) -> dict[str, list[Span]]:
    kids: dict[str, list[Span]] = {}
    for s in trace.spans:
        if s.parent_id and s.parent_id in trace.span_ids:
            kids.setdefault(s.parent_id, []).append(s)
    for group in kids.values():
        group.sort(key=lambda s: s.start)
    return kids


def critical_path(trace: Trace) -> list[Span]:
    """The spans that set the trace's duration, outermost first.

    From the root that ends last, repeatedly take the child that finished
    last before the time we are at, then the child that finished before that
    one started (siblings run in sequence or overlap; only the last finisher
    at each point held the parent up). The classic Jaeger algorithm.
    """
    kids = children_of(trace)
    top = roots(trace)
    if not top:
        return []
    root = max(top, key=lambda s: s.end)
    path: list[Span] = []
    stack = [root]  # iterative: a hostile trace may nest thousands deep
    seen: set[str] = set()
    while stack:
        span = stack.pop()
        if span.span_id in seen:
            continue
        seen.add(span.span_id)
        path.append(span)
        until = span.end
        picked = []
        for child in sorted(kids.get(span.span_id, ()), key=lambda s: s.end, reverse=True):
            if child.end <= until + _TOLERANCE and child.start >= span.start - _TOLERANCE:
                picked.append(child)
                until = child.start
        stack.extend(reversed(picked))
    return path


def self_times(trace: Trace) -> dict[str, float]:
    """Span id -> seconds not covered by any child (overlapping children merged)."""
    kids = children_of(trace)
    out: dict[str, float] = {}
    for span in trace.spans:
        covered = 0.0
        cursor = span.start
        for child in kids.get(span.span_id, ()):
            lo, hi = max(child.start, cursor), min(child.end, span.end)
            if hi > lo:
                covered += hi - lo
                cursor = hi
        out[span.span_id] = max(0.0, span.duration - covered)
    return out


def is_test_span(span: Span) -> bool:
    """A test's own span (the suites send one as the parent of its requests): not a service."""
    return bool(span.attributes) and bool(span.attribute(TEST_ATTRIBUTE)) and not span.parent_id


def error_origin(trace: Trace) -> Span | None:
    """The deepest errored span of a service (an errored span none of whose children errored).

    A test's own span is never the origin: it fails when anything under it does,
    and when nothing under it did, the test failed on an answer, not a service.
    """
    kids = children_of(trace)
    depth = _depths(trace, kids)
    errored = [s for s in trace.spans if s.error and not is_test_span(s)]
    if not errored:
        return None
    leaves = [s for s in errored if not any(c.error for c in kids.get(s.span_id, ()))]
    return max(leaves or errored, key=lambda s: (depth.get(s.span_id, 0), s.start))


def _depths(trace: Trace, kids: dict[str, list[Span]]) -> dict[str, int]:
    depth: dict[str, int] = {}
    stack = [(r, 0) for r in roots(trace)]
    while stack:
        span, d = stack.pop()
        if span.span_id in depth:
            continue  # a cycle in hostile parent ids: each span once
        depth[span.span_id] = d
        stack.extend((c, d + 1) for c in kids.get(span.span_id, ()))
    return depth


def waterfall(trace: Trace) -> list[Row]:
    """Spans in tree order (children under their parent, by start time)."""
    kids = children_of(trace)
    critical = {s.span_id for s in critical_path(trace)}
    own = self_times(trace)
    origin = error_origin(trace)
    rows: list[Row] = []
    seen: set[str] = set()
    stack = [(r, 0) for r in reversed(roots(trace))]
    while stack:
        span, depth = stack.pop()
        if span.span_id in seen:
            continue
        seen.add(span.span_id)
        rows.append(
            Row(
                span,
                depth,
                span.span_id in critical,
                own.get(span.span_id, 0.0),
                origin is not None and span.span_id == origin.span_id,
            )
        )
        stack.extend((c, depth + 1) for c in reversed(kids.get(span.span_id, ())))
    # Spans in a parent-id cycle are reachable from no root: show them flat at the end.
    rows.extend(
        Row(s, 0, False, own.get(s.span_id, 0.0), False)
        for s in trace.spans
        if s.span_id not in seen
    )
    return rows


# --------------------------------------------------------------------------- evidence


@dataclass(frozen=True)
class Blame:
    """What one trace says about its services (for triage and the report)."""

    trace_id: str
    error_service: str
    """Service of the deepest errored span ('' when nothing errored)."""
    error_span: str
    error_message: str
    slow_service: str
    """Service of the critical-path span with the most time of its own."""
    slow_span: str
    slow_self_time: float
    critical_services: tuple[str, ...] = field(default=())
    """Services on the critical path, outermost first (each once)."""

    def to_json(self) -> dict[str, object]:
        return {
            "trace_id": self.trace_id,
            "error_service": self.error_service or None,
            "error_span": self.error_span or None,
            "error_message": self.error_message or None,
            "slow_service": self.slow_service or None,
            "slow_span": self.slow_span or None,
            "slow_self_ms": round(self.slow_self_time * 1000, 3),
            "critical_services": list(self.critical_services),
        }


def blame(trace: Trace) -> Blame:
    origin = error_origin(trace)
    path = critical_path(trace)
    own = self_times(trace)
    # A test's own span "takes" the time the test spends between its requests: not a service.
    candidates = [s for s in path if not is_test_span(s)]
    slow = max(candidates, key=lambda s: own.get(s.span_id, 0.0)) if candidates else None
    return Blame(
        trace_id=trace.trace_id,
        error_service=origin.service if origin else "",
        error_span=origin.name if origin else "",
        error_message=origin.status_message if origin else "",
        slow_service=slow.service if slow else "",
        slow_span=slow.name if slow else "",
        slow_self_time=own.get(slow.span_id, 0.0) if slow else 0.0,
        critical_services=tuple(dict.fromkeys(s.service for s in path)),
    )


def traces_for_window(store: TraceStore, start: float, end: float) -> list[Trace]:
    """Traces that started in [start, end] (seconds since the epoch)."""
    return [t for t in store if t.spans and start <= t.start <= end]


def traces_for_test(
    store: TraceStore, test_id: str, window: tuple[float, float] | None = None
) -> list[Trace]:
    """A test's traces: those its spans name (``test.id``), else those in its time window.

    The demo suites tag their requests, so the first answer is exact; a suite
    that sends nothing still gets the requests made while it ran.
    """
    from stagedeck.suites.runner import nodeid_to_test_id

    tagged = store.for_test(test_id)
    if not tagged:
        # Suites tag spans with pytest's node id; results carry JUnit's form of it.
        tagged = [
            t
            for tid in store.tests()
            if nodeid_to_test_id(tid) == test_id
            for t in store.for_test(tid)
        ]
    if tagged or window is None:
        return sorted(tagged, key=lambda t: t.start)
    return traces_for_window(store, *window)


def find_trace(store: TraceStore, text: str) -> Trace | None:
    """A trace named by ``text``: its id, a trace id inside it, or a request id its spans carry."""
    text = text.strip().lower()
    if not text:
        return None
    found = store.get(text)
    if found is not None:
        return found
    m = TRACE_ID.search(text)
    if m and (found := store.get(m.group(1))) is not None:
        return found
    for trace in store.newest():
        if any(s.attributes and s.request_id.lower() == text for s in trace.spans):
            return trace
    return None


@dataclass(frozen=True)
class LatencyShift:
    service: str
    baseline_ms: float
    recent_ms: float
    samples: int

    @property
    def ratio(self) -> float:
        return self.recent_ms / self.baseline_ms if self.baseline_ms > 0 else float("inf")


def server_latencies(traces: Iterable[Trace]) -> dict[str, list[float]]:
    """Service -> durations (s) of the spans it served (server spans, else its roots)."""
    out: dict[str, list[float]] = {}
    for trace in traces:
        for s in trace.spans:
            if s.kind == "server":
                out.setdefault(s.service, []).append(s.duration)
    return out


def _median(values: list[float]) -> float:
    """(statistics.median: its import costs 20 ms of start-up, for one line.)"""
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def latency_shift(
    store: TraceStore,
    window: tuple[float, float],
    baseline: tuple[float, float],
    *,
    min_samples: int = 3,
    min_ratio: float = 1.5,
) -> list[LatencyShift]:
    """Services whose median server-span latency in ``window`` is ``min_ratio`` x the baseline.

    Largest shift first. A service's health can stay green while every call to
    it takes four times as long; this is the evidence for that.
    """
    recent = server_latencies(traces_for_window(store, *window))
    before = server_latencies(traces_for_window(store, *baseline))
    out = []
    for service, durations in recent.items():
        base = before.get(service, [])
        if len(durations) < min_samples or len(base) < min_samples:
            continue
        shift = LatencyShift(
            service,
            _median(base) * 1000,
            _median(durations) * 1000,
            len(durations),
        )
        if shift.ratio >= min_ratio:
            out.append(shift)
    return sorted(out, key=lambda s: s.ratio, reverse=True)
