"""The one SQLite file a team shares: runs, results, annotations, audit, leases, presence.

``from stagedeck.store import Store`` is the way in; the names below are re-exported
from the modules that define them so callers need not know the cut.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Self

from stagedeck.store.annotations import Annotations
from stagedeck.store.audit import AuditLog
from stagedeck.store.connection import (
    DEFAULT_BUSY_TIMEOUT_S,
    DEFAULT_RETRIES,
    Connection,
    default_db_path,
    session_id,
)
from stagedeck.store.errors import LeaseHeld, LeaseLost, NotAuthor, StoreError
from stagedeck.store.gates import Gates
from stagedeck.store.leases import Leases
from stagedeck.store.migrations import MIGRATIONS, SCHEMA_VERSION
from stagedeck.store.presence import Presence
from stagedeck.store.records import (
    CONTEXT_CHARS,
    CONTEXT_ITEMS,
    MESSAGE_CHARS,
    OUTCOMES,
    PRESENCE_RETENTION_S,
    SUSPECT_CHARS,
    SUSPECTS_KEPT,
    TAGS,
    TOPICS,
    TRACEBACK_CHARS,
    Annotation,
    AuditEntry,
    Clock,
    ContextItem,
    Environment,
    Failure,
    Flakiness,
    HistoryEntry,
    Lease,
    Row,
    Run,
    SignatureStats,
    SuiteRun,
    TestResult,
    Watcher,
    from_iso,
    iso,
)
from stagedeck.store.runs import Runs
from stagedeck.store.search import FailureSearch


class Store(Runs, FailureSearch, Annotations, Leases, AuditLog, Presence, Gates, Connection):
    """The shared SQLite store: every table family on one connection layer.

    Open with :meth:`Store.open`; safe to call from any thread. How the file is
    opened, migrated and retried is ``connection.py``; each table family has a
    module of its own (``runs``, ``annotations``, ``audit``, ``leases``, ``presence``).
    """

    @classmethod
    def open(cls, path: Path | str, **options: Any) -> Self:
        """:meth:`Connection.open`, then runs left open by a dead process are finished."""
        store = super().open(path, **options)
        if store.writable:
            try:
                store.finish_orphaned_runs()
            except StoreError:
                pass  # a busy or failing file: the next opener tries again
        return store


__all__ = [
    "CONTEXT_CHARS",
    "CONTEXT_ITEMS",
    "DEFAULT_BUSY_TIMEOUT_S",
    "DEFAULT_RETRIES",
    "MESSAGE_CHARS",
    "MIGRATIONS",
    "OUTCOMES",
    "PRESENCE_RETENTION_S",
    "SCHEMA_VERSION",
    "SUSPECTS_KEPT",
    "SUSPECT_CHARS",
    "TAGS",
    "TOPICS",
    "TRACEBACK_CHARS",
    "Annotation",
    "AuditEntry",
    "Clock",
    "ContextItem",
    "Environment",
    "Failure",
    "Flakiness",
    "HistoryEntry",
    "Lease",
    "LeaseHeld",
    "LeaseLost",
    "NotAuthor",
    "Row",
    "Run",
    "SignatureStats",
    "Store",
    "StoreError",
    "SuiteRun",
    "TestResult",
    "Watcher",
    "default_db_path",
    "from_iso",
    "iso",
    "session_id",
]
