"""OTLP log records (``POST /v1/logs``, protobuf or JSON) -> lines for the log hub.

A service that logs through an OpenTelemetry SDK instead of (or besides)
stdout still shows in the log explorer. The line carries the record's trace
id as ``trace_id=...``, which the log explorer reads as the line's request
id, so ``v`` on it opens the trace. Text is sanitised by the hub on the way
in, like any other line. Decoded whole before anything is kept, like spans.

Messages read (collector/logs/v1, logs/v1): ExportLogsServiceRequest{1:
ResourceLogs}, ResourceLogs{1: Resource, 2: ScopeLogs}, ScopeLogs{2:
LogRecord}, LogRecord{1 time, 11 observed time, 2 severity number, 3 severity
text, 5 body (AnyValue), 9 trace id, 10 span id}.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass

from stagedeck.traces import otlp_proto
from stagedeck.traces.model import PayloadError
from stagedeck.traces.otlp_json import any_value, hex_id, integer, objects
from stagedeck.traces.otlp_proto import fields, key_value

MAX_BODY_TEXT = 2_000


@dataclass(frozen=True, slots=True)
class LogRecord:
    service: str
    ts: float
    level: str
    body: str
    trace_id: str

    def line(self) -> str:
        """The text the hub stores: level first (the hub detects it), then the trace id."""
        text = f"{self.level} {self.body}" if self.level else self.body
        return f"{text} trace_id={self.trace_id}" if self.trace_id else text


def level_of(number: int, text: str) -> str:
    if text:
        return text.upper()[:8]
    if number >= 17:
        return "ERROR"
    if number >= 13:
        return "WARN"
    if number >= 9:
        return "INFO"
    if number >= 5:
        return "DEBUG"
    return "TRACE" if number >= 1 else ""


def decode_logs(body: bytes, content_type: str, max_records: int) -> list[LogRecord]:
    if content_type == "application/x-protobuf":
        try:
            return _proto(body, max_records)
        except (IndexError, UnicodeDecodeError, struct.error, RecursionError) as exc:
            raise PayloadError(f"not a protobuf logs request ({type(exc).__name__})") from None
    return _json(body, max_records)


def _record(service: str, ts_ns: int, number: int, text: str, body: str, trace: str) -> LogRecord:
    if not 0 <= ts_ns <= 2**63:
        raise PayloadError("log times must be unsigned 64-bit nanoseconds")
    if trace and len(trace) != 32:
        raise PayloadError("traceId must be 16 bytes or empty")
    if trace == "0" * 32:
        trace = ""
    return LogRecord(service, ts_ns / 1e9, level_of(number, text), body[:MAX_BODY_TEXT], trace)


def _json(body: bytes, max_records: int) -> list[LogRecord]:
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError("a logs request is a JSON object")
    out: list[LogRecord] = []
    for rl in objects(data, "resourceLogs"):
        service = ""
        resource = rl.get("resource") or {}
        if not isinstance(resource, dict):
            raise PayloadError("resource must be an object")
        for kv in objects(resource, "attributes"):
            if kv.get("key") == "service.name":
                service = any_value(kv.get("value"), 0)
        for sl in objects(rl, "scopeLogs"):
            for r in objects(sl, "logRecords"):
                if len(out) >= max_records:
                    raise PayloadError(f"more than {max_records} log records in one request")
                ts = r.get("timeUnixNano") or r.get("observedTimeUnixNano") or 0
                text = r.get("severityText", "")
                if not isinstance(text, str):
                    raise PayloadError("severityText must be a string")
                out.append(
                    _record(
                        service,
                        integer(ts),
                        integer(r.get("severityNumber", 0)),
                        text,
                        any_value(r.get("body"), 0),
                        hex_id(r.get("traceId")),
                    )
                )
    return out


def _proto(b: bytes, max_records: int) -> list[LogRecord]:
    out: list[LogRecord] = []
    for number, wire, start, stop in fields(b, 0, len(b)):
        if number != 1 or wire != 2:
            continue
        service = ""
        scopes: list[tuple[int, int]] = []
        for n2, w2, s2, e2 in fields(b, start, stop):
            if w2 != 2:
                continue
            if n2 == 1:
                for n3, w3, s3, e3 in fields(b, s2, e2):
                    if n3 == 1 and w3 == 2:
                        key, value = key_value(b, s3, e3, 0)
                        if key == "service.name":
                            service = value
            elif n2 == 2:
                scopes.append((s2, e2))
        for s2, e2 in scopes:
            for n3, w3, s3, e3 in fields(b, s2, e2):
                if n3 == 2 and w3 == 2:
                    if len(out) >= max_records:
                        raise PayloadError(f"more than {max_records} log records in one request")
                    out.append(_proto_record(b, s3, e3, service))
    return out


def _proto_record(b: bytes, start: int, stop: int, service: str) -> LogRecord:
    ts = observed = number = 0
    text = body = trace = ""
    for n, wire, s, e in fields(b, start, stop):
        if wire == 1 and n == 1:
            ts = s
        elif wire == 1 and n == 11:
            observed = s
        elif wire == 0 and n == 2:
            number = s
        elif wire == 2 and n == 3:
            text = b[s:e].decode()
        elif wire == 2 and n == 5:
            body = otlp_proto.any_value(b, s, e, 0)
        elif wire == 2 and n == 9:
            trace = b[s:e].hex()
    return _record(service, ts or observed, number, text, body, trace)
