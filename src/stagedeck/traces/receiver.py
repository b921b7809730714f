"""An OTLP/HTTP receiver: ``POST /v1/traces`` (and ``/v1/logs``), protobuf or JSON.

It runs on the engine's event loop (asyncio streams; no web framework) and
feeds a :class:`~stagedeck.traces.store.TraceStore`. Everything that arrives
is hostile until decoded: the whole body is decoded and validated before any
span is stored, so a malformed, oversized or hostile payload gets a 4xx and
changes nothing but the "refused" counter.

* 400 — not protobuf/JSON of an export request, bad ids, nesting too deep,
  too many spans in one request;
* 413 — body (or its gunzipped form) over ``max_body`` bytes; the body is
  not read, the connection is closed;
* 404 / 405 / 411 / 415 — wrong path, method, no Content-Length, content type.

Error bodies are a ``google.rpc.Status`` (JSON or protobuf, as the request
was), as OTLP/HTTP asks. Slow clients are cut off after ``IDLE_TIMEOUT`` and
at most ``MAX_CONNECTIONS`` are served at once, so an open port on a shared
host cannot pin the cockpit.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from stagedeck.deadline import within
from stagedeck.traces.model import PayloadError, Span
from stagedeck.traces.store import TraceStore

if TYPE_CHECKING:
    from stagedeck.traces.otlp_logs import LogRecord

log = logging.getLogger("stagedeck.traces")

IDLE_TIMEOUT = 10.0
MAX_CONNECTIONS = 64
MAX_HEADER_BYTES = 16_384
MAX_SPANS_PER_REQUEST = 20_000
OFFLOAD_BYTES = 64_000
"""Bodies larger than this are decoded in a thread, so a big batch does not stall a frame."""
TRACES_PATH = "/v1/traces"
LOGS_PATH = "/v1/logs"
QUERY_PATH = "/stagedeck/traces"
"""GET: what ``stagedeck traces`` and headless runs ask (see :mod:`stagedeck.traces.remote`)."""


@dataclass(frozen=True)
class Answer:
    status: int
    body: bytes
    content_type: str
    close: bool = False


_REASONS = {
    200: "OK",
    400: "Bad Request",
    404: "Not Found",
    405: "Method Not Allowed",
    411: "Length Required",
    413: "Payload Too Large",
    415: "Unsupported Media Type",
    503: "Service Unavailable",
}


def _status_body(status: int, message: str, proto: bool) -> Answer:
    """A google.rpc.Status{code=INVALID_ARGUMENT(3), message} in the request's encoding."""
    if proto:
        raw = message.encode()[:1000]
        body = b"\x08\x03\x12" + _varint(len(raw)) + raw
        return Answer(status, body, "application/x-protobuf")
    return Answer(status, json.dumps({"code": 3, "message": message}).encode(), "application/json")


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def decode(body: bytes, content_type: str, max_spans: int) -> list[Span]:
    """The spans of one export request; :class:`PayloadError` if it is not one."""
    if content_type == "application/x-protobuf":
        from stagedeck.traces.otlp_proto import decode_proto

        return decode_proto(body, max_spans)
    from stagedeck.traces.otlp_json import decode_json

    return decode_json(body, max_spans)


def gunzip(body: bytes, limit: int) -> bytes:
    """Inflate at most ``limit`` bytes: a 1 MB bomb must not become 1 GB in memory."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(body, limit + 1)
    except zlib.error as exc:
        raise PayloadError(f"bad gzip body: {exc}") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise OverflowError
    return out


class OtlpReceiver:
    """Listens on ``host:port``; :meth:`start` raises ``OSError`` if the port is taken."""

    def __init__(
        self,
        store: TraceStore,
        host: str = "127.0.0.1",
        port: int = 4318,
        *,
        max_body: int = 4_000_000,
        on_logs: Callable[[list[LogRecord]], None] | None = None,
    ) -> None:
        self.store = store
        self.host = host
        self.port = port
        self.max_body = max_body
        self.on_logs = on_logs
        """Where OTLP log records go; without it ``/v1/logs`` is not served (404)."""
        self.requests = 0
        self._server: asyncio.Server | None = None
        self._connections: set[asyncio.Task[None]] = set()

    @property
    def endpoint(self) -> str:
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}"

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._serve, self.host, self.port, limit=MAX_HEADER_BYTES
        )
        sockets = self._server.sockets
        if self.port == 0 and sockets:
            self.port = int(sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            for task in list(self._connections):
                task.cancel()
            with contextlib.suppress(Exception):
                await within(self._server.wait_closed(), 1.0)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if len(self._connections) >= MAX_CONNECTIONS or task is None:
            writer.close()
            return
        self._connections.add(task)
        try:
            while True:
                answer = await within(self._one(reader, writer), IDLE_TIMEOUT)
                if answer is None:
                    break
                reason = _REASONS.get(answer.status, "")
                head = (
                    f"HTTP/1.1 {answer.status} {reason}\r\n"
                    f"Content-Type: {answer.content_type}\r\n"
                    f"Content-Length: {len(answer.body)}\r\n"
                    + ("Connection: close\r\n" if answer.close else "")
                    + "\r\n"
                )
                writer.write(head.encode() + answer.body)
                await writer.drain()
                if answer.close:
                    break
        except (
            TimeoutError,
            asyncio.IncompleteReadError,
            asyncio.LimitOverrunError,
            ConnectionError,
            ValueError,
        ):
            pass
        finally:
            self._connections.discard(task)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _one(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> Answer | None:
        """Read and answer one request; None when the client closed the connection."""
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError as exc:
            if exc.partial.strip():
                return _status_body(400, "incomplete request", False)
            return None
        except asyncio.LimitOverrunError:
            return Answer(400, b"", "text/plain", close=True)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        if len(parts) != 3 or not parts[2].startswith("HTTP/1."):
            return Answer(400, b"", "text/plain", close=True)
        method, target, version = parts
        headers: dict[str, str] = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        self.requests += 1
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        proto = ctype == "application/x-protobuf"
        close = headers.get("connection", "").lower() == "close" or version == "HTTP/1.0"
        length_text = headers.get("content-length")
        if length_text is None and method != "POST" and "transfer-encoding" not in headers:
            length_text = "0"  # a GET or HEAD: no body to find the end of
        if "chunked" in headers.get("transfer-encoding", "").lower() or length_text is None:
            return self._refuse(411, "send a Content-Length (chunked bodies are not read)", proto)
        try:
            length = int(length_text)
            if length < 0:
                raise ValueError
        except ValueError:
            return self._refuse(400, "bad Content-Length", proto)
        if length > self.max_body:
            return self._refuse(413, f"body over {self.max_body} bytes", proto)
        if length and headers.get("expect", "").lower() == "100-continue":
            writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # curl and .NET wait for it
            await writer.drain()
        body = await reader.readexactly(length) if length else b""
        path, _, query_string = target.partition("?")
        if method == "GET" and path.startswith(QUERY_PATH):
            return self._query(path, query_string, close)
        logs = path == LOGS_PATH and self.on_logs is not None
        if path != TRACES_PATH and not logs:
            return self._refuse(404, f"POST spans to {TRACES_PATH}", proto, close)
        if method != "POST":
            return self._refuse(405, "POST an export request", proto, close)
        if ctype not in ("application/x-protobuf", "application/json"):
            return self._refuse(
                415, "content type must be application/x-protobuf or application/json", proto, close
            )
        encoding = headers.get("content-encoding", "identity").lower()
        try:
            if encoding == "gzip":
                body = gunzip(body, self.max_body)
            elif encoding not in ("identity", ""):
                raise PayloadError(f"content encoding {encoding[:20]!r} is not supported")
            if logs:
                from stagedeck.traces.otlp_logs import decode_logs

                records = decode_logs(body, ctype, MAX_SPANS_PER_REQUEST)
            elif len(body) > OFFLOAD_BYTES:
                spans = await asyncio.to_thread(decode, body, ctype, MAX_SPANS_PER_REQUEST)
            else:
                spans = decode(body, ctype, MAX_SPANS_PER_REQUEST)
        except OverflowError:
            return self._refuse(413, f"inflated body over {self.max_body} bytes", proto)
        except PayloadError as exc:
            return self._refuse(400, str(exc), proto, close)
        except Exception as exc:  # a shape the decoders did not foresee is still malformed
            log.warning("OTLP payload broke the decoder", exc_info=True)
            return self._refuse(400, f"malformed export request ({type(exc).__name__})", proto)
        if logs and self.on_logs is not None:
            self.on_logs(records)
        else:
            self.store.add(spans)
        if proto:
            return Answer(200, b"", "application/x-protobuf", close)
        return Answer(200, b"{}", "application/json", close)

    def _query(self, path: str, query_string: str, close: bool) -> Answer:
        """Read-only questions from ``stagedeck traces`` and headless runs (another process)."""
        from stagedeck.traces.remote import answer_query

        status, data = answer_query(self.store, path[len(QUERY_PATH) :], query_string)
        return Answer(status, json.dumps(data).encode(), "application/json", close)

    def _refuse(self, status: int, message: str, proto: bool, close: bool = True) -> Answer:
        self.store.refused(f"HTTP {status}: {message}")
        log.info("OTLP payload refused: %s", message)
        return (
            _status_body(status, message, proto)
            if not close
            else _closing(_status_body(status, message, proto))
        )


def _closing(answer: Answer) -> Answer:
    return Answer(answer.status, answer.body, answer.content_type, close=True)
