"""OTLP/protobuf trace export requests -> spans, with a small hand-written decoder.

Why not ``opentelemetry-proto``: it pulls in ``protobuf`` (about 2 MB installed
for the wheel, ~60-120 ms to import the generated modules on this machine) to
read six messages, and we would still walk every decoded message in Python to
build our own spans. The protobuf wire format is four cases (varint, fixed64,
length-delimited, fixed32); reading only the fields we need, skipping the
rest, is about 150 lines, costs nothing at start-up and is as fast per span
(see bench/bench_traces.py). Unknown fields are skipped, as protobuf requires,
so newer exporters still work.

Messages read (opentelemetry/proto/collector/trace/v1, trace/v1, common/v1):
ExportTraceServiceRequest{1: ResourceSpans}, ResourceSpans{1: Resource,
2: ScopeSpans}, Resource{1: KeyValue}, ScopeSpans{2: Span}, Span{1 trace_id,
2 span_id, 4 parent_span_id, 5 name, 6 kind, 7 start, 8 end, 9 KeyValue,
15 Status}, Status{2 message, 3 code}, KeyValue{1 key, 2 AnyValue},
AnyValue{1 string, 2 bool, 3 int, 4 double, 5 ArrayValue, 6 KeyValueList,
7 bytes}.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator

from stagedeck.traces.model import PayloadError, Span, make_span

MAX_DEPTH = 8
_DOUBLE = struct.Struct("<d")

Field = tuple[int, int, int, int]
"""(field number, wire type, value or start offset, end offset for length-delimited)."""


def decode_proto(body: bytes, max_spans: int) -> list[Span]:
    try:
        return _request(body, max_spans)
    except (IndexError, UnicodeDecodeError, struct.error, RecursionError) as exc:
        raise PayloadError(f"not a valid protobuf export request ({type(exc).__name__})") from None


def _varint(b: bytes, i: int) -> tuple[int, int]:
    x = b[i]
    if x < 0x80:
        return x, i + 1
    result = x & 0x7F
    shift = 7
    i += 1
    while True:
        x = b[i]
        i += 1
        result |= (x & 0x7F) << shift
        if x < 0x80:
            return result, i
        shift += 7
        if shift > 63:
            raise PayloadError("varint longer than 10 bytes")


def fields(b: bytes, i: int, end: int) -> list[Field]:
    """Every field of the message in ``b[i:end]``, length-delimited ones as offsets."""
    out: list[Field] = []
    while i < end:
        key, i = _varint(b, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            value, i = _varint(b, i)
            out.append((number, 0, value, 0))
        elif wire == 2:
            length, i = _varint(b, i)
            stop = i + length
            if stop > end:
                raise PayloadError("a field runs past the end of its message")
            out.append((number, 2, i, stop))
            i = stop
        elif wire == 1:
            if i + 8 > end:
                raise PayloadError("truncated fixed64")
            out.append((number, 1, int.from_bytes(b[i : i + 8], "little"), 0))
            i += 8
        elif wire == 5:
            if i + 4 > end:
                raise PayloadError("truncated fixed32")
            out.append((number, 5, int.from_bytes(b[i : i + 4], "little"), 0))
            i += 4
        else:
            raise PayloadError(f"unsupported wire type {wire}")
        if number == 0:
            raise PayloadError("field number 0")
    if i != end:
        raise PayloadError("a message runs past its end")
    return out


def items(b: bytes, max_items: int, what: str) -> Iterator[tuple[str, int, int]]:
    """(service.name, start, end) of each span or log record in an export request.

    Traces and logs share the shape: request{1: Resource*{1: Resource{1: KeyValue},
    2: Scope*{2: item}}}; spans and log records are field 2 of their scope message.
    """
    count = 0
    for number, wire, start, stop in fields(b, 0, len(b)):
        if number != 1 or wire != 2:
            continue
        service = ""
        scopes: list[tuple[int, int]] = []
        for n2, w2, s2, e2 in fields(b, start, stop):
            if w2 != 2:
                continue
            if n2 == 1:  # Resource
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
                    count += 1
                    if count > max_items:
                        raise PayloadError(f"more than {max_items} {what} in one request")
                    yield service, s3, e3


def _request(b: bytes, max_spans: int) -> list[Span]:
    return [_span(b, s, e, service) for service, s, e in items(b, max_spans, "spans")]


def _span(b: bytes, start: int, stop: int, service: str) -> Span:
    trace_id = span_id = parent_id = name = message = ""
    kind = code = start_ns = end_ns = 0
    attributes: list[tuple[str, str]] = []
    for number, wire, s, e in fields(b, start, stop):
        if wire == 2:
            if number == 9:
                attributes.append(key_value(b, s, e, 0))
            elif number == 1:
                trace_id = b[s:e].hex()
            elif number == 2:
                span_id = b[s:e].hex()
            elif number == 4:
                parent_id = b[s:e].hex()
            elif number == 5:
                name = b[s:e].decode()
            elif number == 15:
                for n2, w2, s2, e2 in fields(b, s, e):
                    if n2 == 2 and w2 == 2:
                        message = b[s2:e2].decode()
                    elif n2 == 3 and w2 == 0:
                        code = s2
        elif wire == 1:
            if number == 7:
                start_ns = s
            elif number == 8:
                end_ns = s
        elif wire == 0 and number == 6:
            kind = s
    return make_span(
        trace_id=trace_id,
        span_id=span_id,
        parent_id=parent_id,
        name=name,
        service=service,
        kind=kind,
        start_ns=start_ns,
        end_ns=end_ns,
        status_code=code,
        status_message=message,
        attributes=attributes,
    )


def key_value(b: bytes, start: int, stop: int, depth: int) -> tuple[str, str]:
    # The hot path (every attribute of every span): read inline, without fields,
    # for the common shape {1: key, 2: {1: string}} and fall back for the rest.
    key = value = ""
    i = start
    while i < stop:
        tag = b[i]
        if tag == 0x0A or tag == 0x12:  # field 1 or 2, length-delimited
            length = b[i + 1]
            i += 2
            if length >= 0x80:
                length, i = _varint(b, i - 1)
            end = i + length
            if end > stop:
                raise PayloadError("a field runs past the end of its message")
            if tag == 0x0A:
                key = b[i:end].decode()
            elif end - i >= 2 and b[i] == 0x0A and b[i + 1] < 0x80 and i + 2 + b[i + 1] == end:
                value = b[i + 2 : end].decode()  # AnyValue{string_value} with a short string
            else:
                value = any_value(b, i, end, depth)
            i = end
        else:
            for number, wire, s, e in fields(b, i, stop):
                if wire == 2 and number == 1:
                    key = b[s:e].decode()
                elif wire == 2 and number == 2:
                    value = any_value(b, s, e, depth)
            break
    if i > stop:
        raise PayloadError("a message runs past its end")
    return key, value


def any_value(b: bytes, start: int, stop: int, depth: int) -> str:
    if depth > MAX_DEPTH:
        raise PayloadError("attribute values nested too deeply")
    text = ""
    for number, wire, s, e in fields(b, start, stop):
        if number == 1 and wire == 2:
            text = b[s:e].decode()
        elif number == 2 and wire == 0:
            text = "true" if s else "false"
        elif number == 3 and wire == 0:
            text = str(s - (1 << 64) if s >= 1 << 63 else s)
        elif number == 4 and wire == 1:
            text = repr(_DOUBLE.unpack(s.to_bytes(8, "little"))[0])
        elif number == 5 and wire == 2:
            items = [
                any_value(b, s2, e2, depth + 1)
                for n2, w2, s2, e2 in fields(b, s, e)
                if n2 == 1 and w2 == 2
            ]
            text = json.dumps(items, ensure_ascii=False)
        elif number == 6 and wire == 2:
            pairs = dict(
                key_value(b, s2, e2, depth + 1)
                for n2, w2, s2, e2 in fields(b, s, e)
                if n2 == 1 and w2 == 2
            )
            text = json.dumps(pairs, ensure_ascii=False)
        elif number == 7 and wire == 2:
            text = b[s:e].hex()[:64]
    return text
