"""Typed events the engine publishes and the views consume.

Views never ask the engine "what changed?" by diffing; they receive small,
frozen facts. High-rate data (log lines, latency samples) is *not* sent as an
event per item: it is kept in bounded buffers that views read in time-based
batches, and only a cheap "something new" signal is published.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field


class ProcState(enum.StrEnum):
    """What the target says about the running thing (process, container, pods)."""

    PENDING = "pending"
    """Known from the recipe, not started yet (waiting for its dependencies)."""
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"
    STOPPING = "stopping"
    STOPPED = "stopped"
    CRASHED = "crashed"
    """Exited on its own while it should have been running."""
    FAILED = "failed"
    """Could not be started at all (command not found, port in use, ...)."""
    EXTERNAL = "external"
    """Not managed by this cockpit: only watched."""


class Health(enum.StrEnum):
    UNKNOWN = "unknown"
    HEALTHY = "healthy"
    DEGRADED = "degraded"
    DOWN = "down"
    UNCHECKED = "no check"
    """Running, and nothing checks more: no probe in the recipe, no Docker HEALTHCHECK.
    Counts as up for ordering (it is all we can know), but is not shown as healthy."""


@dataclass(frozen=True, slots=True)
class ServiceStatus:
    """Everything a view shows about one service at one moment (replaced, never mutated)."""

    name: str
    state: ProcState = ProcState.PENDING
    health: Health = Health.UNKNOWN
    since: float = field(default_factory=time.time)
    """When the (state, health) pair last changed."""
    restarts: int = 0
    exit_code: int | None = None
    pid: int | None = None
    reason: str = ""
    """Why it is in this state: the failed probe, the exit, the start error."""
    platform_health: str = ""
    """The platform's own verdict (Docker HEALTHCHECK, Kubernetes readiness), if any."""
    cpu_percent: float | None = None
    memory_bytes: int | None = None

    @property
    def ok(self) -> bool:
        return self.health in (Health.HEALTHY, Health.UNCHECKED)


@dataclass(frozen=True, slots=True)
class StatusChanged:
    """A service's state or health moved; ``before`` is None the first time."""

    status: ServiceStatus
    before: ServiceStatus | None
    at: float


@dataclass(frozen=True, slots=True)
class TargetConnection:
    """The link to the platform (Docker engine, API server) went away or came back."""

    connected: bool
    detail: str = ""
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class ActionProgress:
    """A step of a multi-step action (bring-up, redeploy, reseed) moved on."""

    action: str
    step: str
    state: str
    """'running', 'ok', 'failed', 'skipped'."""
    detail: str = ""
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the user should read once: a warning, an error, a completed action."""

    message: str
    severity: str = "information"
    """'information', 'warning' or 'error' (matches Textual's notify severities)."""
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class RecipeReloaded:
    """A new recipe is in force (or, with problems, was rejected and the old one kept)."""

    problems: tuple[str, ...] = ()
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class ActionHistory:
    """Action steps that happened before this engine could see them.

    A viewer attaching to an environment process gets the recent steps in its
    snapshot (the reseed that ran at start-up, a redeploy an hour ago): views
    that track history (triage) take them in; views that announce progress
    ignore them, since they are not news."""

    steps: tuple[ActionProgress, ...]
    at: float = field(default_factory=time.time)


@dataclass(frozen=True, slots=True)
class FaultsChanged:
    """A fault was injected (published by the environment process's action desk, which
    knows whose it is) or lifted (by its handle); the process tells its viewers."""

    at: float = field(default_factory=time.time)


Event = (
    StatusChanged
    | TargetConnection
    | ActionProgress
    | Notice
    | RecipeReloaded
    | ActionHistory
    | FaultsChanged
)
Subscriber = Callable[[Event], None]


class EventBus:
    """Synchronous fan-out on the event loop; subscribers must be quick and not raise."""

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def publish(self, event: Event) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(event)
            except Exception:  # a broken view must not stop the engine
                import logging

                logging.getLogger("stagedeck").exception("subscriber failed on %r", event)
