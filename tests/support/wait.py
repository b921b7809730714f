"""The one way tests wait: poll a condition until it holds, or fail saying what was awaited.

Fixed sleeps are either too short on a loaded machine (flaky) or too long everywhere
(slow); a condition is both. In Pilot tests pass ``pilot`` so each poll also lets the
app refresh its screen timers, as ``pilot.pause`` does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any


async def wait_until(
    check: Callable[[], object],
    timeout: float = 20.0,
    what: str | Callable[[], str] = "",
    *,
    pilot: Any = None,
    interval: float = 0.05,
) -> Any:
    """Wait until ``check()`` is truthy and return its value; fail with ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            detail = what() if callable(what) else what
            raise AssertionError(f"not within {timeout:g}s: {detail or check}")
        if pilot is not None:
            await pilot.pause(interval)
        else:
            await asyncio.sleep(interval)
    return result


def wait_until_sync(
    check: Callable[[], object], timeout: float = 15.0, what: str = "", interval: float = 0.05
) -> Any:
    """The same for code outside an event loop (a thread, a subprocess poll)."""
    deadline = time.monotonic() + timeout
    while not (result := check()):
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:g}s: {what or check}")
        time.sleep(interval)
    return result
