"""One way to bound a wait, because ``asyncio.wait_for`` on Python 3.11 loses cancellations.

On 3.11, when the awaited thing finishes in the same loop turn as the waiting task is
cancelled, ``wait_for`` returns the result and the cancellation is gone: a probe loop
told to stop keeps probing, and ``Engine.stop()`` (and with it an environment process's
exit, which then ignores SIGTERM) waits forever. CI hung on exactly that.
``asyncio.timeout`` cancels in place with no extra task layer, so a cancellation always
arrives. A bounded wait is :func:`within` (one awaitable) or ``async with
asyncio.timeout`` (a block of them); ruff bans ``asyncio.wait_for`` (pyproject.toml) so
the old spelling cannot come back.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

T = TypeVar("T")


async def within(awaitable: Awaitable[T], seconds: float | None) -> T:
    """Await ``awaitable`` for at most ``seconds`` (None: no bound); raise TimeoutError after.

    A coroutine is cancelled at the deadline, as with ``wait_for``; wrap a task you want to
    outlive the deadline in ``asyncio.shield``.
    """
    async with asyncio.timeout(seconds):
        return await awaitable
