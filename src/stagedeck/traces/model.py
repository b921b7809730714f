"""Spans as stagedeck keeps them: small, sanitised, already mapped to a service.

A decoded OTLP payload becomes a list of :class:`Span` before anything is
stored, so a payload that fails half-way changes nothing. Every string in a
span came from a service (or from whoever can reach the port) and is hostile:
it passes the one sanitising gate (:func:`stagedeck.engine.logs.sanitize`) here, at
construction, and is capped in length, so no later path (screen, report,
JSON) sees escape sequences or unbounded text. Views still render it as plain
text, never as markup.
"""

from __future__ import annotations

from dataclasses import dataclass

from stagedeck.engine.logs import sanitize

MAX_TEXT = 400
"""Characters kept of a span name, attribute value or status message."""
MAX_ATTRIBUTES = 32
"""Attributes kept per span (the rest are counted, not stored)."""

KINDS = ("unspecified", "internal", "server", "client", "producer", "consumer")

TEST_ATTRIBUTE = "test.id"
"""A span attribute naming the test that made the request (the demo suites set it)."""
REQUEST_ID_ATTRIBUTES = ("request.id", "http.request_id", "x_request_id")
"""Attributes that carry the request id the service writes in its log lines."""


class PayloadError(ValueError):
    """The payload is not a valid OTLP export request (answered 400, nothing stored)."""


def clean(text: str, limit: int = MAX_TEXT) -> str:
    """Outside text made safe to show: the shared gate, then a length cap."""
    text = sanitize(text)  # also drops newlines: a span name is one line on screen
    return text if len(text) <= limit else text[: limit - 1] + "…"


_SHARED: dict[str, str] = {}
_SHARED_MAX = 20_000
SHARED_LENGTH = 48


def shared(text: str, limit: int = MAX_TEXT) -> str:
    """:func:`clean`, and one copy of each short string that repeats (names, keys, codes).

    Span names, attribute keys, services and most values (methods, routes,
    status codes) repeat in every trace: keeping one copy of each roughly halves
    the store's memory at its cap. Bounded: when the table is full it starts over.
    """
    if len(text) > SHARED_LENGTH:
        return clean(text, limit)
    found = _SHARED.get(text)
    if found is None:
        if len(_SHARED) >= _SHARED_MAX:
            _SHARED.clear()
        found = _SHARED[text] = clean(text, limit)
    return found


@dataclass(slots=True)
class Span:
    """One finished span. Times are epoch seconds (float); ids are lowercase hex."""

    trace_id: str
    span_id: str
    parent_id: str
    name: str
    service: str
    kind: str
    start: float
    end: float
    error: bool
    status_message: str
    attributes: tuple[tuple[str, str], ...]

    @property
    def duration(self) -> float:
        return max(0.0, self.end - self.start)

    def attribute(self, key: str) -> str:
        for k, v in self.attributes:
            if k == key:
                return v
        return ""

    @property
    def request_id(self) -> str:
        for key in REQUEST_ID_ATTRIBUTES:
            value = self.attribute(key)
            if value:
                return value
        return ""

    def to_json(self) -> dict[str, object]:
        return {
            "trace_id": self.trace_id,
            "span_id": self.span_id,
            "parent_id": self.parent_id or None,
            "name": self.name,
            "service": self.service,
            "kind": self.kind,
            "start": round(self.start, 6),
            "duration_ms": round(self.duration * 1000, 3),
            "error": self.error,
            "status_message": self.status_message,
            "attributes": dict(self.attributes),
        }


def make_span(
    *,
    trace_id: str,
    span_id: str,
    parent_id: str,
    name: str,
    service: str,
    kind: int | str,
    start_ns: int,
    end_ns: int,
    status_code: int,
    status_message: str,
    attributes: list[tuple[str, str]],
) -> Span:
    """Validate ids and times, sanitise text: the one way a decoder builds a span."""
    if len(trace_id) != 32 or trace_id == "0" * 32:
        raise PayloadError("traceId must be 16 non-zero bytes")
    if len(span_id) != 16 or span_id == "0" * 16:
        raise PayloadError("spanId must be 8 non-zero bytes")
    if parent_id and len(parent_id) != 16:
        raise PayloadError("parentSpanId must be 8 bytes or empty")
    if parent_id == "0" * 16:
        parent_id = ""
    if start_ns < 0 or end_ns < 0 or start_ns > 2**63 or end_ns > 2**63:
        raise PayloadError("span times must be unsigned 64-bit nanoseconds")
    if end_ns < start_ns:
        end_ns = start_ns  # clock skew inside one process: show it as instant, not negative
    if isinstance(kind, str):
        kind_name = kind.lower().removeprefix("span_kind_")
        if kind_name not in KINDS:
            raise PayloadError(f"unknown span kind {clean(kind, 40)!r}")
    else:
        if not 0 <= kind < len(KINDS):
            raise PayloadError(f"unknown span kind {kind}")
        kind_name = KINDS[kind]
    if status_code not in (0, 1, 2):
        raise PayloadError(f"unknown status code {status_code}")
    attrs = tuple((shared(k, 100), shared(v)) for k, v in attributes[:MAX_ATTRIBUTES])
    return Span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent_id,
        name=shared(name) or "(unnamed)",
        service=shared(service, 100) or "unknown_service",
        kind=kind_name,
        start=start_ns / 1e9,
        end=end_ns / 1e9,
        error=status_code == 2,
        status_message=clean(status_message),
        attributes=attrs,
    )
