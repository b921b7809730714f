"""Every container's log stream in one thread: a selector over raw engine connections.

The SDK path (:class:`~stagedeck.targets.docker.streams.LogFollower`) gives each
container a thread that blocks in requests/urllib3, which parse the chunked
response in Python at about half a millisecond of CPU per log line: with twenty
containers at a line a second, the largest share of an idle Docker cockpit's
CPU outside its main thread. When the engine is on a unix socket (the usual
case) :class:`LogMux` instead opens one plain HTTP/1.1 connection per
container and reads them all from one thread with :mod:`selectors`, parsing the
responses itself (:mod:`stagedeck.dockerwire`); a quiet container
costs nothing, a line costs one ``recv`` and a few slices. Engines reached over
TCP, TLS or SSH keep the SDK path.

:class:`MuxFollower` keeps :class:`LogFollower`'s contract, so the target treats
both alike: :meth:`MuxFollower.again` asks for a reconnect once the current
stream ends (False when it has finished), a reconnect resumes from the last line
seen on each stream with nothing repeated, "no such container" ends it, and a
stream broken more than three times in a row gives up.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import selectors
import socket
import threading
import time
from typing import TYPE_CHECKING

from stagedeck.dockerwire.response import LogResponse, ProtocolError, TruncatedBody, request
from stagedeck.targets.docker.streams import FollowState

if TYPE_CHECKING:
    import docker

    from stagedeck.dockerwire.logframes import Line
    from stagedeck.targets.docker.streams import LogBatcher, LogRecord

log = logging.getLogger("stagedeck.docker")

RECV_BYTES = 256 * 1024
GATHER_SECONDS = 0.25
"""After delivering lines the thread waits this long before it looks again, so the lines
of many quiet containers are read and handed over together: what an idle cockpit pays
for a log line is mostly the wake-ups (of this thread, then of the event loop), not the
parsing. A quarter second is the log view's own look interval."""
BUSY_BYTES = 64 * 1024
"""A read this large means a stream is flooding: no gathering pause, read on at once
(a pause would let the engine's socket buffer fill and slow the flood down)."""
CONNECT_TIMEOUT = 10.0
"""Connecting and sending the request block the mux thread (a local socket: microseconds)."""
MAX_ERRORS = 3
"""Broken streams in a row after which a follower gives up (as :class:`LogFollower`)."""


def unix_socket_of(api: docker.APIClient) -> tuple[str, str] | None:
    """(socket path, URL path prefix) when ``api`` talks to a unix socket, else None."""
    from docker.transport.unixconn import UnixHTTPAdapter

    adapter = getattr(api, "_custom_adapter", None)
    if not isinstance(adapter, UnixHTTPAdapter):
        return None
    path = getattr(adapter, "socket_path", None)
    url = api._url("/containers/{0}/logs", "ID")
    if not isinstance(path, str) or not url.startswith(api.base_url):
        return None
    return path, url[len(api.base_url) :].removesuffix("/containers/ID/logs")


class MuxFollower(FollowState):
    """One container's log stream inside a :class:`LogMux` (the loop's handle on it)."""

    def __init__(
        self,
        mux: LogMux,
        socket_path: str,
        prefix: str,
        container_id: str,
        service: str,
        *,
        tty: bool,
        resume: dict[str, int] | None,
        tail: int,
    ) -> None:
        self._init_follow(service, resume, tail)
        self.mux = mux
        self.socket_path = socket_path
        self.prefix = prefix
        self.container_id = container_id
        self.tty = tty
        self.busy = False
        self.connects = 0
        """Connections made (for tests: a resume is a second connection)."""
        self._errors = 0
        self._sock: socket.socket | None = None
        self._response: LogResponse | None = None

    # -- called on the loop's thread

    def stop(self) -> None:
        with self._guard:
            if self.finished or self._cancelled:
                return
            self._cancelled = True
        self.mux._request_stop(self)

    # -- everything below runs on the mux thread

    def _connect(self) -> socket.socket:
        path = f"{self.prefix}/containers/{self.container_id}/logs"
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            sock.settimeout(CONNECT_TIMEOUT)
            sock.connect(self.socket_path)
            sock.sendall(request(path, self._params()))
            sock.setblocking(False)
        except BaseException:
            sock.close()
            raise
        self.connects += 1
        self._sock = sock
        self._response = LogResponse(self.tty)
        return sock

    def _read(self, records: list[LogRecord]) -> str | None:
        """Read what is there; returns how the stream ended ("end", "gone", "error") or None.

        ``busy`` says whether the read was a large one (see :data:`BUSY_BYTES`).
        """
        sock, response = self._sock, self._response
        assert sock is not None and response is not None
        if self._cancelled:
            return "end"
        try:
            data = sock.recv(RECV_BYTES)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as exc:
            log.debug("log stream of %s broke: %s", self.service, exc)
            return "error"
        self.busy = len(data) >= BUSY_BYTES
        try:
            if not data:
                self._deliver(response.eof(), records)
                return self._outcome(response)
            self._deliver(response.feed(data), records)
        except TruncatedBody as exc:
            self._deliver(exc.lines, records)
            log.debug("log stream of %s cut short", self.service)
            return "error"
        except ProtocolError as exc:
            log.debug("log stream of %s: %s", self.service, exc)
            return "error"
        return self._outcome(response) if response.done else None

    def _outcome(self, response: LogResponse) -> str:
        if response.ok:
            return "end"
        if response.status == 404:
            return "gone"  # no such container: as the SDK's NotFound, this follower is done
        log.debug("log stream of %s refused: %s", self.service, response.error())
        return "error"

    def _deliver(self, lines: list[Line], records: list[LogRecord]) -> None:
        if lines:
            records.extend(self._fresh(lines))

    def _close(self) -> None:
        sock, self._sock, self._response = self._sock, None, None
        if sock is not None:
            try:
                sock.close()
            except OSError:
                pass

    def _ended(self, outcome: str) -> float | None:
        """The stream ended: seconds until the reconnect, or None when this follower is done."""
        self._close()
        self._errors = self._errors + 1 if outcome == "error" else 0
        with self._guard:
            if (
                outcome == "gone"
                or self._cancelled
                or not self._wanted
                or self._errors > MAX_ERRORS
            ):
                self.finished = True
                return None
            self._wanted = False
        return 0.2 * self._errors


class LogMux(threading.Thread):
    """Reads many containers' followed log streams in one thread and feeds the batcher."""

    def __init__(self, batcher: LogBatcher, gather: float = GATHER_SECONDS) -> None:
        super().__init__(name="docker-logs", daemon=True)
        self.batcher = batcher
        self.gather = gather
        self._selector = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._selector.register(self._wake_r, selectors.EVENT_READ, None)
        self._lock = threading.Lock()
        self._starting: list[MuxFollower] = []
        self._stopping: list[MuxFollower] = []
        self._closing = False
        self._closed = threading.Event()
        self._timers: list[tuple[float, int, MuxFollower]] = []
        self._order = itertools.count()
        self._live: set[MuxFollower] = set()

    def follow(
        self,
        api: docker.APIClient,
        container_id: str,
        service: str,
        *,
        tty: bool,
        resume: dict[str, int] | None = None,
        tail: int = 500,
    ) -> MuxFollower | None:
        """Start following ``container_id``; None when ``api`` is not on a unix socket."""
        where = unix_socket_of(api)
        if where is None:
            return None
        follower = MuxFollower(
            self, where[0], where[1], container_id, service, tty=tty, resume=resume, tail=tail
        )
        with self._lock:
            if self._closing:
                follower.finished = True
                return follower
            self._starting.append(follower)
        self._wake()
        return follower

    def close(self) -> None:
        """Stop every stream; the thread ends soon after (join it)."""
        with self._lock:
            self._closing = True
        self._closed.set()
        self._wake()

    def _request_stop(self, follower: MuxFollower) -> None:
        with self._lock:
            self._stopping.append(follower)
        self._wake()

    def _wake(self) -> None:
        try:
            self._wake_w.send(b"x")
        except (BlockingIOError, OSError):  # full (a wake-up is pending anyway) or closed
            pass

    # ------------------------------------------------------------------ the thread

    def run(self) -> None:
        try:
            self._run()
        except Exception:  # a bug must not leave streams dangling without a word
            log.exception("docker log reader failed")
        finally:
            with self._lock:
                self._closing = True  # a follow() from now on is finished at once
                left = self._starting + self._stopping
                self._starting, self._stopping = [], []
            for follower in left + list(self._live):
                follower._close()
                with follower._guard:
                    follower.finished = True
            self._live.clear()
            self._selector.close()
            self._wake_r.close()
            self._wake_w.close()

    def _run(self) -> None:
        selector = self._selector
        while True:
            timeout = None
            if self._timers:
                timeout = max(0.0, self._timers[0][0] - time.monotonic())
            ready = selector.select(timeout)
            records: list[LogRecord] = []
            busy = False
            for key, _ in ready:
                follower: MuxFollower | None = key.data
                if follower is None:
                    self._drain_wake()
                    continue
                outcome = follower._read(records)
                busy = busy or follower.busy
                if outcome is not None:
                    self._end(follower, outcome)
            with self._lock:
                if self._closing:
                    break
                starting, self._starting = self._starting, []
                stopping, self._stopping = self._stopping, []
            for follower in stopping:
                if follower in self._live:
                    self._end(follower, "end")
            for follower in starting:
                self._start(follower)
            now = time.monotonic()
            while self._timers and self._timers[0][0] <= now:
                _, _, follower = heapq.heappop(self._timers)
                self._start(follower)
            if records:
                self.batcher.add(records, at_once=True)
                if not busy and self.gather > 0:
                    self._closed.wait(self.gather)

    def _drain_wake(self) -> None:
        try:
            while self._wake_r.recv(4096):
                pass
        except (BlockingIOError, InterruptedError):
            pass

    def _start(self, follower: MuxFollower) -> None:
        if follower._cancelled:
            self._end(follower, "end")
            return
        try:
            sock = follower._connect()
        except OSError as exc:
            log.debug("log stream of %s: cannot connect: %s", follower.service, exc)
            self._end(follower, "error")
            return
        self._live.add(follower)
        self._selector.register(sock, selectors.EVENT_READ, follower)

    def _end(self, follower: MuxFollower, outcome: str) -> None:
        sock = follower._sock
        if sock is not None:
            try:
                self._selector.unregister(sock)
            except (KeyError, ValueError):
                pass
        delay = follower._ended(outcome)
        if delay is None:
            self._live.discard(follower)
            return
        self._live.add(follower)
        heapq.heappush(self._timers, (time.monotonic() + delay, next(self._order), follower))

    def streams(self) -> int:
        """Connections open now (for tests: one per running container, none left over)."""
        return sum(1 for f in list(self._live) if f._sock is not None)
