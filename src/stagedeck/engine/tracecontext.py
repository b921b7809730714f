"""W3C Trace Context for what stagedeck sends: every HTTP probe carries a ``traceparent``.

A probe that times out at 03:12:44 is then one a service's own logs and traces
can name: a service that logs its trace id (most OpenTelemetry setups do, even for
unsampled requests) writes the probe's, and request-id detection
(:func:`stagedeck.engine.logs.detect_request_id`) reads ``traceparent`` values and
the usual trace-id fields, so "follow this request" works from the probe's
failure to the service's line.

The sampled flag is off (``-00``): a health check every couple of seconds is not
worth a trace in anyone's tracing backend. Services that sample on their own
still may; a parent that says "not sampled" only advises.
"""

from __future__ import annotations

import re
import secrets
from typing import Final

TRACEPARENT: Final = re.compile(r"\b00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})\b")
"""A version-00 traceparent value: trace id, parent (span) id, flags."""
_INVALID_TRACE: Final = "0" * 32
_INVALID_SPAN: Final = "0" * 16


def new_traceparent(sampled: bool = False) -> str:
    """A fresh ``00-<trace id>-<span id>-<flags>`` (ids random, never the all-zero invalid ones)."""
    trace = secrets.token_hex(16)
    while trace == _INVALID_TRACE:  # pragma: no cover - one chance in 2**128
        trace = secrets.token_hex(16)
    span = secrets.token_hex(8)
    while span == _INVALID_SPAN:  # pragma: no cover
        span = secrets.token_hex(8)
    return f"00-{trace}-{span}-{'01' if sampled else '00'}"


def trace_id_of(traceparent: str) -> str:
    """The trace id in a traceparent value ('' if it is not a valid version-00 one)."""
    m = TRACEPARENT.search(traceparent.lower())
    if m is None or m.group(1) == _INVALID_TRACE or m.group(2) == _INVALID_SPAN:
        return ""
    return m.group(1)
