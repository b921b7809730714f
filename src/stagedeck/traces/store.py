"""A bounded in-memory store of recent traces.

Bounded twice: a cap on traces and a cap on spans in total. When either is
exceeded the oldest trace (by first arrival) goes as a whole, and what went is
counted, so a view can say "1,204 traces dropped" instead of pretending it
has everything. A trace is kept whole or not at all: half a waterfall would
mislead (a missing child makes its parent look like the span that took the
time). One trace alone may hold at most ``max_spans_per_trace`` spans; later
spans of it are counted as dropped.

Everything runs on the engine's event loop (the receiver ingests there), so
there is no lock. Views poll :attr:`TraceStore.version` on a timer and redraw
only when it moved.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from stagedeck.traces.model import TEST_ATTRIBUTE, Span

DEFAULT_MAX_TRACES = 2_000
DEFAULT_MAX_SPANS = 50_000


@dataclass(slots=True)
class Trace:
    """The spans of one trace that have arrived so far (in arrival order)."""

    trace_id: str
    spans: list[Span] = field(default_factory=list)
    span_ids: set[str] = field(default_factory=set)
    arrived: float = 0.0
    """When the first span of it arrived (wall clock): the eviction order."""
    updated: float = 0.0
    start: float = float("inf")
    end: float = 0.0
    version: int = 0
    """Bumped when spans are added, so derived views can be cached per version."""

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start) if self.spans else 0.0

    @property
    def error(self) -> bool:
        return any(s.error for s in self.spans)

    def services(self) -> list[str]:
        """Services in order of their first span's start."""
        seen: dict[str, float] = {}
        for s in self.spans:
            if s.service not in seen or s.start < seen[s.service]:
                seen[s.service] = s.start
        return sorted(seen, key=seen.__getitem__)


@dataclass
class IngestResult:
    accepted: int = 0
    duplicates: int = 0
    dropped: int = 0


class TraceStore:
    """Recent traces by id, bounded by trace count and total span count."""

    def __init__(
        self,
        max_traces: int = DEFAULT_MAX_TRACES,
        max_spans: int = DEFAULT_MAX_SPANS,
        *,
        max_spans_per_trace: int | None = None,
    ) -> None:
        self.max_traces = max(1, max_traces)
        self.max_spans = max(1, max_spans)
        self.max_spans_per_trace = max_spans_per_trace or max(1, min(5_000, self.max_spans // 2))
        self._traces: dict[str, Trace] = {}
        self._by_test: dict[str, list[str]] = {}
        self.span_count = 0
        self.received_spans = 0
        self.dropped_spans = 0
        """Spans no longer held: evicted with their trace, or over a trace's own cap."""
        self.dropped_traces = 0
        self.refused_payloads = 0
        self.last_refusal = ""
        self.version = 0

    def __len__(self) -> int:
        return len(self._traces)

    def __iter__(self) -> Iterator[Trace]:
        """Oldest first."""
        return iter(list(self._traces.values()))

    def newest(self) -> list[Trace]:
        return list(reversed(self._traces.values()))

    def get(self, trace_id: str) -> Trace | None:
        return self._traces.get(trace_id.lower())

    def for_test(self, test_id: str) -> list[Trace]:
        return [t for tid in self._by_test.get(test_id, ()) if (t := self._traces.get(tid))]

    def tests(self) -> list[str]:
        return list(self._by_test)

    def refused(self, reason: str) -> None:
        self.refused_payloads += 1
        self.last_refusal = reason
        self.version += 1

    def add(self, spans: Iterable[Span], now: float | None = None) -> IngestResult:
        """Add decoded spans (already validated and sanitised), then enforce the caps."""
        now = time.time() if now is None else now
        result = IngestResult()
        traces = self._traces
        touched: set[str] = set()
        for span in spans:
            self.received_spans += 1
            trace = traces.get(span.trace_id)
            if trace is None:
                trace = traces[span.trace_id] = Trace(span.trace_id, arrived=now)
            if span.span_id in trace.span_ids:
                result.duplicates += 1  # an exporter retried: the first copy stands
                continue
            if len(trace.spans) >= self.max_spans_per_trace:
                result.dropped += 1
                self.dropped_spans += 1
                continue
            span.trace_id = trace.trace_id  # one copy of the id per trace, not per span
            trace.spans.append(span)
            trace.span_ids.add(span.span_id)
            if span.start < trace.start:
                trace.start = span.start
            if span.end > trace.end:
                trace.end = span.end
            trace.updated = now
            trace.version += 1
            self.span_count += 1
            result.accepted += 1
            touched.add(span.trace_id)
            test = span.attribute(TEST_ATTRIBUTE) if span.attributes else ""
            if test:
                ids = self._by_test.setdefault(test, [])
                if span.trace_id not in ids:
                    ids.append(span.trace_id)
        self._evict(touched)
        if result.accepted or result.dropped:
            self.version += 1
        return result

    def _evict(self, keep: set[str]) -> None:
        traces = self._traces
        while len(traces) > self.max_traces or self.span_count > self.max_spans:
            oldest = next(iter(traces))
            if oldest in keep and len(traces) == 1:
                break  # one trace over the span cap: its own cap already bounds it
            trace = traces.pop(oldest)
            self.span_count -= len(trace.spans)
            self.dropped_spans += len(trace.spans)
            self.dropped_traces += 1
            for span in trace.spans:
                test = span.attribute(TEST_ATTRIBUTE) if span.attributes else ""
                ids = self._by_test.get(test) if test else None
                if ids and oldest in ids:
                    ids.remove(oldest)
                    if not ids:
                        del self._by_test[test]

    def clear(self) -> None:
        self._traces.clear()
        self._by_test.clear()
        self.span_count = 0
        self.version += 1

    def stats(self) -> dict[str, int]:
        return {
            "traces": len(self._traces),
            "spans": self.span_count,
            "received_spans": self.received_spans,
            "dropped_spans": self.dropped_spans,
            "dropped_traces": self.dropped_traces,
            "refused_payloads": self.refused_payloads,
            "max_traces": self.max_traces,
            "max_spans": self.max_spans,
        }
