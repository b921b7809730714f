"""The early frame's log box follows the containers until the cockpit takes over.

An early frame with last lines frozen for the second the cockpit takes to start
would show a log that looks stalled. So one thread (the only one the early
frame starts) follows every running container's log over plain HTTP/1.0 on the
engine's socket, all connections in one selector, and hands new lines to the
frame at most every 0.1 s. It stops when drawing stops (``screen.stop_drawing``):
the cockpit then opens its own streams from the start.
"""

from __future__ import annotations

import selectors
import socket
import threading
import time
from collections.abc import Callable, Sequence
from urllib.parse import quote

from stagedeck.dockerwire.logframes import Line
from stagedeck.dockerwire.response import LogResponse, ProtocolError, TruncatedBody
from stagedeck.firstframe.known import LogLine, gated_lines, send_get

DRAW_EVERY_S = 0.1
CONNECT_TIMEOUT_S = 0.5


class _Stream:
    """One container's ``follow=1`` answer, read by the cockpit's own wire code as it arrives."""

    def __init__(self, service: str, shown_until: float) -> None:
        self.service = service
        self.shown_until = shown_until
        self.response = LogResponse(tty=None)  # tty or not: told by the body's first byte

    def feed(self, data: bytes) -> list[LogLine] | None:
        """New complete lines (after any already shown); None if the answer is unusable."""
        try:
            lines = self.response.feed(data)
        except ProtocolError:
            return None
        if self.response.status and not self.response.ok:
            return None
        return self._new(lines)

    def end(self) -> list[LogLine]:
        """The engine closed the connection: the last line, if it had no newline yet."""
        try:
            return self._new(self.response.eof())
        except TruncatedBody as cut:
            return self._new(cut.lines)
        except ProtocolError:
            return []

    def _new(self, lines: list[Line]) -> list[LogLine]:
        # ``since`` is inclusive (and whole seconds on older engines): what the tail showed
        # may come again. Only that is skipped; stdout and stderr are each in order but not
        # with each other, so a later line can carry an earlier time.
        return [x for x in gated_lines(self.service, lines) if x.at > self.shown_until]


class EarlyFollower(threading.Thread):
    """Follows ``streams`` (container id, service, last shown) and reports new lines."""

    def __init__(
        self,
        path: str,
        streams: Sequence[tuple[str, str, float]],
        on_lines: Callable[[list[LogLine]], object],
    ) -> None:
        super().__init__(name="early-frame-logs", daemon=True)
        self.path = path
        self.streams = streams
        self.on_lines = on_lines
        self._halt = threading.Event()

    def stop(self) -> None:
        self._halt.set()

    def run(self) -> None:
        selector = selectors.DefaultSelector()
        try:
            self._open(selector)
            self._follow(selector)
        except Exception:  # the early frame is a nicety: the cockpit follows the logs anyway
            pass
        finally:
            for key in list(selector.get_map().values()):
                key.fileobj.close()  # type: ignore[union-attr]
            selector.close()

    def _open(self, selector: selectors.BaseSelector) -> None:
        for container, service, shown_until in self.streams:
            since = f"{shown_until:.9f}"
            target = (
                f"/containers/{quote(container)}/logs?follow=1&stdout=1&stderr=1"
                f"&timestamps=1&since={since}"
            )
            sock = send_get(self.path, target, CONNECT_TIMEOUT_S)
            if sock is None:
                continue
            selector.register(sock, selectors.EVENT_READ, _Stream(service, shown_until))

    def _follow(self, selector: selectors.BaseSelector) -> None:
        pending: list[LogLine] = []
        last_draw = 0.0
        while selector.get_map() and not self._halt.is_set():
            for key, _ in selector.select(DRAW_EVERY_S):
                sock: socket.socket = key.fileobj  # type: ignore[assignment]
                try:
                    data = sock.recv(65536)
                except BlockingIOError:
                    continue
                except OSError:
                    data = b""
                stream: _Stream = key.data
                lines = stream.feed(data) if data else None
                if lines is None:  # closed by the engine (the container stopped), or unusable
                    if not data:
                        pending += stream.end()
                    selector.unregister(sock)
                    sock.close()
                    continue
                pending += lines
            now = time.monotonic()
            if pending and now - last_draw >= DRAW_EVERY_S and not self._halt.is_set():
                pending.sort()
                self.on_lines(pending)
                pending, last_draw = [], now
        if pending and not self._halt.is_set():  # every container stopped: their last words
            pending.sort()
            self.on_lines(pending)
