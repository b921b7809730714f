"""Textual's driver, told that an early frame is already on the screen.

The entry point may have drawn the cockpit's first frame before Textual was
imported (``stagedeck/firstframe``). Textual's Linux driver starts by switching
to the alternate screen, which clears it; we are on it already, so that one
switch is skipped and the early frame stays until the cockpit's first frame
replaces it in place, with no blank flash between. The driver also records the
terminal's settings to restore at exit, and would find the early frame's
(no echo); it is given the user's own instead. A later start (after Ctrl+Z and
``fg``) is Textual's as always.
"""

from __future__ import annotations

from textual.driver import Driver

from stagedeck import firstframe

ALTERNATE_SCREEN = "\x1b[?1049h"


def driver_for(base: type[Driver]) -> type[Driver]:
    """The cockpit's driver: Textual's own elsewhere; on a Linux terminal one whose input
    thread sleeps while idle (``tui/quiet_input.py``), which takes over the early frame
    when there is one."""
    try:
        from textual.drivers.linux_driver import LinuxDriver
    except ImportError:  # not a POSIX terminal: there was no early frame either
        return base
    if base is not LinuxDriver:
        return base  # a driver someone chose on purpose (TEXTUAL_DRIVER, a test)
    from stagedeck.tui.quiet_input import QuietInputDriver

    if not firstframe.painted():
        return QuietInputDriver
    base = QuietInputDriver

    class HandoverDriver(base):  # type: ignore[valid-type,misc]
        _taken = False
        _taking_over = False

        def start_application_mode(self) -> None:
            first = not HandoverDriver._taken
            HandoverDriver._taken = True
            self._taking_over = first
            if first:
                firstframe.stop_drawing()  # the early frame's log box stops moving: ours now
            try:
                super().start_application_mode()
            finally:
                self._taking_over = False
            if first:
                saved = firstframe.saved_attributes()
                if saved is not None:
                    self.attrs_before = saved
                firstframe.handed_over()

        def write(self, data: str) -> None:
            if self._taking_over and data == ALTERNATE_SCREEN:
                return
            super().write(data)

    return HandoverDriver
