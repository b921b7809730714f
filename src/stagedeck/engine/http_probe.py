"""Plain-HTTP health checks over kept-alive connections, without httpx.

A health check is one GET to a plain ``http://`` URL every couple of seconds,
read in full and judged by its status and, maybe, a word in its body. Through
httpx that cost about 1.2 ms of CPU per request (its request and response
models, header normalisation, the transport stack), which was most of an idle
cockpit's CPU: six demo services make six requests a second. Here a request is
written in one piece on a kept-alive asyncio connection and the response read
with a strict little parser: ``bench/bench_probes.py`` measures both paths.

Only what a recipe can express goes this way: ``http://`` URLs (no TLS), no
proxy in the environment for the host, ``GET`` with fixed headers, no redirects
followed (httpx's default too). Anything else stays with httpx (see
:func:`handles`). The semantics kept: the status and body rules of
:func:`stagedeck.engine.probes.probe_http`, its timeout (the whole exchange), its
wording of failures ("timed out after 2s", "cannot connect (connection
refused)"). A connection the server closed while idle (a restart, a keep-alive
timeout) is noticed on reuse and the GET is sent once more on a new one, as
httpx does for an idempotent request.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass
from urllib.parse import urlsplit

MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 1024 * 1024
"""A health endpoint's body beyond this is refused (the check fails, saying why)."""
IDLE_PER_HOST = 4
"""Kept-alive connections per host and port (probes of one service rarely overlap)."""


class ProbeError(Exception):
    """The exchange failed; the message is what the user reads after "GET url: "."""

    def __init__(self, message: str, kind: str = "error") -> None:
        super().__init__(message)
        self.kind = kind
        """A ``ProbeKind`` value: 'refused' when nothing (or nothing sane) answered at the
        connection level, as httpx's ConnectError and RemoteProtocolError are taken."""


@dataclass(frozen=True, slots=True)
class Response:
    status: int
    body: bytes
    charset: str

    @property
    def text(self) -> str:
        try:
            return self.body.decode(self.charset or "utf-8", errors="replace")
        except LookupError:  # a charset Python does not know
            return self.body.decode("utf-8", errors="replace")


def handles(url: str) -> bool:
    """Whether this client can do ``url`` with httpx's semantics: plain http, no proxy."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme != "http" or not parts.hostname or parts.username or parts.password:
        return False
    del port
    # Imported here: urllib.request pulls in http.client and the email package (15-30 ms
    # of start-up for every command), and the first check comes after the first frame.
    import urllib.request

    proxies = urllib.request.getproxies()
    if "http" in proxies or "all" in proxies:
        return bool(urllib.request.proxy_bypass(parts.hostname))
    return True


class _Conn:
    __slots__ = ("reader", "used", "writer")

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.used = 0


class KeepAliveClient:
    """GETs over a small pool of kept-alive connections per (host, port)."""

    def __init__(self, headers: dict[str, str] | None = None) -> None:
        self._headers = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self._idle: dict[tuple[str, int], list[_Conn]] = {}
        self.connections_made = 0
        """How many TCP connections were opened (tests check reuse)."""

    async def get(self, url: str, timeout: float, *, traceparent: str = "") -> Response:
        """The response to ``GET url``; raises :class:`ProbeError` or ``TimeoutError``.

        ``traceparent``: this request's W3C trace context (see ``engine/tracecontext.py``)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port or 80
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        host_header = parts.netloc.rsplit("@", 1)[-1]
        trace = f"traceparent: {traceparent}\r\n" if traceparent else ""
        request = (
            f"GET {target} HTTP/1.1\r\nHost: {host_header}\r\n{self._headers}{trace}"
            "Accept: */*\r\nConnection: keep-alive\r\n\r\n"
        ).encode("latin-1", errors="strict")
        async with asyncio.timeout(timeout):
            key = (host, port)
            conn = self._take(key)
            if conn is not None:
                try:
                    return await self._exchange(key, conn, request)
                except (ConnectionError, asyncio.IncompleteReadError, _Stale):
                    pass  # closed while idle (a restart, its keep-alive ran out): once more
            conn = await self._connect(host, port)
            try:
                return await self._exchange(key, conn, request)
            except _Stale as exc:
                raise ProbeError("connection closed before a response", "refused") from exc
            except asyncio.IncompleteReadError as exc:
                raise ProbeError(
                    "connection closed in the middle of the response", "refused"
                ) from exc
            except ConnectionError as exc:
                raise ProbeError(
                    f"connection lost ({exc.strerror or type(exc).__name__})", "refused"
                ) from exc

    def _take(self, key: tuple[str, int]) -> _Conn | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            if not conn.writer.is_closing() and not conn.reader.at_eof():
                return conn
            conn.writer.close()
        return None

    async def _connect(self, host: str, port: int) -> _Conn:
        try:
            reader, writer = await asyncio.open_connection(host, port, limit=MAX_HEADER_BYTES)
        except ConnectionRefusedError as exc:
            raise ProbeError("cannot connect (connection refused)", "refused") from exc
        except OSError as exc:
            raise ProbeError(f"cannot connect ({exc.strerror or exc})", "refused") from exc
        self.connections_made += 1
        return _Conn(reader, writer)

    async def _exchange(self, key: tuple[str, int], conn: _Conn, request: bytes) -> Response:
        reused = conn.used > 0
        try:
            conn.writer.write(request)
            await conn.writer.drain()
            response, keep = await _read_response(conn.reader, first_byte_stale=reused)
        except BaseException:
            conn.writer.close()
            raise
        conn.used += 1
        idle = self._idle.setdefault(key, [])
        if keep and len(idle) < IDLE_PER_HOST:
            idle.append(conn)
        else:
            conn.writer.close()
        return response

    async def aclose(self) -> None:
        conns = [c for idle in self._idle.values() for c in idle]
        self._idle.clear()
        for conn in conns:
            conn.writer.close()
        for conn in conns:
            with contextlib.suppress(OSError):
                await conn.writer.wait_closed()


class _Stale(Exception):
    """A reused connection ended before the first byte of a response."""


async def _read_response(
    reader: asyncio.StreamReader, *, first_byte_stale: bool
) -> tuple[Response, bool]:
    """Read one response strictly; return it and whether the connection may be reused."""
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError as exc:
        if not exc.partial and first_byte_stale:
            raise _Stale from exc
        if not exc.partial:
            raise ProbeError("connection closed before a response", "refused") from exc
        raise ProbeError("bad response: headers cut short") from exc
    except asyncio.LimitOverrunError as exc:
        raise ProbeError(f"bad response: headers over {MAX_HEADER_BYTES // 1024} KB") from exc
    lines = head[:-4].split(b"\r\n")
    status_line = lines[0].decode("latin-1")
    version, _, rest = status_line.partition(" ")
    code = rest[:3]
    if version not in ("HTTP/1.1", "HTTP/1.0") or not code.isdigit() or rest[3:4] not in ("", " "):
        raise ProbeError(f"bad response: status line {status_line[:60]!r}")
    status = int(code)
    headers: dict[str, str] = {}
    for raw in lines[1:]:
        name, sep, value = raw.partition(b":")
        if not sep or not name or name != name.strip() or b" " in name:
            raise ProbeError(f"bad response: header line {raw[:60]!r}")
        key = name.decode("latin-1").lower()
        text = value.strip().decode("latin-1")
        headers[key] = f"{headers[key]}, {text}" if key in headers else text
    connection = headers.get("connection", "").lower()
    keep = "close" not in connection and (version == "HTTP/1.1" or "keep-alive" in connection)
    if status in (204, 304) or 100 <= status < 200:
        body = b""
    elif "chunked" in headers.get("transfer-encoding", "").lower():
        body = await _read_chunked(reader)
    elif "content-length" in headers:
        length_text = headers["content-length"]
        if not length_text.isdigit():
            raise ProbeError(f"bad response: Content-Length {length_text[:30]!r}")
        length = int(length_text)
        if length > MAX_BODY_BYTES:
            raise ProbeError(f"response body over {MAX_BODY_BYTES // (1024 * 1024)} MB")
        body = await reader.readexactly(length)
    else:
        body = await _read_to_close(reader)
        keep = False
    return Response(status, body, _charset(headers.get("content-type", ""))), keep


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while True:
        size_line = await reader.readuntil(b"\r\n")
        size_text = size_line[:-2].split(b";", 1)[0].strip()
        try:
            size = int(size_text, 16)
        except ValueError:
            raise ProbeError(f"bad response: chunk size {size_text[:20]!r}") from None
        if size == 0:
            while (await reader.readuntil(b"\r\n")) != b"\r\n":
                pass  # trailers
            return bytes(out)
        if len(out) + size > MAX_BODY_BYTES:
            raise ProbeError(f"response body over {MAX_BODY_BYTES // (1024 * 1024)} MB")
        out += await reader.readexactly(size)
        if await reader.readexactly(2) != b"\r\n":
            raise ProbeError("bad response: chunk not followed by CRLF")


async def _read_to_close(reader: asyncio.StreamReader) -> bytes:
    out = bytearray()
    while chunk := await reader.read(65536):
        out += chunk
        if len(out) > MAX_BODY_BYTES:
            raise ProbeError(f"response body over {MAX_BODY_BYTES // (1024 * 1024)} MB")
    return bytes(out)


def _charset(content_type: str) -> str:
    for part in content_type.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        if key.lower() == "charset" and value:
            return value.strip('"')
    return "utf-8"
