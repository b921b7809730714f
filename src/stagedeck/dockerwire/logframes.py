"""The logs API's body: 8-byte-headed frames, or a TTY container's raw bytes, as lines.

Whatever pieces the socket hands over may be cut anywhere: inside a frame
header, a time stamp or a UTF-8 character.
"""

from __future__ import annotations

import time

from stagedeck.dockerwire.stamps import split_timestamp

STAMP_MAX = 40
"""Longer than any RFC 3339 time stamp the engine writes, with the space after it."""
MAX_LINE = 16 * 1024
"""Longer log lines are cut, as in the local target: the first ``MAX_LINE`` bytes and " …".

Also the log driver's message size: a longer line is stored as several partial
messages, each with a time stamp of its own. In a TTY container's unframed bytes
those stamps sit inside the line, every ``MAX_LINE`` bytes, so the cut at
``MAX_LINE`` (and dropping the rest of the line) is what keeps them out of it."""

Line = tuple[int, str, str]
"""(nanoseconds since the epoch, "out" or "err", text): what :class:`LogDecoder` yields.

The text is raw (decoded with replacement characters only): the caller sends it
through the gate (``stagedeck.text``)."""


class LogDecoder:
    """Turns the logs API's byte stream into (nanoseconds, stream, text) lines.

    Non-TTY containers send 8-byte-headed frames (stream id, length); a TTY
    container sends the raw bytes. ``tty=None`` tells them apart by the first
    byte (a frame starts with stream id 0, 1 or 2; with ``timestamps`` every
    message starts with a digit), for a reader that has not inspected the
    container. With ``timestamps=1`` every message starts with an RFC 3339 time.
    A message longer than the log driver's buffer comes as several partial
    messages, each with its own time: they are joined here into one line with
    the first time, cut at :data:`MAX_LINE`.
    """

    def __init__(self, tty: bool | None, *, timestamps: bool = True) -> None:
        self.tty = tty
        self.timestamps = timestamps
        self._buf = bytearray()
        self._partial: dict[str, bytes] = {"out": b"", "err": b""}
        self._ts: dict[str, int] = {"out": 0, "err": 0}
        self._at_start: dict[str, bool] = {"out": True, "err": True}
        self._cut: dict[str, bool] = {"out": False, "err": False}
        """The line was too long and has been given out cut: drop the rest up to its end."""
        self._held = b""
        """A TTY line's start too short to hold its whole time stamp yet (cut by a read)."""

    def feed(self, data: bytes) -> list[Line]:
        lines: list[Line] = []
        if self.tty is None:
            if not data:
                return lines
            self.tty = data[0] not in (0, 1, 2)
        if self.tty:
            if self._held:
                data, self._held = self._held + data, b""
            self._payload("out", data, lines)
            return lines
        buf = self._buf
        buf += data
        pos = 0
        while len(buf) - pos >= 8:
            kind = buf[pos]
            length = int.from_bytes(buf[pos + 4 : pos + 8], "big")
            if len(buf) - pos - 8 < length:
                break
            payload = bytes(buf[pos + 8 : pos + 8 + length])
            pos += 8 + length
            self._payload("err" if kind == 2 else "out", payload, lines)
        del buf[:pos]
        return lines

    def flush(self) -> list[Line]:
        """Whatever partial lines are left when the stream ends."""
        lines: list[Line] = []
        if self._held:
            held, self._held = self._held, b""
            ts, text = split_timestamp(held)
            if text:
                lines.append((ts or time.time_ns(), "out", _text(text)))
        for stream, text in self._partial.items():
            if text:
                lines.append((self._ts[stream], stream, _text(text)))
                self._partial[stream] = b""
        return lines

    def _payload(self, stream: str, payload: bytes, lines: list[Line]) -> None:
        pieces = payload.split(b"\n")
        last = len(pieces) - 1
        for i, piece in enumerate(pieces):
            if i == last and not piece:
                break
            if self._cut[stream]:
                # The rest of a line already given out cut (with its partial messages' stamps).
                if i < last:
                    self._cut[stream] = False
                    self._at_start[stream] = True
                continue
            ts, text = split_timestamp(piece) if self.timestamps else (None, piece)
            if (
                i == last
                and self.tty
                and self.timestamps
                and self._at_start[stream]
                and len(piece) < STAMP_MAX
            ):
                # Unframed bytes can be cut in (or just after) the stamp: wait for more.
                self._held = piece
                break
            if ts is not None and (self._at_start[stream] or not self.tty):
                if self._at_start[stream]:
                    self._ts[stream] = ts
            else:
                text = piece
            if self._at_start[stream] and ts is None:
                self._ts[stream] = time.time_ns()
            pending = self._partial[stream] + text
            if i < last:
                lines.append((self._ts[stream], stream, _text(pending)))
                self._partial[stream] = b""
                self._at_start[stream] = True
            else:
                if len(pending) > MAX_LINE:
                    lines.append((self._ts[stream], stream, _text(pending)))
                    pending = b""
                    self._cut[stream] = True
                self._partial[stream] = pending
                self._at_start[stream] = not pending and not self._cut[stream]


def _text(raw: bytes) -> str:
    if len(raw) > MAX_LINE:
        return raw[:MAX_LINE].decode(errors="replace") + " …"
    return raw.decode(errors="replace")
