"""Runtime fault injection: the knobs behind ``/admin/chaos``.

A cockpit earns its keep when something is wrong, so the demo must be easy to
break on purpose, while it runs, without a restart: add latency, fail a share
of requests, report unhealthy, or crash. ``crash`` is an action, not a state,
so it is never part of a snapshot; the service acts on it (see ``base.py``).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Mapping
from typing import Any

KNOBS = ("latency_ms", "error_rate", "unhealthy", "crash")


class ChaosError(ValueError):
    """A chaos request the service refuses (unknown knob, value out of range)."""


class Chaos:
    """The current chaos settings of one service; thread-safe."""

    def __init__(self, rng: random.Random | None = None) -> None:
        self._lock = threading.Lock()
        self._rng = rng or random.Random()
        self.latency_ms = 0.0
        self.error_rate = 0.0
        self.unhealthy = False

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "latency_ms": self.latency_ms,
                "error_rate": self.error_rate,
                "unhealthy": self.unhealthy,
                "crash": False,
            }

    def update(self, changes: Any) -> bool:
        """Apply a partial update; return whether a crash was asked for.

        Everything is validated before anything changes, so a bad request
        leaves the settings exactly as they were.
        """
        if not isinstance(changes, Mapping):
            raise ChaosError('expected a JSON object like {"error_rate": 0.5}')
        unknown = sorted(set(changes) - set(KNOBS))
        if unknown:
            raise ChaosError(
                f"unknown chaos knob(s) {', '.join(unknown)}; known: {', '.join(KNOBS)}"
            )
        latency = changes.get("latency_ms", self.latency_ms)
        rate = changes.get("error_rate", self.error_rate)
        unhealthy = changes.get("unhealthy", self.unhealthy)
        crash = changes.get("crash", False)
        if isinstance(latency, bool) or not isinstance(latency, int | float):
            raise ChaosError("latency_ms must be a number of milliseconds")
        if not 0 <= latency <= 60_000:
            raise ChaosError("latency_ms must be between 0 and 60000")
        if isinstance(rate, bool) or not isinstance(rate, int | float) or not 0 <= rate <= 1:
            raise ChaosError("error_rate must be a number between 0 and 1")
        if not isinstance(unhealthy, bool) or not isinstance(crash, bool):
            raise ChaosError("unhealthy and crash must be true or false")
        with self._lock:
            self.latency_ms = float(latency)
            self.error_rate = float(rate)
            self.unhealthy = unhealthy
        return crash

    def describe(self) -> str:
        s = self.snapshot()
        return (
            f"latency_ms={s['latency_ms']:g} error_rate={s['error_rate']:g} "
            f"unhealthy={str(s['unhealthy']).lower()}"
        )

    def delay(self) -> None:
        """Sleep for the injected latency, if any."""
        if self.latency_ms > 0:
            time.sleep(self.latency_ms / 1000)

    def roll(self) -> bool:
        """True when this request (or job) should fail on purpose."""
        rate = self.error_rate
        return rate > 0 and self._rng.random() < rate

    @classmethod
    def from_env(cls, value: str | None) -> Chaos:
        """Start with chaos already on (``STAGEDECK_CHAOS='{"latency_ms": 50}'``)."""
        chaos = cls()
        if value:
            try:
                chaos.update(json.loads(value))
            except (json.JSONDecodeError, ChaosError) as exc:
                raise SystemExit(f"STAGEDECK_CHAOS is not valid: {exc}") from None
        return chaos
