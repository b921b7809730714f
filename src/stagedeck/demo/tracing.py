"""Distributed tracing for the demo services, standard library only.

Each traced request gets a server span; each call to another service made
while handling it gets a client span, and the call carries a W3C
``traceparent`` header, so one request through the gateway is one trace
across orders, inventory, payments and ledger. Spans are sent as OTLP/JSON to
``$OTEL_EXPORTER_OTLP_ENDPOINT/v1/traces`` (stagedeck injects it) from one
background thread per process, in batches; with no endpoint nothing is sent
but ``traceparent`` is still passed on.

Not traced, unless the caller sent a ``traceparent``: health checks and
latency probes (the cockpit sends them every second) and background work
with no request id (the worker's long poll), so an idle environment has no
traces, like it has a quiet log.

This is what the OpenTelemetry SDK does for a real service, in a hundred
lines, so that the demo keeps starting in well under a second.
"""

from __future__ import annotations

import json
import os
import queue
import re
import secrets
import threading
import time
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
KIND = {"internal": 1, "server": 2, "client": 3}
BATCH_SECONDS = 0.2
MAX_QUEUE = 4096
"""Finished spans waiting to be sent; more are dropped (the service never blocks on it)."""


@dataclass
class ActiveSpan:
    service: str
    name: str
    kind: str
    trace_id: str
    span_id: str
    parent_id: str = ""
    start_ns: int = field(default_factory=time.time_ns)
    end_ns: int = 0
    attributes: dict[str, str | int] = field(default_factory=dict)
    error: bool = False
    message: str = ""

    @property
    def traceparent(self) -> str:
        return f"00-{self.trace_id}-{self.span_id}-01"

    def finish(self, *, error: bool = False, message: str = "") -> None:
        self.end_ns = time.time_ns()
        self.error = error
        self.message = message
        _export(self)

    def to_otlp(self) -> dict[str, Any]:
        def value(v: str | int) -> dict[str, Any]:
            return {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v}

        span: dict[str, Any] = {
            "traceId": self.trace_id,
            "spanId": self.span_id,
            "name": self.name,
            "kind": KIND[self.kind],
            "startTimeUnixNano": str(self.start_ns),
            "endTimeUnixNano": str(self.end_ns),
            "attributes": [{"key": k, "value": value(v)} for k, v in self.attributes.items()],
            "status": {"code": 2, "message": self.message} if self.error else {"code": 0},
        }
        if self.parent_id:
            span["parentSpanId"] = self.parent_id
        return span


_current = threading.local()


def current() -> ActiveSpan | None:
    """The span of the request this thread is handling, if it is traced."""
    span: ActiveSpan | None = getattr(_current, "span", None)
    return span


def new_trace_id() -> str:
    return secrets.token_hex(16)


def new_span_id() -> str:
    return secrets.token_hex(8)


def parse_traceparent(header: str) -> tuple[str, str] | None:
    """(trace id, parent span id) of a valid ``traceparent``; None otherwise."""
    m = TRACEPARENT.match(header.strip().lower())
    if m is None or m.group(1) == "0" * 32 or m.group(2) == "0" * 16:
        return None
    return m.group(1), m.group(2)


class Tracer:
    """One service's tracer: starts server spans and client spans under them."""

    def __init__(self, service: str, env: Mapping[str, str] | None = None) -> None:
        env = os.environ if env is None else env
        self.service = env.get("OTEL_SERVICE_NAME") or service
        _configure(env)

    def start_server(
        self, name: str, headers: Mapping[str, str], *, always: bool, **attributes: str | int
    ) -> ActiveSpan | None:
        """A server span for an incoming request, current in this thread; None if untraced."""
        parent = parse_traceparent(headers.get("traceparent", ""))
        if parent is None and not always:
            return None
        trace_id, parent_id = parent or (new_trace_id(), "")
        span = ActiveSpan(self.service, name, "server", trace_id, new_span_id(), parent_id)
        span.attributes.update(attributes)
        _current.span = span
        return span

    def end_server(self, span: ActiveSpan | None, *, error: bool, message: str = "") -> None:
        if span is None:
            return
        _current.span = None
        span.finish(error=error, message=message)


def start_client(name: str, **attributes: str | int) -> ActiveSpan | None:
    """A client span under the current server span (None when the request is untraced)."""
    parent = current()
    if parent is None:
        return None
    span = ActiveSpan(
        parent.service, name, "client", parent.trace_id, new_span_id(), parent.span_id
    )
    span.attributes.update(attributes)
    return span


# --------------------------------------------------------------------------- export

_configured = False
_endpoint = ""
_resource: list[dict[str, Any]] = []
_queue: queue.Queue[ActiveSpan] = queue.Queue(MAX_QUEUE)
_thread: threading.Thread | None = None
_lock = threading.Lock()
_pending = 0
"""Spans queued or being sent: :func:`flush` waits for it to reach zero."""
_wake = threading.Event()


def _configure(env: Mapping[str, str]) -> None:
    global _endpoint, _resource, _configured
    _configured = True
    traces = env.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "")
    base = env.get("OTEL_EXPORTER_OTLP_ENDPOINT", "")
    _endpoint = traces or (base.rstrip("/") + "/v1/traces" if base else "")
    _resource = []
    for pair in env.get("OTEL_RESOURCE_ATTRIBUTES", "").split(","):
        key, _, value = pair.partition("=")
        if key.strip() and key.strip() != "service.name":
            _resource.append(
                {"key": key.strip(), "value": {"stringValue": urllib.parse.unquote(value.strip())}}
            )


def _export(span: ActiveSpan) -> None:
    global _thread, _pending
    if not _configured:
        _configure(os.environ)
    if not _endpoint:
        return
    try:
        with _lock:
            _queue.put_nowait(span)
            _pending += 1
    except queue.Full:
        return  # the receiver is slow or gone: drop rather than slow the request down
    if _thread is None:
        with _lock:
            if _thread is None:
                _thread = threading.Thread(target=_send_loop, name="otlp-export", daemon=True)
                _thread.start()


def flush(timeout: float = 2.0) -> None:
    """Send everything finished so far, before a short-lived process exits (a test run)."""
    deadline = time.monotonic() + timeout
    _wake.set()
    while _pending and time.monotonic() < deadline:
        time.sleep(0.005)


def _drain() -> list[ActiveSpan]:
    spans = []
    while True:
        try:
            spans.append(_queue.get_nowait())
        except queue.Empty:
            return spans


def _send_loop() -> None:
    global _pending
    while True:
        first = _queue.get()
        _wake.wait(BATCH_SECONDS)  # gather a batch, unless someone is waiting for a flush
        _wake.clear()
        batch = [first, *_drain()]
        _send(batch, 2.0)
        with _lock:
            _pending -= len(batch)


def _send(spans: list[ActiveSpan], timeout: float) -> None:
    if not spans or not _endpoint:
        return
    by_service: dict[str, list[dict[str, Any]]] = {}
    for span in spans:
        by_service.setdefault(span.service, []).append(span.to_otlp())
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [
                        {"key": "service.name", "value": {"stringValue": service}},
                        *_resource,
                    ]
                },
                "scopeSpans": [{"scope": {"name": "stagedeck.demo"}, "spans": items}],
            }
            for service, items in by_service.items()
        ]
    }
    request = urllib.request.Request(
        _endpoint,
        data=json.dumps(body).encode(),
        method="POST",
        headers={"Content-Type": "application/json"},
    )
    try:
        with _OPENER.open(request, timeout=timeout) as response:
            response.read()
    except (OSError, ValueError):
        pass  # no receiver: tracing is best effort, the service keeps serving


_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))
