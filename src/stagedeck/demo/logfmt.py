"""Structured log lines, one per line on stdout, in the format the cockpit parses.

::

    2026-11-22T03:20:00.123Z INFO  orders rid=7f3a9c2d created order o-00042 total=12.50

The level sits right after the timestamp, padded to five characters, so a
reader finds it at a fixed place; ``rid=`` lets the cockpit stitch one request
across services (``rid=-`` marks background work that belongs to no request).
Messages may carry text from clients, so control characters are escaped: one
call to :meth:`Log.line` is always exactly one line of output.
"""

from __future__ import annotations

import re
import sys
import threading
from datetime import UTC, datetime
from typing import Literal, TextIO

Level = Literal["DEBUG", "INFO", "WARN", "ERROR"]

LINE_PATTERN = re.compile(
    r"^(?P<ts>\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z) "
    r"(?P<level>DEBUG|INFO |WARN |ERROR) "
    r"(?P<service>[a-z][a-z0-9_-]*) "
    r"rid=(?P<rid>[A-Za-z0-9._-]+) "
    r"(?P<message>.*)$"
)
"""What every line matches; the tests hold the services to it."""

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")


def timestamp(now: datetime | None = None) -> str:
    """ISO 8601 UTC with milliseconds and a ``Z``: sortable and unambiguous."""
    now = now or datetime.now(UTC)
    return now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"


def escape(text: str) -> str:
    """Make ``text`` safe for a single log line (newlines, escape sequences, ...)."""
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group(0)):02x}", text)


def quoted(text: str) -> str:
    """A value that may hold spaces, quoted so ``key="..."`` stays one token."""
    return '"' + escape(text).replace('"', "'") + '"'


class Log:
    """Writes lines for one service; safe to call from many handler threads."""

    def __init__(self, service: str, stream: TextIO | None = None) -> None:
        self.service = service
        self._stream = stream
        self._lock = threading.Lock()

    def line(self, level: Level, rid: str, message: str) -> None:
        text = f"{timestamp()} {level:<5} {self.service} rid={rid or '-'} {escape(message)}\n"
        stream = self._stream or sys.stdout
        with self._lock:
            try:
                stream.write(text)
                stream.flush()
            except (BrokenPipeError, ValueError):
                pass  # whoever read our output has gone; the service keeps serving

    def debug(self, rid: str, message: str) -> None:
        self.line("DEBUG", rid, message)

    def info(self, rid: str, message: str) -> None:
        self.line("INFO", rid, message)

    def warn(self, rid: str, message: str) -> None:
        self.line("WARN", rid, message)

    def error(self, rid: str, message: str) -> None:
        self.line("ERROR", rid, message)
