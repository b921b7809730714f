"""The line format between an environment process and its viewers.

One JSON object per line, each with a type ``t``. Newline-delimited JSON is
easy to read in a debugger (``socat - UNIX:…``), fast enough for tens of
thousands of log lines a second when they travel in batches, and needs no
dependency. Everything here is pure: dataclasses to dicts and back.

Server to viewer: ``hello`` (the snapshot), ``status``, ``conn``, ``progress``,
``notice``, ``reloaded``, ``logs`` (a batch, with drop counts), ``lat``
(latency samples), ``claims``, ``viewers``, ``reply``, ``bye``.
Viewer to server: ``attach`` (first line), ``request``.
"""

from __future__ import annotations

import json
from typing import Any

from stagedeck.engine.events import (
    ActionProgress,
    Event,
    Health,
    Notice,
    ProcState,
    RecipeReloaded,
    ServiceStatus,
    StatusChanged,
    TargetConnection,
)
from stagedeck.engine.logs import sanitize

PROTOCOL = 1
MAX_LINE = 64 * 1024 * 1024
"""A snapshot with a full log tail can be large; nothing legitimate is larger."""


def dumps(message: dict[str, Any]) -> bytes:
    return json.dumps(message, separators=(",", ":"), default=str).encode() + b"\n"


def loads(line: bytes) -> dict[str, Any]:
    value = json.loads(line)
    if not isinstance(value, dict):
        raise ValueError("not a JSON object")
    return value


def status_to_wire(s: ServiceStatus) -> dict[str, Any]:
    return {
        "name": s.name,
        "state": s.state.value,
        "health": s.health.value,
        "since": s.since,
        "restarts": s.restarts,
        "exit_code": s.exit_code,
        "pid": s.pid,
        "reason": s.reason,
        "platform_health": s.platform_health,
        "cpu": s.cpu_percent,
        "mem": s.memory_bytes,
    }


def _text(value: Any) -> str:
    """Text from the socket is outside text: no escape sequence reaches a viewer's terminal."""
    return sanitize(str(value or ""))


def status_from_wire(d: dict[str, Any]) -> ServiceStatus:
    return ServiceStatus(
        name=_text(d["name"]),
        state=ProcState(d.get("state", "pending")),
        health=Health(d.get("health", "unknown")),
        since=float(d.get("since") or 0.0),
        restarts=int(d.get("restarts") or 0),
        exit_code=d.get("exit_code"),
        pid=d.get("pid"),
        reason=_text(d.get("reason")),
        platform_health=_text(d.get("platform_health")),
        cpu_percent=d.get("cpu"),
        memory_bytes=d.get("mem"),
    )


def event_to_wire(event: Event) -> dict[str, Any] | None:
    if isinstance(event, StatusChanged):
        return {
            "t": "status",
            "s": status_to_wire(event.status),
            "b": status_to_wire(event.before) if event.before is not None else None,
            "at": event.at,
        }
    if isinstance(event, TargetConnection):
        return {"t": "conn", "ok": event.connected, "detail": event.detail, "at": event.at}
    if isinstance(event, ActionProgress):
        return {
            "t": "progress",
            "action": event.action,
            "step": event.step,
            "state": event.state,
            "detail": event.detail,
            "at": event.at,
        }
    if isinstance(event, Notice):
        return {"t": "notice", "message": event.message, "severity": event.severity, "at": event.at}
    if isinstance(event, RecipeReloaded):
        return {"t": "reloaded", "problems": list(event.problems), "at": event.at}
    return None


def event_from_wire(d: dict[str, Any]) -> Event | None:
    kind = d.get("t")
    if kind == "status":
        before = d.get("b")
        return StatusChanged(
            status_from_wire(d["s"]),
            status_from_wire(before) if before else None,
            float(d.get("at") or 0.0),
        )
    if kind == "conn":
        return TargetConnection(bool(d.get("ok")), _text(d.get("detail")), float(d["at"]))
    if kind == "progress":
        return ActionProgress(
            _text(d["action"]), _text(d["step"]), _text(d["state"]), _text(d.get("detail")), d["at"]
        )
    if kind == "notice":
        severity = str(d.get("severity") or "information")
        if severity not in ("information", "warning", "error"):
            severity = "information"
        return Notice(_text(d["message"]), severity, d["at"])
    if kind == "reloaded":
        return RecipeReloaded(tuple(_text(p) for p in d.get("problems") or ()), d["at"])
    return None


def span_to_wire(span: Any) -> list[Any]:
    """A :class:`~stagedeck.traces.model.Span` as a compact list."""
    return [
        span.trace_id,
        span.span_id,
        span.parent_id,
        span.name,
        span.service,
        span.kind,
        span.start,
        span.end,
        span.error,
        span.status_message,
        [list(pair) for pair in span.attributes],
    ]


def span_from_wire(row: list[Any]) -> Any:
    """Back to a Span, through the traces' own gate (the sender may be another user)."""
    from stagedeck.traces.model import MAX_ATTRIBUTES, Span, shared

    (trace_id, span_id, parent_id, name, service, kind, start, end, error, message, attrs) = row
    return Span(
        trace_id=shared(str(trace_id), 64),
        span_id=shared(str(span_id), 64),
        parent_id=shared(str(parent_id or ""), 64),
        name=shared(str(name)),
        service=shared(str(service)),
        kind=shared(str(kind), 32),
        start=float(start),
        end=float(end),
        error=bool(error),
        status_message=shared(str(message or "")),
        attributes=tuple(
            (shared(str(k), 100), shared(str(v))) for k, v in list(attrs)[:MAX_ATTRIBUTES]
        ),
    )
