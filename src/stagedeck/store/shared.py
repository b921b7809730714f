"""What the people sharing an environment can see of each other, kept fresh.

Several cockpits point at one SQLite file. This module keeps a cockpit's view
of it fresh (writes go through ``stagedeck.operations``): it polls for other processes'
writes (``Store.changed()``, a cheap ``PRAGMA data_version`` check) about once
a second, keeps this cockpit's presence and lease heartbeats, and publishes a
:class:`SharedSnapshot` that views render. Every store call runs in a thread;
a store that fails leaves the last snapshot in place with ``problem`` set.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from stagedeck.engine.clock import wall
from stagedeck.store import (
    AuditEntry,
    Failure,
    Lease,
    LeaseHeld,
    Store,
    StoreError,
    Watcher,
    session_id,
)

POLL_SECONDS = 1.0
HEARTBEAT_SECONDS = 10.0
STALE_AFTER_SECONDS = 30.0


@dataclass(frozen=True)
class FailureView:
    failure: Failure
    seen: int
    first_seen: float | None
    annotations: tuple[Any, ...]
    recurrence: str
    suspects: tuple[dict[str, Any], ...] = field(default=(), hash=False)
    """Its ranked suspects as stored when it failed (``Suspect.to_dict`` rows, best first;
    ``triage.model.ranking_from_rows`` reads them). Raw rows: the store sits below triage."""


@dataclass(frozen=True)
class SharedSnapshot:
    lease: Lease | None = None
    watchers: tuple[Watcher, ...] = ()
    audit: tuple[AuditEntry, ...] = ()
    failures: tuple[FailureView, ...] = ()
    last_run_id: int | None = None
    last_run_open: bool = False
    """The latest run has not ended yet (its gate is pending)."""
    gate: Mapping[str, Any] | None = None
    """The latest gate verdict on the latest run (``Verdict.to_dict()``), None if not judged."""
    problem: str = ""
    """Why the shared database cannot be used right now ('' when it can)."""
    version: int = 0
    at: float = field(default_factory=time.time)


class SharedState:
    """Polls the store for one environment and keeps this session's heartbeats."""

    def __init__(
        self,
        store: Store | None,
        env: str,
        user: str,
        *,
        session: str | None = None,
        clock: Callable[[], float] = wall,
        problem: str = "",
        db_path: Path | None = None,
    ) -> None:
        self.store = store
        self.db_path = db_path
        """Opened by ``start`` when no store was given: the cockpit draws first, then connects."""
        self.env = env
        self.user = user
        self.session = session or session_id()
        self.clock = clock
        self.snapshot = SharedSnapshot(problem=problem)
        self.subscribers: list[Callable[[SharedSnapshot], None]] = []
        self.lease_ttl = 1800.0
        self._task: asyncio.Task[None] | None = None
        self._last_heartbeat = 0.0

    def subscribe(self, callback: Callable[[SharedSnapshot], None]) -> Callable[[], None]:
        """Call ``callback`` now and on every new snapshot; returns the unsubscribe."""
        self.subscribers.append(callback)
        callback(self.snapshot)

        def unsubscribe() -> None:
            if callback in self.subscribers:
                self.subscribers.remove(callback)

        return unsubscribe

    # ------------------------------------------------------------------ lifecycle

    def start(self) -> None:
        if self._task is None and (self.store is not None or self.db_path is not None):
            self._task = asyncio.create_task(self._loop(), name="shared-state")

    async def connect(self) -> None:
        """Open the shared database (in a thread); a failure becomes the banner's text."""
        if self.store is not None or self.db_path is None:
            return
        from stagedeck.store import Store, StoreError

        try:
            self.store = await asyncio.to_thread(Store.open, self.db_path)
        except StoreError as exc:
            self.db_path = None
            self._publish(replace(self.snapshot, problem=f"annotations disabled: {exc}"))
            return
        if not self.store.writable:
            problem = f"annotations disabled: {self.store.problem}"
            self._publish(replace(self.snapshot, problem=problem))
            return
        from stagedeck.store.spool import pending, replay

        store = self.store
        if await asyncio.to_thread(pending, store.path):
            # What an earlier session could not write (read-only, full disk) is saved now.
            await asyncio.to_thread(replay, store)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        store = self.store
        if store is not None and store.writable:
            with contextlib.suppress(StoreError):
                await asyncio.to_thread(store.leave, self.env, self.session)

    @property
    def writable(self) -> bool:
        return self.store is not None and self.store.writable and not self.snapshot.problem

    async def _loop(self) -> None:
        await self.connect()
        if self.store is None:
            return
        first = True
        while True:
            try:
                await self.refresh(force=first)
                first = False
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a broken poll must not kill the cockpit
                self._publish(replace(self.snapshot, problem=f"shared database: {exc}"))
            await asyncio.sleep(POLL_SECONDS)

    # ------------------------------------------------------------------ polling

    async def refresh(self, force: bool = False) -> None:
        store = self.store
        if store is None:
            return
        now = self.clock()
        if store.writable and now - self._last_heartbeat >= HEARTBEAT_SECONDS:
            self._last_heartbeat = now
            await self._heartbeat(store)
        try:
            changed = await asyncio.to_thread(store.changed)
        except StoreError as exc:
            self._publish(replace(self.snapshot, problem=str(exc)))
            return
        if not (changed or force or self.snapshot.problem):
            return
        try:
            snapshot = await asyncio.to_thread(self._read, store)
        except StoreError as exc:
            self._publish(replace(self.snapshot, problem=str(exc)))
            return
        self._publish(snapshot)

    async def _heartbeat(self, store: Store) -> None:
        try:
            await asyncio.to_thread(store.heartbeat, self.env, self.user, self.session)
            lease = self.snapshot.lease
            if lease is not None and lease.owner == self.user and not lease.expired(self.clock()):
                await asyncio.to_thread(store.renew_lease, self.env, self.user, self.lease_ttl)
        except StoreError as exc:
            self._publish(replace(self.snapshot, problem=str(exc)))

    def _read(self, store: Store) -> SharedSnapshot:
        runs = store.runs(self.env, limit=1)
        run_id = runs[0].id if runs else None
        failures = store.failures(self.env, run_id) if run_id is not None else []
        views = [self._view(store, failure) for failure in failures]
        return SharedSnapshot(
            lease=store.current_lease(self.env),
            watchers=tuple(store.watchers(self.env, stale_after_s=STALE_AFTER_SECONDS)),
            audit=tuple(store.recent_audit(self.env, limit=100)),
            failures=tuple(views),
            last_run_id=run_id,
            last_run_open=bool(runs) and runs[0].ended is None,
            gate=store.gate_verdict(run_id) if run_id is not None else None,
            problem="" if store.writable else (str(store.problem) if store.problem else ""),
            version=self.snapshot.version + 1,
            at=self.clock(),
        )

    def _view(self, store: Store, failure: Failure) -> FailureView:
        """A failure with what is known about it: its notes, how often seen, its suspects."""
        from stagedeck.suites.report import recurrence_line

        sig = failure.result.signature
        notes = tuple(store.annotations_for(sig)) if sig else ()
        rid = failure.result.id
        suspects = tuple(store.failure_suspects(rid)) if rid is not None else ()
        stats = store.signature_stats(sig) if sig else None
        return FailureView(
            failure,
            stats.count if stats else 1,
            stats.first_seen if stats else None,
            notes,
            recurrence_line(stats, list(notes), self.clock()) if stats else "",
            suspects,
        )

    async def search(self, text: str, limit: int = 50) -> tuple[FailureView, ...]:
        """Every run's failures matching ``text`` (full text, newest first), in a thread."""
        store = self.store
        if store is None:
            raise StoreError(self.snapshot.problem or "no shared database to search")

        def read() -> tuple[FailureView, ...]:
            found = store.search_failures(self.env, text, limit=limit)
            return tuple(self._view(store, failure) for failure in found)

        return await asyncio.to_thread(read)

    def _publish(self, snapshot: SharedSnapshot) -> None:
        if snapshot.version == self.snapshot.version:
            snapshot = replace(snapshot, version=self.snapshot.version + 1)
        self.snapshot = snapshot
        for subscriber in list(self.subscribers):
            subscriber(snapshot)

    # ------------------------------------------------------------------ questions views ask

    def presence_text(self) -> str:
        """'3 watching: bob, carol, you'."""
        others = sorted({w.user for w in self.snapshot.watchers if w.session != self.session})
        if not others:
            return ""
        names = [*others, "you"]
        return f"{len(names)} watching: {', '.join(names)}"


__all__ = ["FailureView", "LeaseHeld", "SharedSnapshot", "SharedState"]
