"""HTTP probes send a W3C traceparent; request-id detection reads it and the usual trace fields.

Real sockets (the servers of test_http_probe) for both probe paths, and a
service that logs the header it got, as OpenTelemetry-instrumented services do:
the id the probe kept is the id found in the service's line.
"""

from __future__ import annotations

import re

import httpx
import pytest

from stagedeck.engine.http_probe import KeepAliveClient
from stagedeck.engine.logs import detect_request_id
from stagedeck.engine.probes import probe_http, probe_http_lean
from stagedeck.engine.tracecontext import TRACEPARENT, new_traceparent, trace_id_of
from test_http_probe import OK, serving

HEADER = re.compile(rb"(?im)^traceparent: (.+?)\r$")


def test_a_new_traceparent_is_valid_fresh_and_unsampled() -> None:
    values = {new_traceparent() for _ in range(200)}
    assert len(values) == 200
    for value in values:
        m = TRACEPARENT.fullmatch(value)
        assert m is not None, value
        assert m.group(3) == "00" and trace_id_of(value) == m.group(1)
    assert new_traceparent(sampled=True).endswith("-01")
    assert trace_id_of("00-" + "0" * 32 + "-00f067aa0ba902b7-01") == ""  # the invalid id
    assert trace_id_of("00-4bf92f3577b34da6a3ce929d0e0e4736-" + "0" * 16 + "-01") == ""
    assert trace_id_of("garbage") == ""


@pytest.mark.parametrize("path", ["lean", "httpx"])
async def test_every_probe_sends_its_own_traceparent_and_keeps_the_id(path: str) -> None:
    """A service logging the header it got names the probe's trace id, by both probe paths."""
    server = await serving(OK)
    try:
        results = []
        if path == "lean":
            client = KeepAliveClient({"User-Agent": "stagedeck"})
            for _ in range(3):
                results.append(await probe_http_lean(client, server.url, 2.0))
        else:
            async with httpx.AsyncClient() as hx:
                for _ in range(3):
                    results.append(await probe_http(hx, server.url, 2.0))
        sent = []
        for head in server.requests:
            (value,) = HEADER.findall(head)
            sent.append(value.decode())
        assert all(r.ok for r in results)
        assert len(set(sent)) == 3  # a new trace each time, not one reused
        for result, value in zip(results, sent, strict=True):
            assert result.trace_id == trace_id_of(value) != ""
            # What an instrumented service writes for that request, in two common shapes.
            logfmt = f"2026-12-01T03:12:44Z INFO GET /health 200 traceparent={value} ms=1"
            ecs = f'{{"@timestamp":"2026-12-01T03:12:44Z","trace.id":"{result.trace_id}"}}'
            assert detect_request_id(logfmt) == result.trace_id
            assert detect_request_id(ecs) == result.trace_id
    finally:
        await server.stop()


async def test_a_failed_probe_keeps_its_trace_id_too() -> None:
    client = KeepAliveClient()
    result = await probe_http_lean(client, "http://127.0.0.1:9/health", 1.0)  # discard port
    assert not result.ok and result.kind == "refused"
    assert re.fullmatch(r"[0-9a-f]{32}", result.trace_id)


@pytest.mark.parametrize(
    ("line", "found"),
    [
        ("INFO orders rid=7f3a9c2d created", "7f3a9c2d"),
        ('{"request_id": "req-123-abc"}', "req-123-abc"),
        ("rid=- background", ""),
        # W3C traceparent, as a header dump or a field; upper case is read as the id.
        (
            "GET /api/orders traceparent: 00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",
            "4bf92f3577b34da6a3ce929d0e0e4736",
        ),
        (
            '{"level":"error","traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00"}',
            "4bf92f3577b34da6a3ce929d0e0e4736",
        ),
        ("traceparent=00-00000000000000000000000000000000-00f067aa0ba902b7-01", ""),
        # The common trace-id fields.
        ('{"trace.id":"7b2c0e5f9a1d4c3e","message":"payment declined"}', "7b2c0e5f9a1d4c3e"),
        (
            '{"traceId":"5b8aa5a2d2c872e8321cf37308d69df2","spanId":"051581bf3cb55c13"}',
            "5b8aa5a2d2c872e8321cf37308d69df2",
        ),
        ("ERROR dd.trace_id=1234567890123456789 dd.span_id=99 timeout", "1234567890123456789"),
        ("X-B3-TraceId: 80f198ee56343ba864fe8b2a57d3eff7", "80f198ee56343ba864fe8b2a57d3eff7"),
        (
            "03:12:44.812 ERROR [main] otelTraceID=5b8aa5a2d2c872e8321cf37308d69df2 charge failed",
            "5b8aa5a2d2c872e8321cf37308d69df2",
        ),
        ("WARN correlationId=ord-77a1-retry upstream slow", "ord-77a1-retry"),
        ("X-Correlation-Id: 0f9e8d7c", "0f9e8d7c"),
        # Not ids: a word that merely contains one of the keys, a bare hex string.
        ("retrace_identity=abcdef12", ""),
        ("4bf92f3577b34da6a3ce929d0e0e4736 alone", ""),
    ],
)
def test_request_id_detection_reads_trace_context(line: str, found: str) -> None:
    assert detect_request_id(line) == found
