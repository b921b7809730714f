"""The HTTP layer every demo service shares: requests, replies, routing, the server.

It is deliberately small and standard-library only (``http.server``). A
service is a :class:`App` — anything with ``handle(Request) -> Reply`` — so the
business code never touches sockets, and this module never knows about orders
or stock. ``http.server``'s own access log goes to stderr in a format the
cockpit cannot parse, so it is silenced; services log their own lines.
"""

from __future__ import annotations

import json
import re
import signal
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any, Protocol, cast
from urllib.parse import parse_qsl, unquote, urlsplit

MAX_BODY = 1_000_000
RID_PATTERN = re.compile(r"^[A-Za-z0-9._-]{1,64}$")
"""An incoming X-Request-Id is kept only if it is this tame, so logs stay parseable."""


class HTTPError(Exception):
    """Raise from a handler to answer with ``status`` and ``{"error": message}``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    body: Any
    rid: str
    params: dict[str, str] = field(default_factory=dict)
    """Filled from the route pattern (``/orders/{id}`` -> ``{"id": ...}``)."""

    @property
    def target(self) -> str:
        """Path and query as received, for log lines."""
        if not self.query:
            return self.path
        return self.path + "?" + "&".join(f"{k}={v}" for k, v in self.query.items())


@dataclass
class Reply:
    status: int
    body: Any
    reason: str = ""
    """Why a request failed, for the log line (clients see ``body``)."""


Handler = Callable[[Request], Reply]


class Router:
    """Method + path pattern -> handler; ``{name}`` matches one path segment."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern)
        self._routes.append((method, re.compile(f"^{regex}$"), handler))

    def match(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        allowed = []
        for route_method, regex, handler in self._routes:
            m = regex.match(path)
            if m is None:
                continue
            if route_method == method:
                return handler, {k: unquote(v) for k, v in m.groupdict().items()}
            allowed.append(route_method)
        if allowed:
            raise HTTPError(405, f"{method} not allowed on {path}; use {', '.join(allowed)}")
        raise HTTPError(404, f"no route for {method} {path}")

    def describe(self) -> list[str]:
        return [f"{method} {regex.pattern[1:-1]}" for method, regex, _ in self._routes]


def new_rid() -> str:
    return uuid.uuid4().hex[:8]


class App(Protocol):
    def handle(self, request: Request) -> Reply: ...


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    """A held long-poll must not delay shutdown: SIGTERM has to win within a second."""
    request_queue_size = 128
    """socketserver's default backlog of 5 makes a burst of clients wait 1 s for a SYN retry."""

    def __init__(self, address: tuple[str, int], app: App) -> None:
        self.app = app
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: probes reuse one connection
    server_version = "stagedeck-demo"
    timeout = 60  # an idle keep-alive connection frees its thread after this
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms stall

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def log_message(self, format: str, *args: Any) -> None:
        """Silence http.server's stderr access log; services write structured lines."""

    def _serve(self) -> None:
        app = cast(_Server, self.server).app
        split = urlsplit(self.path)
        headers = {k.lower(): v for k, v in self.headers.items()}
        rid = headers.get("x-request-id", "")
        if not RID_PATTERN.match(rid):
            rid = new_rid()
        request = Request(
            method=self.command,
            path=split.path,
            query=dict(parse_qsl(split.query)),
            headers=headers,
            body=None,
            rid=rid,
        )
        problem = self._read_body(request)
        reply = app.handle(request) if problem is None else problem
        self._send(reply, rid)

    def _read_body(self, request: Request) -> Reply | None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            self.close_connection = True  # without a length, the next request cannot be found
            return Reply(400, {"error": "bad Content-Length"}, "bad Content-Length")
        if length > MAX_BODY:
            self.close_connection = True
            return Reply(413, {"error": "request body too large"}, "body too large")
        raw = self.rfile.read(length) if length else b""
        if raw.strip():
            try:
                request.body = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                request.body = _INVALID
        return None

    def _send(self, reply: Reply, rid: str) -> None:
        payload = json.dumps(reply.body).encode()
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.send_header("X-Request-Id", rid)
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


class _Invalid:
    """Stands for a body that was not JSON, so the app can answer 400 with context."""

    def __repr__(self) -> str:
        return "<invalid JSON>"


_INVALID: Any = _Invalid()


def is_invalid_json(body: Any) -> bool:
    return body is _INVALID


class _Stop(BaseException):
    """Raised in the main thread by SIGTERM/SIGINT to leave ``serve_forever`` at once.

    A BaseException, like KeyboardInterrupt: socketserver catches ``Exception``
    around each request, so a signal landing while the main thread hands a
    connection to a new thread would otherwise be printed and ignored.
    """


def _stop(signum: int, frame: FrameType | None) -> None:
    # A second signal while we clean up kills the process the ordinary way.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    raise _Stop(signal.Signals(signum).name)


def bind(app: App, host: str, port: int) -> _Server:
    """Bind the listening socket now (so callers can report errors before serving)."""
    return _Server((host, port), app)


def serve(server: _Server, on_stop: Callable[[str], None]) -> None:
    """Serve until SIGTERM or SIGINT, then return promptly (well under a second).

    The signal handler raises in the main thread, which interrupts the
    selector wait immediately; handler threads are daemons and die with us.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
    try:
        server.serve_forever(poll_interval=0.5)
    except _Stop as exc:
        on_stop(str(exc))
    finally:
        try:
            server.server_close()
        except OSError:
            pass


def bound_port(server: _Server) -> int:
    return int(server.socket.getsockname()[1])
