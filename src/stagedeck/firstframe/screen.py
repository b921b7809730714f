"""The terminal while the early frame is up, and handing it to the cockpit (or back).

Painting puts the terminal where the cockpit will want it: on the alternate
screen, cursor hidden, input non-canonical and unechoed (signals stay on, so
Ctrl+C still stops a start that hangs). Keys typed meanwhile stay in the
terminal's input queue for Textual to read. The terminal's own settings are
kept (:func:`saved_attributes`) because Textual restores what it finds when it
starts, and what it would find now is ours.

Until the cockpit takes over, standard output and error are held back: a
message printed over the frame would be garbled and then lost with the
alternate screen. :func:`release` (at the latest, at exit) gives the screen and
terminal back when the cockpit never took them, then prints what was held.

The frame may be redrawn in part from another thread (new log lines, see
:mod:`.follow`) until :func:`stop_drawing`: every write takes one lock and checks
that the screen is still ours, so nothing of the early frame lands after the
cockpit's first byte.
"""

from __future__ import annotations

import atexit
import io
import os
import sys
import termios
import threading
from collections.abc import Callable
from typing import Any, TextIO

ENTER = "\x1b[?1049h\x1b[?25l"
LEAVE = "\x1b[?1049l\x1b[?25h"


class _State:
    painted = False
    drawing = False
    handed_over = False
    attributes: list[Any] | None = None
    held: list[tuple[str, TextIO, io.StringIO]] = []
    """(name in ``sys``, the real stream, what was written to it meanwhile)."""
    on_stop: list[Callable[[], None]] = []
    lock = threading.Lock()


_state = _State()


def painted() -> bool:
    """Whether an early frame is (or was, until the cockpit took over) on the screen."""
    return _state.painted


def saved_attributes() -> list[Any] | None:
    """The terminal's settings from before the early frame (None if nothing was painted)."""
    return _state.attributes if _state.painted else None


def paint(lines: list[str]) -> bool:
    """Switch to the alternate screen and draw ``lines``; False (and nothing done) if none."""
    if not lines or _state.painted:
        return False
    fd = sys.stdin.fileno()
    attributes = termios.tcgetattr(fd)
    quiet = termios.tcgetattr(fd)
    quiet[3] &= ~(termios.ICANON | termios.ECHO)
    quiet[6][termios.VMIN] = 1
    quiet[6][termios.VTIME] = 0
    termios.tcsetattr(fd, termios.TCSANOW, quiet)
    _state.painted, _state.drawing, _state.attributes = True, True, attributes
    atexit.register(release)
    os.write(sys.stderr.fileno(), (ENTER + positioned(1, lines)).encode("utf-8", "replace"))
    for name in ("stdout", "stderr"):
        held = io.StringIO()
        _state.held.append((name, getattr(sys, name), held))
        setattr(sys, name, held)
    return True


def positioned(first_row: int, lines: list[str]) -> str:
    return "".join(f"\x1b[{row};1H{line}\x1b[0m" for row, line in enumerate(lines, first_row))


def redraw(first_row: int, lines: list[str]) -> bool:
    """Draw ``lines`` from ``first_row`` (1-based) if the screen is still the early frame's."""
    with _state.lock:
        if not _state.drawing:
            return False
        assert sys.__stderr__ is not None
        os.write(sys.__stderr__.fileno(), positioned(first_row, lines).encode("utf-8", "replace"))
        return True


def when_stopped(callback: Callable[[], None]) -> None:
    """Call ``callback`` when drawing stops (to stop a thread that redraws)."""
    _state.on_stop.append(callback)


def stop_drawing() -> None:
    """No more writes from the early frame: the cockpit is about to draw, or we leave."""
    with _state.lock:
        _state.drawing = False
    while _state.on_stop:
        _state.on_stop.pop()()


def handed_over() -> None:
    """The cockpit's driver has the screen and the terminal now (it will restore both)."""
    stop_drawing()
    _state.handed_over = True


def release() -> None:
    """Give back what the cockpit did not take, and print what was held. Safe to repeat."""
    if not _state.painted:
        return
    stop_drawing()
    if not _state.handed_over:
        _state.handed_over = True  # nothing left to give back after this
        try:
            assert sys.__stderr__ is not None and sys.__stdin__ is not None
            os.write(sys.__stderr__.fileno(), LEAVE.encode("ascii"))
            if _state.attributes is not None:
                termios.tcsetattr(sys.__stdin__.fileno(), termios.TCSADRAIN, _state.attributes)
        except (OSError, termios.error, AssertionError, ValueError):
            pass  # the terminal is gone: nothing to restore
    while _state.held:
        name, stream, held = _state.held.pop(0)
        if getattr(sys, name) is held:
            setattr(sys, name, stream)
        if held.getvalue():
            stream.write(held.getvalue())
            stream.flush()
