"""OTLP/JSON trace export requests -> spans.

The JSON mapping of the protobuf messages (``resourceSpans``, ``scopeSpans``,
hex ids, nanosecond times as strings or numbers). Unknown fields are ignored,
as the specification asks; anything of the wrong shape is a
:class:`PayloadError` for the whole payload.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Iterator
from typing import Any

from stagedeck.traces.model import PayloadError, Span, make_span

MAX_DEPTH = 8
"""Nesting of array/kvlist attribute values accepted; deeper is refused (hostile)."""
_HEX = re.compile(r"[0-9a-fA-F]+")


def decode_json(body: bytes, max_spans: int) -> list[Span]:
    return [
        _span(raw, service)
        for service, raw in items(body, ("resourceSpans", "scopeSpans", "spans"), max_spans)
    ]


def items(
    body: bytes, keys: tuple[str, str, str], max_items: int
) -> Iterator[tuple[str, dict[str, Any]]]:
    """(service.name, item) of each span or log record: traces and logs share the shape
    ``{resourceX: [{resource: {attributes}, scopeX: [{items: [...]}]}]}``."""
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise PayloadError(f"not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise PayloadError("an export request is a JSON object")
    resources, scopes, kind = keys
    count = 0
    for rs in objects(data, resources):
        service = ""
        for kv in objects(_dict(rs, "resource"), "attributes"):
            if kv.get("key") == "service.name":
                service = any_value(kv.get("value"), 0)
        for ss in objects(rs, scopes):
            for raw in objects(ss, kind):
                count += 1
                if count > max_items:
                    raise PayloadError(f"more than {max_items} {kind} in one request")
                yield service, raw


def _span(raw: Any, service: str) -> Span:
    if not isinstance(raw, dict):
        raise PayloadError("a span must be an object")
    status = _dict(raw, "status")
    code = status.get("code", 0)
    if isinstance(code, str):
        code = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}.get(code, -1)
    attributes: list[tuple[str, str]] = []
    for kv in _list(raw, "attributes"):
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise PayloadError("an attribute must be {key, value}")
        attributes.append((kv["key"], any_value(kv.get("value"), 0)))
    message = status.get("message", "")
    name = raw.get("name", "")
    if not isinstance(message, str) or not isinstance(name, str):
        raise PayloadError("span name and status message must be strings")
    return make_span(
        trace_id=hex_id(raw.get("traceId")),
        span_id=hex_id(raw.get("spanId")),
        parent_id=hex_id(raw.get("parentSpanId")),
        name=name,
        service=service,
        kind=_int_or_name(raw.get("kind", 0)),
        start_ns=_nanos(raw.get("startTimeUnixNano")),
        end_ns=_nanos(raw.get("endTimeUnixNano")),
        status_code=code if isinstance(code, int) and not isinstance(code, bool) else -1,
        status_message=message,
        attributes=attributes,
    )


def any_value(value: Any, depth: int) -> str:
    """An ``AnyValue`` as text (arrays and maps as compact JSON)."""
    if depth > MAX_DEPTH:
        raise PayloadError("attribute values nested too deeply")
    if not isinstance(value, dict) or not value:
        return ""
    if "stringValue" in value:
        v = value["stringValue"]
        if not isinstance(v, str):
            raise PayloadError("stringValue must be a string")
        return v
    if "intValue" in value:
        return str(integer(value["intValue"]))
    if "boolValue" in value:
        return "true" if value["boolValue"] is True else "false"
    if "doubleValue" in value:
        v = value["doubleValue"]
        if isinstance(v, bool) or not isinstance(v, int | float | str):
            raise PayloadError("doubleValue must be a number")
        return str(v)
    if "arrayValue" in value:
        items = _list(_dict(value, "arrayValue"), "values")
        return json.dumps([any_value(v, depth + 1) for v in items], ensure_ascii=False)
    if "kvlistValue" in value:
        pairs = objects(_dict(value, "kvlistValue"), "values")
        return json.dumps(
            {str(kv.get("key", "")): any_value(kv.get("value"), depth + 1) for kv in pairs},
            ensure_ascii=False,
        )
    if "bytesValue" in value:
        v = value["bytesValue"]
        if not isinstance(v, str):
            raise PayloadError("bytesValue must be a base64 string")
        return v[:64]
    return ""


def _list(obj: dict[str, Any], key: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        raise PayloadError(f"{key} must be a list")
    return value


def objects(obj: dict[str, Any], key: str) -> list[dict[str, Any]]:
    items = _list(obj, key)
    if not all(isinstance(item, dict) for item in items):
        raise PayloadError(f"{key} must be a list of objects")
    return items


def _dict(obj: dict[str, Any], key: str) -> dict[str, Any]:
    value = obj.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise PayloadError(f"{key} must be an object")
    return value


def hex_id(value: Any) -> str:
    """Ids are hex in OTLP/JSON; some exporters send base64 (the protobuf JSON default)."""
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) > 64:
        raise PayloadError("ids must be hex strings")
    if _HEX.fullmatch(value):
        return value.lower()
    try:
        return base64.b64decode(value, validate=True).hex()
    except (binascii.Error, ValueError):
        raise PayloadError("ids must be hex strings") from None


def integer(value: Any) -> int:
    if isinstance(value, bool):
        raise PayloadError("expected an integer")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and len(value) <= 24:
        try:
            return int(value)
        except ValueError:
            pass
    raise PayloadError("expected an integer")


def _nanos(value: Any) -> int:
    if value is None:
        raise PayloadError("spans need startTimeUnixNano and endTimeUnixNano")
    return integer(value)


def _int_or_name(value: Any) -> int | str:
    if isinstance(value, str) and not value.isdigit():
        return value
    return integer(value)
