"""The wall clock, looked up when called.

Defaults like ``clock=time.time`` bind the function when the module loads,
so a frozen clock in tests (or a patched one in a replay) never reaches them.
``wall`` asks ``time.time`` each call.
"""

from __future__ import annotations

import time


def wall() -> float:
    return time.time()
