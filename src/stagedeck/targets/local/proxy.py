"""A small TCP proxy in front of a service, whose delay and drop rate faults set.

For services with no chaos endpoint of their own, ``proxy = true`` in the
recipe has the local target put this proxy on the service's port (the service listens on
``$PORT``). With no fault set it only copies bytes: the cost per request is
measured by ``bench/bench_proxy.py`` (well under a millisecond). A fault sets

* ``delay_ms``: each new connection waits that long before it is connected,
  and each chunk from the client waits too (so keep-alive requests slow down);
* ``drop_rate``: that share of new connections is closed at once (the client
  sees a reset, like a crashed upstream).

It works at the TCP level, so it serves HTTP, gRPC, Postgres alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import socket
import struct

CHUNK = 65536
_RESET = struct.pack("ii", 1, 0)
"""SO_LINGER on, timeout 0: closing sends a reset."""


class FaultProxy:
    def __init__(
        self,
        listen_host: str,
        listen_port: int,
        backend_host: str,
        backend_port: int,
        *,
        rng: random.Random | None = None,
    ) -> None:
        self.listen_host = listen_host
        self.listen_port = listen_port
        self.backend_host = backend_host
        self.backend_port = backend_port
        self.delay_ms = 0.0
        self.drop_rate = 0.0
        self.connections = 0
        self.dropped = 0
        self._rng = rng or random.Random()
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    def set_fault(self, *, delay_ms: float | None = None, drop_rate: float | None = None) -> None:
        if delay_ms is not None:
            if not 0 <= delay_ms <= 60_000:
                raise ValueError("delay_ms must be between 0 and 60000")
            self.delay_ms = float(delay_ms)
        if drop_rate is not None:
            if not 0 <= drop_rate <= 1:
                raise ValueError("drop_rate must be between 0 and 1")
            self.drop_rate = float(drop_rate)

    def clear(self) -> None:
        self.delay_ms = 0.0
        self.drop_rate = 0.0

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._handle, self.listen_host, self.listen_port, reuse_address=True
        )
        if not self.listen_port:
            self.listen_port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        if task is not None:
            self._tasks.add(task)
        self.connections += 1
        try:
            if self.drop_rate and self._rng.random() < self.drop_rate:
                self.dropped += 1
                self._reset(writer)
                return
            if self.delay_ms:
                await asyncio.sleep(self.delay_ms / 1000)
            try:
                up_reader, up_writer = await asyncio.open_connection(
                    self.backend_host, self.backend_port
                )
            except OSError:
                self._reset(writer)  # the service is not listening: say so as it would
                return
            await asyncio.gather(
                self._pipe(reader, up_writer, delay=True),
                self._pipe(up_reader, writer, delay=False),
                return_exceptions=True,
            )
        finally:
            with contextlib.suppress(Exception):
                writer.close()
            if task is not None:
                self._tasks.discard(task)

    @staticmethod
    def _reset(writer: asyncio.StreamWriter) -> None:
        """Close with a reset, not a polite close: what a dead upstream looks like."""
        sock = writer.get_extra_info("socket")
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _RESET)
        writer.close()

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, *, delay: bool
    ) -> None:
        try:
            while data := await reader.read(CHUNK):
                if delay and self.delay_ms:
                    await asyncio.sleep(self.delay_ms / 1000)
                writer.write(data)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            with contextlib.suppress(Exception):
                if writer.can_write_eof():
                    writer.write_eof()
