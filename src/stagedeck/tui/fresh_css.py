"""Open a view without re-reading every stylesheet the cockpit has.

Textual re-parses the whole stylesheet (every widget's default CSS, the app's, the
theme's variables: tens of milliseconds each time) whenever
it meets a screen whose "CSS generation" is behind the app's, and a screen made
for a mode starts behind. Opening a mode therefore paid for two full re-parses
(one when the mode's screen is made, one when it is switched to), at start-up for
the overview and again for each view the first time it is opened.

A screen made just now has no styles yet to bring up to date: its widgets are
styled from the current stylesheet when they mount, and a screen class's own CSS
is added to the stylesheet and parsed incrementally (Textual caches each source's
rules). Pushed screens already work that way (``push_screen`` never re-parses).
So a mode's new screen is marked as current, and only a real change (a theme
switched or reloaded, ``App.refresh_css``) re-parses.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.screen import Screen


def styled_now(app: App[Any], make: Callable[[], Screen[Any]]) -> Callable[[], Screen[Any]]:
    """``make``, with the screen it makes counted as styled by ``app``'s current CSS."""

    def build() -> Screen[Any]:
        screen = make()
        # Textual's own counter (App._css_update_count, Screen._css_update_count); if a
        # later Textual drops it, this assignment is harmless and the re-parse comes back.
        screen._css_update_count = getattr(app, "_css_update_count", -1)
        return screen

    return build
