"""One clock for the cockpit's periodic work, instead of a Textual timer per widget.

The overview polls from seven places (new log lines, table rows, graph styles,
the graph's detail, the banner, the status bar, the latency chart): seven timers,
24 wake-ups a second, each a task with its own sleep, its own trip through the
event loop's selector and Textual's timer machinery, even when nothing changed.
Here one ``loop.call_at`` chain wakes when the earliest registration is due and
calls every registration that is due then, directly: the polls themselves are a
comparison of two numbers when nothing changed, and now cost about that.

Due times sit on each period's grid of the loop's clock (a 0.25 s poll is due at
multiples of 0.25 s, whenever it was registered), so polls whose periods divide one
another fall due together and share a wake: registered at scattered moments, the
overview's polls woke the clock 16 times a second; aligned, 4 times.

A registration ends when its owner leaves the DOM (as a Textual timer would).
A callback that raises is logged and keeps its place: one broken poll must not
stop the others.
"""

from __future__ import annotations

import asyncio
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from textual.dom import DOMNode

log = logging.getLogger("stagedeck.tui")

ATTACHED_CHECK_EVERY = 10
"""Wakes between checks that an owner is still in the DOM."""
SLACK = 0.005
"""A registration due this soon after a wake runs in it (timers fire a little early or
late, and sums of periods drift by rounding): one wake, not two in a row."""


def _next_on_grid(now: float, period: float) -> float:
    """The first multiple of ``period`` after ``now`` (a poll's place on its grid)."""
    return (math.floor(now / period + SLACK / period) + 1) * period


@dataclass(eq=False, slots=True)
class _Entry:
    owner: DOMNode
    period: float
    callback: Callable[[], object]
    due: float
    active: bool = True


class Ticker:
    """Calls registered callbacks at their periods, from one timer handle."""

    def __init__(self, loop: asyncio.AbstractEventLoop | None = None) -> None:
        self._loop = loop
        self._entries: list[_Entry] = []
        self._handle: asyncio.TimerHandle | None = None
        self._wake_at = float("inf")
        self.wakeups = 0
        """How many times the clock woke (tests and benchmarks read it)."""

    def every(
        self, owner: DOMNode, seconds: float, callback: Callable[[], object]
    ) -> Callable[[], None]:
        """Call ``callback`` every ``seconds`` while ``owner`` is in the DOM; returns a stop."""
        loop = self._loop = self._loop or asyncio.get_running_loop()
        entry = _Entry(owner, seconds, callback, _next_on_grid(loop.time(), seconds))
        self._entries.append(entry)
        self._schedule()

        def stop() -> None:
            entry.active = False

        return stop

    def _schedule(self, due: float | None = None) -> None:
        """Wake at ``due`` (the earliest due time, computed here when not given)."""
        assert self._loop is not None
        if due is None:
            self._entries = [e for e in self._entries if e.active]
            due = min((e.due for e in self._entries), default=float("inf"))
        if due == float("inf"):
            if self._handle is not None:
                self._handle.cancel()
                self._handle, self._wake_at = None, float("inf")
            return
        if self._handle is not None and due >= self._wake_at:
            return
        if self._handle is not None:
            self._handle.cancel()
        self._wake_at = due
        self._handle = self._loop.call_at(due, self._tick)

    def _tick(self) -> None:
        assert self._loop is not None
        self._handle, self._wake_at = None, float("inf")
        self.wakeups += 1
        now = self._loop.time()
        earliest = float("inf")
        dropped = False
        for entry in list(self._entries):
            if not entry.active:
                dropped = True
                continue
            if entry.due > now + SLACK:
                earliest = min(earliest, entry.due)
                continue
            # Whether the owner left the DOM is a walk up to the app: asked about once a
            # second per entry, not on every wake.
            if self.wakeups % ATTACHED_CHECK_EVERY == 0 and not entry.owner.is_attached:
                entry.active = False
                dropped = True
                continue
            # The next due time keeps the rhythm (and the grid); after a stall it skips,
            # never bursts.
            entry.due = _next_on_grid(max(now, entry.due), entry.period)
            try:
                entry.callback()
            except Exception:
                log.exception("periodic %r failed", entry.callback)
            earliest = min(earliest, entry.due)
        if dropped:
            self._schedule()  # tidy the list, then find the earliest among the rest
        else:
            self._schedule(earliest)

    def close(self) -> None:
        for entry in self._entries:
            entry.active = False
        self._schedule()


def every(owner: DOMNode, seconds: float, callback: Callable[[], object]) -> None:
    """Run ``callback`` every ``seconds`` on the app's shared :class:`Ticker`; an app
    without one (a test harness) gets a Textual timer, as before."""
    ticker = getattr(owner.app, "ticker", None)
    if isinstance(ticker, Ticker):
        ticker.every(owner, seconds, callback)
    else:
        owner.set_interval(seconds, callback)
