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

import struct
from dataclasses import dataclass

from stagedeck.traces import otlp_json, otlp_proto
from stagedeck.traces.model import PayloadError
from stagedeck.traces.otlp_json import any_value, hex_id, integer
from stagedeck.traces.otlp_proto import fields

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
    out: list[LogRecord] = []
    keys = ("resourceLogs", "scopeLogs", "logRecords")
    for service, r in otlp_json.items(body, keys, max_records):
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
    return [
        _proto_record(b, s, e, service)
        for service, s, e in otlp_proto.items(b, max_records, "log records")
    ]


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
