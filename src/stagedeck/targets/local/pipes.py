"""Reading a child process's output pipes into whole lines, cheaply.

A service that logs line by line makes its pipe readable once per line; waking
for each one cost the cockpit a tenth of a core at 2,000 lines a second. So a
service's pipe is read at most every :data:`COALESCE_SECONDS`: the first line
after a quiet spell is read at once, and whatever follows in the next 50 ms
waits in the pipe (enlarged to :data:`PIPE_BYTES`) and comes in one read.

A service writing faster than the pipe holds in that time (about 20 MB/s) waits
on its writes, as it would writing to a terminal; the lines it does get through
are still subject to the engine's per-service ceiling before anything is decoded.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
from collections.abc import Callable

MAX_LINE = 16 * 1024
"""Longer lines are cut: one runaway line must not hold the whole buffer."""
COALESCE_SECONDS = 0.05
PIPE_BYTES = 1 << 20
_F_SETPIPE_SZ = getattr(fcntl, "F_SETPIPE_SZ", 1031)

LineDeliver = Callable[[list[str], str], None]
"""Takes a batch of lines and the name of the stream they came from."""


class LineSplitter:
    """Turns chunks of bytes into batches of decoded lines, admitting before decoding."""

    def __init__(
        self, deliver: LineDeliver, stream: str, admit: Callable[[int], int] | None = None
    ) -> None:
        self.deliver = deliver
        self.stream = stream
        self.admit = admit
        self._pending = b""

    def feed(self, chunk: bytes) -> None:
        pending = self._pending + chunk if self._pending else chunk
        if b"\n" not in pending:
            if len(pending) > MAX_LINE:
                self.deliver([pending[:MAX_LINE].decode(errors="replace") + " …"], self.stream)
                pending = b""
            self._pending = pending
            return
        *complete, self._pending = pending.split(b"\n")
        if self.admit is not None:
            keep = self.admit(len(complete))
            if keep < len(complete):
                complete = complete[len(complete) - keep :]  # over the ceiling: newest only
            if not complete:
                return
        self.deliver(
            [
                (line[:MAX_LINE] + b" \xe2\x80\xa6" if len(line) > MAX_LINE else line).decode(
                    errors="replace"
                )
                for line in complete
            ],
            self.stream,
        )

    def close(self) -> None:
        if self._pending:
            self.deliver([self._pending.decode(errors="replace")], self.stream)
            self._pending = b""


def open_pipe() -> tuple[int, int]:
    """A pipe (read end, write end) as large as the system allows up to ``PIPE_BYTES``."""
    read_end, write_end = os.pipe()
    with contextlib.suppress(OSError):
        fcntl.fcntl(read_end, _F_SETPIPE_SZ, PIPE_BYTES)
    os.set_blocking(read_end, False)
    return read_end, write_end


def _wake(ready: asyncio.Future[None]) -> None:
    if not ready.done():
        ready.set_result(None)


async def read_pipe(
    fd: int,
    deliver: LineDeliver,
    stream: str,
    admit: Callable[[int], int] | None = None,
    *,
    pause: float = COALESCE_SECONDS,
) -> None:
    """Read ``fd`` (non-blocking, owned: closed here) until end of file, coalescing wake-ups."""
    loop = asyncio.get_running_loop()
    splitter = LineSplitter(deliver, stream, admit)
    try:
        while True:
            ready: asyncio.Future[None] = loop.create_future()
            loop.add_reader(fd, _wake, ready)
            try:
                await ready
            finally:
                loop.remove_reader(fd)
            eof = False
            chunks: list[bytes] = []
            while True:
                try:
                    chunk = os.read(fd, PIPE_BYTES)
                except BlockingIOError:
                    break
                except OSError:
                    eof = True
                    break
                if not chunk:
                    eof = True
                    break
                chunks.append(chunk)
                if len(chunk) < PIPE_BYTES:
                    break  # drained; more now would be a second wake-up's worth
            if chunks:
                splitter.feed(b"".join(chunks) if len(chunks) > 1 else chunks[0])
            if eof:
                break
            await asyncio.sleep(pause)
        splitter.close()
    finally:
        os.close(fd)


async def read_stream(
    stream: asyncio.StreamReader,
    deliver: LineDeliver,
    stream_name: str,
    admit: Callable[[int], int] | None = None,
) -> None:
    """Read an asyncio stream in chunks (for short-lived commands) and hand over whole lines."""
    splitter = LineSplitter(deliver, stream_name, admit)
    while chunk := await stream.read(65536):
        splitter.feed(chunk)
    splitter.close()
