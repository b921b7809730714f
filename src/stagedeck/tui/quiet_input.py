"""Textual's Linux input thread, waking when a key arrives instead of ten times a second.

Textual's driver reads the terminal in a thread that polls with a 0.1 s timeout,
to notice that it should stop and to time out a lone Escape. Idle, that is ten
wake-ups a second, 0.10-0.17 % of a core: a tenth of what the whole Docker
cockpit costs at rest. Here the thread waits without a timeout while nothing is
pending: only as long as the parser's own deadline when it holds half a key
sequence (so Escape still arrives on time), and the stop flag wakes it through a
pipe. The loop is Textual's own (``LinuxDriver.run_input_thread``, Textual 8),
with that wait as the only difference.
"""

from __future__ import annotations

import contextlib
import os
import selectors
import threading
from codecs import getincrementaldecoder
from typing import Any

from textual._loop import loop_last
from textual._time import get_time
from textual._xterm_parser import XTermParser
from textual.drivers.linux_driver import LinuxDriver

POLL_S = 0.1
"""Textual's own poll, used while a key sequence is pending."""
UNKNOWN = object()


class _WakingEvent(threading.Event):
    """The driver's stop flag: setting it also wakes the input thread's wait."""

    def __init__(self, wake_fd: int) -> None:
        super().__init__()
        self._wake_fd = wake_fd

    def set(self) -> None:
        super().set()
        with contextlib.suppress(OSError):  # full (already woken) or closed: either is fine
            os.write(self._wake_fd, b"!")


class QuietInputDriver(LinuxDriver):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self.exit_event = _WakingEvent(self._wake_write)

    def run_input_thread(self) -> None:
        selector = selectors.SelectSelector()
        fileno, wake = self.fileno, self._wake_read
        selector.register(fileno, selectors.EVENT_READ)
        selector.register(wake, selectors.EVENT_READ)
        parser = XTermParser(self._debug)
        decode = getincrementaldecoder("utf-8")().decode

        def process(events: list[tuple[selectors.SelectorKey, int]], final: bool = False) -> None:
            for last, (key, mask) in loop_last(events):
                if key.fd == wake:
                    with contextlib.suppress(OSError):
                        os.read(wake, 64)
                    continue
                if mask & selectors.EVENT_READ:
                    text = decode(os.read(fileno, 1024 * 4), final=final and last)
                    if not text:
                        break  # stdin piped and ended
                    for event in parser.feed(text):
                        self.process_message(event)
            for event in parser.tick():
                self.process_message(event)

        def wait() -> float | None:
            """None (until input or stop) unless the parser waits to time out a sequence."""
            deadline = getattr(parser, "_timeout_time", UNKNOWN)
            if deadline is None:
                return None
            if not isinstance(deadline, float):  # a Textual that no longer says: as it polls
                return POLL_S
            return max(0.0, min(POLL_S, deadline - get_time()))

        try:
            while not self.exit_event.is_set():
                process(selector.select(wait()))
            selector.unregister(fileno)
            process(selector.select(0.1), final=True)
        finally:
            selector.close()
