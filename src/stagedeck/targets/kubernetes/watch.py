"""List-then-watch for one kind of object in one namespace, forever.

The loop is the one client-go's reflector runs: list to get the state and a
resourceVersion, watch from that version, and when the watch ends resume
from the last version seen. A 410 Gone (the server compacted its history
past our version) forces a fresh list. When the API server cannot be
reached, retry with exponential backoff and say so; RBAC refusals are not
outages, so they are reported separately and retried slowly.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from stagedeck.targets.kubernetes.client import (
    Forbidden,
    Gone,
    Json,
    Kind,
    KubeClient,
    KubeError,
    Unreachable,
)

log = logging.getLogger("stagedeck.k8s")


@dataclass(frozen=True)
class Timing:
    """Every delay of the Kubernetes target in one place (tests shorten them)."""

    watch_timeout: int = 300
    """Server-side watch timeout; the server ends the watch and we resume."""
    idle_timeout: float = 360.0
    """No bytes (not even a bookmark) for this long: the connection is dead."""
    backoff_initial: float = 0.5
    backoff_max: float = 15.0
    forbidden_retry: float = 30.0
    """RBAC may be fixed while we run: ask again this often."""
    open_wait: float = 10.0
    """How long ``open()`` waits for the first complete picture before returning."""
    log_since: int = 600
    """Seconds of history to fetch when a pod's log is first opened."""
    log_tail: int = 500
    """At most this many lines of that history per container."""
    log_retry: float = 5.0
    """A log stream that ended or was refused is retried this often (or on any pod change)."""
    rollout_poll: float = 2.0
    """During a rollout, read the workload directly this often, in case the watch is behind."""


class Backoff:
    """Exponential, jittered, capped; reset after a success."""

    def __init__(self, initial: float, maximum: float) -> None:
        self.initial = initial
        self.maximum = maximum
        self.current = initial

    def reset(self) -> None:
        self.current = self.initial

    def next(self) -> float:
        delay = self.current
        self.current = min(self.maximum, self.current * 2)
        return delay * random.uniform(0.8, 1.2)


class Link(enum.Enum):
    """How a reflector's conversation with the API server is going."""

    UNKNOWN = "unknown"
    OK = "ok"
    FORBIDDEN = "forbidden"
    UNREACHABLE = "unreachable"
    FAILING = "failing"
    """The server answered with an error that is neither RBAC nor an outage."""


class Observer:
    """What a reflector reports to (the target implements these)."""

    def replaced(self, kind: Kind, objects: Sequence[Json]) -> None:
        """A fresh list: these are all the objects there are."""

    def changed(self, kind: Kind, event_type: str, obj: Json) -> None:
        """One watch event: ADDED, MODIFIED or DELETED."""

    def link(self, kind: Kind, state: Link, detail: str) -> None:
        """The reflector's link to the server changed."""


class Reflector:
    """Keeps an :class:`Observer` up to date with one kind of object."""

    def __init__(
        self,
        client: KubeClient,
        kind: Kind,
        namespace: str,
        observer: Observer,
        timing: Timing,
        *,
        label_selector: str | None = None,
    ) -> None:
        self.client = client
        self.kind = kind
        self.namespace = namespace
        self.observer = observer
        self.timing = timing
        self.label_selector = label_selector
        self.resource_version = ""
        self.link_state = Link.UNKNOWN
        self.first_attempt = asyncio.Event()
        """Set once the first list has succeeded or failed: ``open()`` waits for it."""
        self.relists = 0
        self.resumes = 0
        self._task: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=f"k8s-reflector:{self.kind}")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    def wake(self) -> None:
        """Retry now instead of at the end of the backoff (the server answers again)."""
        self._wake.set()

    async def _pause(self, delay: float) -> None:
        self._wake.clear()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(delay):
                await self._wake.wait()

    def _set_link(self, state: Link, detail: str = "") -> None:
        self.link_state = state
        self.observer.link(self.kind, state, detail)

    async def _run(self) -> None:
        backoff = Backoff(self.timing.backoff_initial, self.timing.backoff_max)
        while True:
            try:
                if not self.resource_version:
                    await self._list()
                    backoff.reset()
                await self._watch(backoff)
                continue  # the server ended the watch: resume from where we are
            except Gone:
                log.info(
                    "%s: resourceVersion %s is gone; relisting", self.kind, self.resource_version
                )
                self.resource_version = ""
                continue
            except Forbidden as exc:
                self.resource_version = ""
                self._set_link(Link.FORBIDDEN, str(exc))
                delay = self.timing.forbidden_retry
            except Unreachable as exc:
                self._set_link(Link.UNREACHABLE, str(exc))
                delay = backoff.next()
            except KubeError as exc:
                log.warning("%s: %s", self.kind, exc)
                self.resource_version = ""
                self._set_link(Link.FAILING, str(exc))
                delay = backoff.next()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a bug must not end watching for good
                log.exception("%s reflector failed", self.kind)
                self.resource_version = ""
                self._set_link(Link.FAILING, f"{type(exc).__name__}: {exc}")
                delay = backoff.next()
            self.first_attempt.set()
            await self._pause(delay)

    async def _list(self) -> None:
        result = await self.client.list(
            self.kind, self.namespace, label_selector=self.label_selector
        )
        self.relists += 1
        self.resource_version = result.resource_version
        self._set_link(Link.OK)  # first: the observer reads it while taking the list in
        self.observer.replaced(self.kind, result.items)
        self.first_attempt.set()

    async def _watch(self, backoff: Backoff) -> None:
        stream = await self.client.watch(
            self.kind,
            self.namespace,
            resource_version=self.resource_version,
            timeout_seconds=self.timing.watch_timeout,
            idle_timeout=self.timing.idle_timeout,
            label_selector=self.label_selector,
        )
        if self.link_state is not Link.OK:
            self._set_link(Link.OK)
        self.resumes += 1
        backoff.reset()
        opened = time.monotonic()
        try:
            async with contextlib.aclosing(stream):
                async for event in stream:
                    self._apply(event)
        except Unreachable as exc:
            # An established watch that breaks (a proxy's idle timeout, a restarting
            # apiserver) is not yet an outage: resume at once; if the resume cannot
            # connect, that is reported. Only a watch that keeps breaking backs off.
            log.info(
                "%s: watch broke (%s); resuming from %s", self.kind, exc, self.resource_version
            )
        if time.monotonic() - opened < 1.0:
            await asyncio.sleep(backoff.next())

    def _apply(self, event: Json) -> None:
        kind = event.get("type")
        obj: Any = event.get("object")
        if not isinstance(obj, dict):
            return
        rv = (obj.get("metadata") or {}).get("resourceVersion")
        if kind == "BOOKMARK":
            if rv:
                self.resource_version = str(rv)
            return
        if kind in ("ADDED", "MODIFIED", "DELETED"):
            self.observer.changed(self.kind, str(kind), obj)
        if rv:
            self.resource_version = str(rv)
