"""The first frame, drawn before the cockpit's own code is even imported.

Python needs 0.6-0.8 s to import the command line, the core and Textual, build
the cockpit and render it; lazydocker, one Go binary, shows its containers in
0.2 s. What a user looks for first (which services there are, whether they run,
what they last said) is known long before that: it is in the recipe file, or
one request away from the Docker engine. So the entry points call
:func:`paint_early` before importing anything heavy: for the commands that open
the cockpit it reads what is known at once (:mod:`.known`, standard library
only), draws it on the alternate screen (:mod:`.layout`) and puts the terminal
in non-canonical, no-echo mode, so keys pressed meanwhile wait, unechoed, for
the cockpit. The cockpit's Textual driver then takes the screen over without
clearing it (``tui/handover.py``), so the real first frame replaces this one in
place. Nothing here is invented: a service with no known state says so.

Whatever goes wrong (an unknown flag, a recipe that does not parse, no Docker
engine, a slow one) means no early frame, never an error: the command then runs
exactly as it would have. If the command ends without opening the cockpit (a
bad recipe, a refused attach), :func:`release` restores the screen and the
terminal before its message is shown (see :mod:`.screen`).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from stagedeck.firstframe.screen import (
    handed_over,
    painted,
    release,
    saved_attributes,
    stop_drawing,
)

if TYPE_CHECKING:
    from stagedeck.firstframe.known import Known, LogLine

__all__ = [
    "handed_over",
    "paint_early",
    "painted",
    "release",
    "saved_attributes",
    "stop_drawing",
]

DISABLE_VARIABLE = "STAGEDECK_NO_EARLY_FRAME"


def paint_early(argv: Sequence[str]) -> bool:
    """Draw the early frame if ``argv`` opens the cockpit on a terminal; True if drawn."""
    if os.environ.get(DISABLE_VARIABLE) or "_ARGCOMPLETE" in os.environ:
        return False
    try:
        if not all(stream.isatty() for stream in (sys.stdin, sys.stdout, sys.stderr)):
            return False
        if os.environ.get("TERM", "") in ("", "dumb"):
            return False
    except (AttributeError, ValueError):  # a closed or replaced standard stream
        return False
    from stagedeck.firstframe.argv import cockpit_request

    request = cockpit_request(argv)
    if request is None:
        return False
    try:
        from stagedeck.firstframe.known import what_is_known
        from stagedeck.firstframe.layout import render
        from stagedeck.firstframe.screen import paint

        known = what_is_known(request)
        if known is None:
            return False
        size = os.get_terminal_size(sys.stderr.fileno())
        if not paint(render(known, size.columns, size.lines)):
            return False
        follow_logs(known, size.columns, size.lines)
        return True
    except Exception:  # an early frame is a nicety: the cockpit itself will tell
        release()
        return False


def follow_logs(known: Known, width: int, height: int) -> None:
    """Keep the frame's log box moving with the containers' new lines (see :mod:`.follow`)."""
    from stagedeck.firstframe.layout import geometry, log_lines
    from stagedeck.firstframe.screen import redraw, when_stopped

    shape = geometry(known, width, height)
    if known.socket is None or not known.streams or shape is None or not shape.log_rows:
        return
    from stagedeck.firstframe.follow import EarlyFollower

    shown = list(known.logs)

    def on_lines(lines: list[LogLine]) -> None:
        shown.extend(lines)
        shown.sort()
        del shown[: -shape.log_rows]
        redraw(shape.log_top, log_lines(shown, known.rows, width - 2, shape.log_rows))

    follower = EarlyFollower(known.socket, known.streams, on_lines)
    when_stopped(follower.stop)
    follower.start()
