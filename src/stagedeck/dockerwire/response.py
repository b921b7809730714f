"""The engine's HTTP/1.x answers, parsed from raw socket bytes (no sockets here).

What a reader of the engine's socket needs from HTTP is small: a status line, a
few headers, and a body that is chunked (what the engine sends a followed log
over HTTP/1.1), delimited by ``Content-Length``, or read until the connection
closes (HTTP/1.0). :class:`HttpResponse` gives the body's bytes;
:class:`LogResponse` runs them through :class:`~.logframes.LogDecoder`, so
every reader of the logs API gets the same lines.

Everything here works on whatever pieces the socket hands over: a chunk-size
line, a frame header or a UTF-8 character may be split anywhere.
"""

from __future__ import annotations

import json

from stagedeck.dockerwire.logframes import Line, LogDecoder

MAX_HEAD = 64 * 1024
"""A response head (status line and headers) longer than this is not the engine's."""
MAX_SIZE_LINE = 1024
"""A chunk-size line (hex size, maybe extensions) longer than this is not HTTP."""
MAX_ERROR_BODY = 64 * 1024
"""Of an error response's body, this much is kept (the engine's JSON message is short)."""


class ProtocolError(Exception):
    """The bytes on the wire are not the HTTP response they should be."""


class TruncatedBody(ProtocolError):
    """The connection ended inside a chunked or sized body; ``lines`` were still complete."""

    def __init__(self, lines: list[Line]) -> None:
        super().__init__("connection closed inside the response body")
        self.lines = lines


class ChunkedDecoder:
    """Undoes ``Transfer-Encoding: chunked``: feed raw bytes, get body bytes back.

    ``done`` turns true at the terminating zero-size chunk (and its trailer).
    """

    _SIZE, _DATA, _DATA_END, _TRAILER, _DONE = range(5)

    def __init__(self) -> None:
        self._buf = bytearray()
        self._state = self._SIZE
        self._remaining = 0

    @property
    def done(self) -> bool:
        return self._state == self._DONE

    def feed(self, data: bytes) -> bytes:
        buf = self._buf
        buf += data
        out = bytearray()
        pos = 0
        end = len(buf)
        while pos < end:
            state = self._state
            if state == self._DATA:
                take = min(self._remaining, end - pos)
                out += buf[pos : pos + take]
                pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = self._DATA_END
                continue
            nl = buf.find(b"\n", pos)
            if nl < 0:
                limit = 2 if state == self._DATA_END else MAX_SIZE_LINE
                if end - pos > limit:
                    raise ProtocolError("chunked body: line too long")
                break
            line = bytes(buf[pos:nl]).rstrip(b"\r")
            pos = nl + 1
            if state == self._SIZE:
                self._remaining = _chunk_size(line)
                self._state = self._DATA if self._remaining else self._TRAILER
            elif state == self._DATA_END:
                if line:
                    raise ProtocolError("chunked body: chunk not followed by CRLF")
                self._state = self._SIZE
            elif state == self._TRAILER:
                if not line:
                    self._state = self._DONE
            else:  # done: whatever follows is not ours (the engine closes anyway)
                pos = end
        del buf[:pos]
        return bytes(out)


def _chunk_size(line: bytes) -> int:
    digits = line.split(b";", 1)[0].strip()
    try:
        size = int(digits, 16)
    except ValueError:
        raise ProtocolError(f"chunked body: bad chunk size {digits[:20]!r}") from None
    if size < 0 or digits[:1] in (b"-", b"+"):
        raise ProtocolError(f"chunked body: bad chunk size {digits[:20]!r}")
    return size


class HttpResponse:
    """One HTTP/1.x response, fed from the socket: status and headers, then body bytes.

    ``feed`` returns the body's bytes found so far (de-chunked). ``done`` says the
    body ended by its own framing (a terminating chunk, or ``Content-Length``
    read); a body delimited by the connection's end is done at :meth:`eof`.
    """

    def __init__(self) -> None:
        self.status = 0
        self.headers: dict[str, str] = {}
        self.done = False
        self._head = bytearray()
        self._in_body = False
        self._chunked: ChunkedDecoder | None = None
        self._length: int | None = None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def feed(self, data: bytes) -> bytes:
        if not self._in_body:
            self._head += data
            cut = self._head.find(b"\r\n\r\n")
            if cut < 0:
                if len(self._head) > MAX_HEAD:
                    raise ProtocolError("response head too long")
                return b""
            head, data = bytes(self._head[:cut]), bytes(self._head[cut + 4 :])
            self._head = bytearray()
            self._parse_head(head)
            self._in_body = True
        if self.done or not data:
            return b""
        if self._chunked is not None:
            body = self._chunked.feed(data)
            self.done = self._chunked.done
        elif self._length is not None:
            body = data[: self._length]
            self._length -= len(body)
            self.done = self._length == 0
        else:
            body = data
        return body

    def eof(self) -> None:
        """The connection ended: raises if that was before the head or inside a framed body."""
        if not self._in_body:
            raise ProtocolError("connection closed before the response head")
        if not self.done:
            if self._chunked is not None or self._length:
                raise TruncatedBody([])
            self.done = True

    def _parse_head(self, head: bytes) -> None:
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
            raise ProtocolError(f"not an HTTP/1 status line: {lines[0][:80]!r}")
        self.status = int(parts[1])
        for line in lines[1:]:
            name, sep, value = line.partition(":")
            if not sep:
                raise ProtocolError(f"bad header line: {line[:80]!r}")
            self.headers[name.strip().lower()] = value.strip()
        if "chunked" in self.headers.get("transfer-encoding", "").lower():
            self._chunked = ChunkedDecoder()
        elif "content-length" in self.headers:
            try:
                self._length = int(self.headers["content-length"])
            except ValueError:
                raise ProtocolError("bad Content-Length") from None
            self.done = self._length == 0
        if 100 <= self.status < 200:
            raise ProtocolError(f"unexpected interim status {self.status}")


def response_body(response: bytes) -> bytes | None:
    """The body of a complete 2xx response held whole in ``response``, else None."""
    http = HttpResponse()
    try:
        body = http.feed(response)
        http.eof()
    except ProtocolError:
        return None
    return body if http.ok else None


class LogResponse:
    """One logs API response, fed from the socket: status, headers, then log lines.

    ``feed`` returns the complete lines found so far. After a non-2xx status the
    body is kept (not decoded as logs) and :meth:`error` describes it; ``done``
    says the body ended by its own framing; a body delimited by the connection's
    end is done at :meth:`eof`. ``tty`` as for :class:`~.logframes.LogDecoder`
    (None: told from the body's first byte).
    """

    def __init__(self, tty: bool | None) -> None:
        self._http = HttpResponse()
        self._decoder = LogDecoder(tty)
        self._error_body = bytearray()

    @property
    def status(self) -> int:
        return self._http.status

    @property
    def headers(self) -> dict[str, str]:
        return self._http.headers

    @property
    def done(self) -> bool:
        return self._http.done

    @property
    def ok(self) -> bool:
        return self._http.ok

    def feed(self, data: bytes) -> list[Line]:
        was_done = self._http.done
        body = self._http.feed(data)
        if not self.ok:
            room = MAX_ERROR_BODY - len(self._error_body)
            self._error_body += body[: max(room, 0)]
            return []
        lines = self._decoder.feed(body) if body else []
        if self._http.done and not was_done:
            lines += self._decoder.flush()
        return lines

    def eof(self) -> list[Line]:
        """The connection ended: the last partial lines; raises if the body was cut short."""
        was_done = self._http.done
        try:
            self._http.eof()
        except TruncatedBody:
            raise TruncatedBody(self._decoder.flush() if self.ok else []) from None
        if was_done or not self.ok:
            return []
        return self._decoder.flush()

    def error(self) -> str:
        """The engine's message for a non-2xx answer (its JSON ``message``, else the body)."""
        raw = bytes(self._error_body)
        try:
            message = json.loads(raw).get("message")
        except (ValueError, AttributeError):
            message = None
        text = message if isinstance(message, str) else raw.decode(errors="replace").strip()
        return f"{self.status}: {text[:300]}" if text else str(self.status)


def request(path: str, params: dict[str, object]) -> bytes:
    """The GET request for ``path`` with ``params`` (values are numbers and simple tokens)."""
    from urllib.parse import urlencode

    query = urlencode(params)
    return (
        f"GET {path}?{query} HTTP/1.1\r\nHost: docker\r\nUser-Agent: stagedeck\r\n"
        "Connection: close\r\n\r\n"
    ).encode("ascii")
