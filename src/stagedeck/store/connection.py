"""The one SQLite file that outlives a cockpit: runs, results, annotations, audit, leases.

Several people on one shared host point their cockpits at the same file, so the
store is built for many processes at once:

* **WAL mode** and a **busy timeout**: readers never block the writer and a writer
  waits its turn instead of failing at once.
* **Short transactions**: every write is one ``BEGIN IMMEDIATE … COMMIT`` taking the
  write lock up front, so two cockpits never deadlock upgrading read locks. A write
  that still finds the file locked is retried a few times with backoff, then fails
  with a :class:`StoreError` that names the file and says what to do.
* **One connection per thread**: the cockpit calls the store from worker threads
  (``asyncio.to_thread``); each thread gets its own sqlite3 connection lazily.
* **Versioned schema**: ``PRAGMA user_version`` holds the number of migrations
  applied; :data:`MIGRATIONS` is an ordered list of functions run on open inside
  the same write transaction, so two cockpits opening a new file at once are safe.
* **Plain file**: ordinary tables (no STRICT, no extensions) and timestamps as
  ISO-8601 UTC text with milliseconds (``2025-11-22T03:41:12.345Z``), so
  ``sqlite3 stagedeck.db 'select * from audit'`` and any other SQLite tool read it
  as it is. Fixed width, so they sort and compare as text; SQLite's date functions
  understand them. In Python every time is a float of epoch seconds.
* **Change detection**: :meth:`Store.changed` polls ``PRAGMA data_version`` on its
  own connection (no table is read unless something changed) and then a tiny
  ``changes`` table of per-topic counters, so a cockpit can poll every second and
  refresh only the panes whose topic moved.

A file that cannot be written (permissions, a read-only mount, ``read_only=True``)
still opens for reading: :attr:`Store.writable` is false, :attr:`Store.problem`
says why (for a banner), and every write raises that :class:`StoreError`, a lease
included: a lease that could not be recorded must never look granted.
"""

from __future__ import annotations

import itertools
import json
import os
import random
import socket
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final, TypeVar

if TYPE_CHECKING:
    from sqlite_utils import Database

from stagedeck.store.signature import failure_signature

__all__ = [
    "MIGRATIONS",
    "OUTCOMES",
    "SCHEMA_VERSION",
    "TAGS",
    "TOPICS",
    "Annotation",
    "AuditEntry",
    "ContextItem",
    "Environment",
    "Failure",
    "Flakiness",
    "HistoryEntry",
    "Lease",
    "LeaseHeld",
    "LeaseLost",
    "NotAuthor",
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

T = TypeVar("T")
Clock = Callable[[], float]
Row = dict[str, Any]

TAGS: Final = ("flaky", "environment", "data", "bug", "infra", "known")
"""What an annotation says a failure is; a closed set so the cockpit can filter and colour."""

OUTCOMES: Final = ("passed", "failed", "error", "skipped")
"""Test outcomes as :mod:`stagedeck.suites.junit` spells them; short forms are accepted on input."""

_OUTCOME_ALIASES: Final = {
    "pass": "passed",
    "ok": "passed",
    "fail": "failed",
    "failure": "failed",
    "errored": "error",
    "skip": "skipped",
}

TOPICS: Final = ("runs", "annotations", "audit", "leases", "presence")
"""What :meth:`Store.changed` reports; each write bumps the counters of what it touched."""

TRACEBACK_CHARS: Final = 8000
"""A stored traceback keeps its last characters: the cause is at the end."""

MESSAGE_CHARS: Final = 4000
CONTEXT_ITEMS: Final = 200
"""At most this many health/log items are kept per failed test."""
CONTEXT_CHARS: Final = 2000
"""Each context item's content is cut to this many characters."""

PRESENCE_RETENTION_S: Final = 86400.0
"""Presence rows older than this are deleted by the next heartbeat: the table stays tiny."""

DEFAULT_BUSY_TIMEOUT_S: Final = 5.0
DEFAULT_RETRIES: Final = 3

_BUSY: Final = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_READ_ONLY: Final = (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH)
_CORRUPT: Final = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


# --------------------------------------------------------------------------- time


def iso(ts: float) -> str:
    """Epoch seconds → ``2025-11-22T03:41:12.345Z`` (UTC, milliseconds, fixed width)."""
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def from_iso(text: str) -> float:
    """The inverse of :func:`iso`; also reads other ISO-8601 forms other tools may write."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _ms(ts: float) -> float:
    """``ts`` as stored (whole milliseconds), so what a call returns equals what is read back."""
    return from_iso(iso(ts))


def _opt_iso(ts: float | None) -> str | None:
    return None if ts is None else iso(ts)


def _opt_time(text: str | None) -> float | None:
    return None if text is None else from_iso(text)


# ------------------------------------------------------------------------- errors


class StoreError(Exception):
    """The store cannot do what was asked; the message names the file and what to do.

    ``kind`` lets a caller react without parsing text: ``locked``, ``read-only``,
    ``corrupt``, ``too-new``, ``cannot-open``, ``io``, ``closed``, ``not-found``,
    ``lease-held``, ``lease-lost``, ``not-author`` or ``error``.
    """

    def __init__(self, message: str, path: Path | None = None, kind: str = "error") -> None:
        super().__init__(message)
        self.path = path
        self.kind = kind


class NotAuthor(StoreError, PermissionError):
    """Only an annotation's author may change or delete it (catchable as PermissionError)."""


class LeaseHeld(StoreError):
    """Someone else holds the environment; carries their lease for the message and UI."""

    def __init__(self, lease: Lease, now: float, path: Path | None = None) -> None:
        super().__init__(
            f"{lease.environment} is {lease.describe(now)}; "
            f"wait, ask {lease.owner}, or force the lease",
            path,
            "lease-held",
        )
        self.lease = lease
        self.remaining_s = lease.remaining_s(now)


class LeaseLost(StoreError):
    """The lease to renew is not ours any more (released, expired, or taken over).

    ``lease`` is whoever holds it now, if anyone does.
    """

    def __init__(self, message: str, path: Path | None = None, lease: Lease | None = None) -> None:
        super().__init__(message, path, "lease-lost")
        self.lease = lease


# ----------------------------------------------------------------------- records


@dataclass(frozen=True)
class Environment:
    name: str
    recipe_path: str | None
    target: str | None
    first_seen: float
    last_seen: float


@dataclass(frozen=True)
class Run:
    """One invocation of one or more suites against one environment."""

    id: int
    environment: str
    user: str
    started: float
    ended: float | None = None
    outcome: str | None = None


@dataclass(frozen=True)
class SuiteRun:
    id: int
    run_id: int
    suite: str
    state: str
    started: float | None = None
    ended: float | None = None
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    total: int = 0
    output_path: str | None = None
    junit_path: str | None = None
    detail: str = ""


@dataclass(frozen=True)
class TestResult:
    """One test case's result. ``id``/``suite_run_id`` are set on records read back.

    ``signature`` is computed from the test id and message for failed and errored
    tests when not given; passed and skipped tests have none.
    """

    __test__ = False  # not a pytest test class

    test_id: str
    outcome: str
    name: str = ""
    duration: float = 0.0
    message: str = ""
    traceback: str = ""
    started: float | None = None
    ended: float | None = None
    signature: str | None = None
    id: int | None = None
    suite_run_id: int | None = None


@dataclass(frozen=True)
class ContextItem:
    """A health transition or a warning/error log line seen during a failed test's window.

    ``content`` is text (a log line) or JSON-able data (a health state or transition).
    """

    service: str
    kind: str
    """'health' or 'log'."""
    at: float
    content: str | Mapping[str, Any] | list[Any]


@dataclass(frozen=True)
class Failure:
    """A failed or errored test with where it ran."""

    run_id: int
    suite: str
    result: TestResult


@dataclass(frozen=True)
class HistoryEntry:
    run_id: int
    outcome: str
    at: float
    signature: str | None = None


@dataclass(frozen=True)
class Flakiness:
    """How often a test's verdict flips between pass and fail in its recent results.

    ``rate`` = ``flips / (samples - 1)``: among the last N non-skipped results in
    chronological order, how often a result differs (pass vs. fail/error) from the
    one before. A test that always fails is broken, not flaky (rate 0); one that
    alternates is as flaky as it gets (rate 1). ``fail_rate`` is given alongside.
    Fewer than two samples say nothing: rate 0.
    """

    samples: int
    flips: int
    failures: int

    @property
    def rate(self) -> float:
        return self.flips / (self.samples - 1) if self.samples > 1 else 0.0

    @property
    def fail_rate(self) -> float:
        return self.failures / self.samples if self.samples else 0.0


@dataclass(frozen=True)
class SignatureStats:
    count: int
    first_seen: float | None
    last_seen: float | None


@dataclass(frozen=True)
class Annotation:
    id: int
    signature: str
    test_id: str
    environment: str
    author: str
    tag: str
    note: str
    link: str | None
    created: float
    updated: float
    deleted: bool = False


@dataclass(frozen=True)
class AuditEntry:
    """Who did what to which services of an environment, when, and how it ended."""

    id: int
    environment: str
    user: str
    action: str
    services: tuple[str, ...]
    started: float
    ended: float | None
    outcome: str | None
    details: dict[str, Any]
    forced: bool


@dataclass(frozen=True)
class Lease:
    """An environment reserved by one owner until ``expires`` (epoch seconds).

    ``taken_from`` is set on a lease just acquired by force: whose lease it replaced.
    """

    environment: str
    owner: str
    reason: str
    acquired: float
    expires: float
    heartbeat: float
    taken_from: str | None = field(default=None, compare=False)

    def remaining_s(self, now: float) -> float:
        return max(0.0, self.expires - now)

    def expired(self, now: float) -> bool:
        return now >= self.expires

    def describe(self, now: float | None = None) -> str:
        """``leased by alice for 25 more minutes: load test``."""
        now = time.time() if now is None else now
        reason = f": {self.reason}" if self.reason else ""
        if self.expired(now):
            return f"lease by {self.owner} expired {_span(now - self.expires)} ago{reason}"
        return f"leased by {self.owner} for {_span(self.remaining_s(now), 'more ')}{reason}"


@dataclass(frozen=True)
class Watcher:
    user: str
    session: str
    last_seen: float


def _span(seconds: float, more: str = "") -> str:
    s = max(0, round(seconds))
    for unit, size, up_to in (
        ("second", 1, 90),
        ("minute", 60, 90 * 60),
        ("hour", 3600, 48 * 3600),
    ):
        if s < up_to:
            n = round(s / size)
            return f"{n} {more}{unit}{'' if n == 1 else 's'}"
    n = round(s / 86400)
    return f"{n} {more}day{'' if n == 1 else 's'}"


# ------------------------------------------------------------------------ paths


def default_db_path(cli_value: str | None = None) -> Path:
    """Where the database lives: ``--db`` wins, then ``$STAGEDECK_DB``, then XDG.

    The XDG default is ``$XDG_DATA_HOME/stagedeck/stagedeck.db``, falling back to
    ``~/.local/share/stagedeck/stagedeck.db``. To share one file between people on
    a host, point everyone's ``STAGEDECK_DB`` (or ``--db``) at the same path.
    """
    if cli_value:
        return Path(cli_value).expanduser()
    env = os.environ.get("STAGEDECK_DB")
    if env:
        return Path(env).expanduser()
    data_home = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(data_home).expanduser() / "stagedeck" / "stagedeck.db"


def session_id() -> str:
    """``host:pid``: one cockpit process, for presence."""
    return f"{socket.gethostname()}:{os.getpid()}"


# -------------------------------------------------------------------- migrations


def _migration_1(db: Database) -> None:
    """Everything: environments, runs and results, annotations, audit, leases, presence."""
    db.table("environments").create(
        {"name": str, "recipe_path": str, "target": str, "first_seen": str, "last_seen": str},
        pk="name",
        not_null={"first_seen", "last_seen"},
    )
    db.table("runs").create(
        {
            "id": int,
            "environment": str,
            "user": str,
            "started": str,
            "ended": str,
            "outcome": str,
        },
        pk="id",
        not_null={"environment", "user", "started"},
        foreign_keys=[("environment", "environments", "name")],
    )
    db.table("runs").create_index(["environment", "id"])
    db.table("suite_runs").create(
        {
            "id": int,
            "run_id": int,
            "suite": str,
            "state": str,
            "started": str,
            "ended": str,
            "passed": int,
            "failed": int,
            "errors": int,
            "skipped": int,
            "total": int,
            "output_path": str,
            "junit_path": str,
            "detail": str,
        },
        pk="id",
        not_null={"run_id", "suite", "state", "passed", "failed", "errors", "skipped", "total"},
        defaults={"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "total": 0, "detail": ""},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("suite_runs").create_index(["run_id"])
    db.table("test_results").create(
        {
            "id": int,
            "suite_run_id": int,
            "test_id": str,
            "name": str,
            "outcome": str,
            "duration": float,
            "message": str,
            "traceback": str,
            "signature": str,
            "started": str,
            "ended": str,
        },
        pk="id",
        not_null={"suite_run_id", "test_id", "outcome"},
        foreign_keys=[("suite_run_id", "suite_runs", "id")],
    )
    db.table("test_results").create_index(["suite_run_id"])
    db.table("test_results").create_index(["test_id"])
    db.table("test_results").create_index(["signature"])
    db.table("failure_context").create(
        {
            "id": int,
            "test_result_id": int,
            "service": str,
            "kind": str,
            "at": str,
            "content_type": str,
            "content": str,
        },
        pk="id",
        not_null={"test_result_id", "service", "kind", "at", "content_type", "content"},
        foreign_keys=[("test_result_id", "test_results", "id")],
    )
    db.table("failure_context").create_index(["test_result_id"])
    db.table("annotations").create(
        {
            "id": int,
            "signature": str,
            "test_id": str,
            "environment": str,
            "author": str,
            "tag": str,
            "note": str,
            "link": str,
            "created": str,
            "updated": str,
            "deleted": int,
        },
        pk="id",
        not_null={"signature", "test_id", "environment", "author", "tag", "note", "created"},
        defaults={"deleted": 0, "note": ""},
    )
    db.table("annotations").create_index(["signature"])
    db.table("annotations").create_index(["test_id"])
    db.table("audit").create(
        {
            "id": int,
            "environment": str,
            "user": str,
            "action": str,
            "services": str,
            "started": str,
            "ended": str,
            "outcome": str,
            "details": str,
            "forced": int,
        },
        pk="id",
        not_null={"environment", "user", "action", "services", "started", "details", "forced"},
        defaults={"services": "[]", "details": "{}", "forced": 0},
    )
    db.table("audit").create_index(["environment", "id"])
    db.table("leases").create(
        {
            "environment": str,
            "owner": str,
            "reason": str,
            "acquired": str,
            "expires": str,
            "heartbeat": str,
        },
        pk="environment",
        not_null={"owner", "reason", "acquired", "expires", "heartbeat"},
    )
    db.table("presence").create(
        {"environment": str, "user": str, "session": str, "last_seen": str},
        pk=("environment", "session"),
        not_null={"user", "last_seen"},
    )
    db.table("changes").create(
        {"topic": str, "version": int}, pk="topic", not_null={"version"}, defaults={"version": 0}
    )
    db.table("changes").insert_all([{"topic": t, "version": 0} for t in TOPICS])


MIGRATIONS: Final[list[Callable[[Database], None]]] = [_migration_1]
"""Ordered; migration *i* (1-based) takes a file from user_version i-1 to i.

To change the schema, append a function: it runs inside the open write
transaction (DDL is transactional in SQLite) and must not commit.
"""

SCHEMA_VERSION: Final = len(MIGRATIONS)


# ------------------------------------------------------------------------ store


def _code(exc: sqlite3.Error) -> int:
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def _is_busy(exc: sqlite3.Error) -> bool:
    return _code(exc) in _BUSY or "database is locked" in str(exc)


class Store:
    """The shared SQLite store. Open with :meth:`Store.open`; safe to call from any thread."""

    def __init__(
        self,
        path: Path,
        *,
        read_only: bool = False,
        clock: Clock = time.time,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
    ) -> None:
        """Prefer :meth:`Store.open`, which also checks and migrates the file."""
        self.path = path
        self.read_only = read_only
        self.clock = clock
        self.busy_timeout_s = busy_timeout_s
        self.retries = retries
        self.problem: StoreError | None = None
        """Why writes are disabled (for a banner); None while the store is writable."""
        self._local = threading.local()
        self._lock = threading.Lock()
        self._dbs: weakref.WeakSet[Database] = weakref.WeakSet()
        self._closed = False
        self._poll_lock = threading.Lock()
        self._poll_conn: sqlite3.Connection | None = None
        self._data_version: int | None = None
        self._versions: dict[str, int] = {}

    # ---------------------------------------------------------------- lifecycle

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        read_only: bool = False,
        clock: Clock = time.time,
        busy_timeout_s: float = DEFAULT_BUSY_TIMEOUT_S,
        retries: int = DEFAULT_RETRIES,
    ) -> Store:
        """Open (creating if needed) and migrate the database at ``path``.

        Raises :class:`StoreError` when the file cannot be used at all: corrupt,
        not a database, from a newer stagedeck, locked during a needed migration,
        or impossible to create. A file that can be read but not written opens with
        :attr:`writable` false instead, so the cockpit can still show history.

        A write that finds the file locked waits up to ``busy_timeout_s`` (SQLite's
        busy handler), then is retried ``retries`` times with a short jittered
        backoff before it fails with a ``locked`` :class:`StoreError`.
        """
        store = cls(
            Path(path).expanduser().absolute(),
            read_only=read_only,
            clock=clock,
            busy_timeout_s=busy_timeout_s,
            retries=retries,
        )
        try:
            store._open()
        except BaseException:
            store.close()
            raise
        return store

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def writable(self) -> bool:
        """False when writes are disabled; :attr:`problem` then says why."""
        return self.problem is None and not self._closed

    def close(self) -> None:
        """Close every thread's connection. Call once, when the cockpit exits."""
        with self._lock:
            self._closed = True
            dbs = list(self._dbs)
        for db in dbs:
            try:
                db.conn.close()
            except sqlite3.Error:
                pass
        with self._poll_lock:
            if self._poll_conn is not None:
                self._poll_conn.close()
                self._poll_conn = None

    def _open(self) -> None:
        path = self.path
        if self.read_only:
            if not path.exists():
                raise StoreError(
                    f"database {path} does not exist: run a cockpit once without "
                    "read-only to create it, or pass --db",
                    path,
                    "not-found",
                )
        else:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the directory for database {path} ({exc.strerror}): "
                    "check permissions or pass --db",
                    path,
                    "cannot-open",
                ) from None
        version = self._read(_user_version)
        if version > SCHEMA_VERSION:
            raise StoreError(
                f"database {path} has schema version {version}, newer than this stagedeck "
                f"understands ({SCHEMA_VERSION}): upgrade stagedeck, or pass --db",
                path,
                "too-new",
            )
        if self.read_only:
            self._require_current(version)
            self.problem = StoreError(
                f"database {path} was opened read-only: changes are disabled", path, "read-only"
            )
        else:
            try:
                self._enable_wal()
                if version < SCHEMA_VERSION:
                    self._write(self._migrate)
                else:
                    self._probe_write()
            except StoreError as exc:
                if exc.kind != "read-only":
                    raise
                self._require_current(self._read(_user_version))
                self.problem = exc
        self._changes_baseline()

    def _probe_write(self) -> None:
        """Take and drop the write lock: a file we may not write fails here, not later.

        A lock held elsewhere proves nothing either way, so it does not stop the
        open, nor delay it by more than half a second.
        """

        def probe(db: Database) -> None:
            db.conn.execute(f"PRAGMA busy_timeout = {min(500, int(self.busy_timeout_s * 1000))}")
            try:
                db.conn.execute("BEGIN IMMEDIATE")
                # In WAL mode BEGIN IMMEDIATE only locks the -shm index, which works on a
                # read-only file in a writable directory: rewrite a header field to be sure.
                db.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                db.conn.execute("ROLLBACK")
            finally:
                db.conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")

        try:
            self._retrying(probe, "checking write access", retries=0)
        except StoreError as exc:
            if exc.kind != "locked":
                raise

    def _require_current(self, version: int) -> None:
        if version < SCHEMA_VERSION:
            raise StoreError(
                f"database {self.path} has schema version {version} and needs migrating to "
                f"{SCHEMA_VERSION}, but it cannot be written: open it once with write access, "
                "or pass --db",
                self.path,
                "read-only",
            )

    def _enable_wal(self) -> None:
        def enable(db: Database) -> None:
            mode = db.conn.execute("PRAGMA journal_mode").fetchone()[0]
            if str(mode).lower() != "wal":
                db.conn.execute("PRAGMA journal_mode = WAL")

        self._retrying(enable, "switching to WAL mode")

    def _migrate(self, db: Database) -> None:
        current = _user_version(db)  # re-read under the write lock: another cockpit may have won
        if current > SCHEMA_VERSION:
            raise StoreError(
                f"database {self.path} has schema version {current}, newer than this "
                f"stagedeck understands ({SCHEMA_VERSION}): upgrade stagedeck, or pass --db",
                self.path,
                "too-new",
            )
        for migration in MIGRATIONS[current:]:
            migration(db)
        if current < SCHEMA_VERSION:
            db.conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    # ------------------------------------------------------------ connections

    def _db(self) -> Database:
        if self._closed:
            raise StoreError(f"the store for {self.path} is closed", self.path, "closed")
        db: Database | None = getattr(self._local, "db", None)
        if db is None:
            conn = self._connect()
            from sqlite_utils import Database  # heavy (and may pull numpy): only when used

            db = Database(conn, execute_plugins=False)
            self._local.db = db
            with self._lock:
                self._dbs.add(db)
        return db

    def _connect(self) -> sqlite3.Connection:
        mode = "ro" if self.read_only else "rwc"
        try:
            conn = sqlite3.connect(
                f"{self.path.as_uri()}?mode={mode}",
                uri=True,
                timeout=self.busy_timeout_s,
                isolation_level=None,  # we issue BEGIN IMMEDIATE / COMMIT ourselves
                check_same_thread=False,  # only so close() may close it from another thread
            )
            conn.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_s * 1000)}")
            conn.execute("PRAGMA foreign_keys = ON")
            # WAL + NORMAL: a commit survives any process crash (kill -9 included);
            # only a power cut can lose the last commits. No fsync per write.
            conn.execute("PRAGMA synchronous = NORMAL")
        except sqlite3.Error as exc:
            raise self._error(exc, "opening") from None
        return conn

    def _error(self, exc: sqlite3.Error, doing: str, attempts: int = 1) -> StoreError:
        """A sqlite3 error → a StoreError that names the file and the way out."""
        path, code = self.path, _code(exc)
        if code in _BUSY or "database is locked" in str(exc):
            waited = f"waited {self.busy_timeout_s:g}s" + (
                f", {attempts} tries" if attempts > 1 else ""
            )
            return StoreError(
                f"database {path} is locked by another process ({waited}): try again, "
                "look for a stuck stagedeck or sqlite3 holding it, or pass --db",
                path,
                "locked",
            )
        if getattr(exc, "sqlite_errorcode", 0) == sqlite3.SQLITE_READONLY_DIRECTORY:
            return StoreError(
                f"database {path} is read-only: SQLite must create {path.name}-wal and "
                f"{path.name}-shm next to it and cannot write to {path.parent}; ask for "
                "write access to that directory, or pass --db",
                path,
                "read-only",
            )
        if code in _READ_ONLY or "readonly" in str(exc):
            return StoreError(
                f"database {path} is read-only: check permissions of the file and its "
                "directory (SQLite also writes -wal and -shm files next to it), or pass --db",
                path,
                "read-only",
            )
        if code in _CORRUPT:
            return StoreError(
                f"database {path} is corrupt or not a stagedeck database ({exc}): move it "
                f"aside (mv {path} {path}.bad) to start afresh, or pass --db",
                path,
                "corrupt",
            )
        if code == sqlite3.SQLITE_CANTOPEN:
            return StoreError(
                f"cannot open database {path}: check that its directory exists and is "
                "writable, or pass --db",
                path,
                "cannot-open",
            )
        if code == sqlite3.SQLITE_FULL:
            return StoreError(
                f"database {path}: the disk is full: free space, or pass --db", path, "io"
            )
        if code == sqlite3.SQLITE_IOERR:
            return StoreError(
                f"database {path}: I/O error while {doing} ({exc}): check the disk, or pass --db",
                path,
                "io",
            )
        return StoreError(f"database {path}: {doing} failed: {exc}", path)

    def _retrying(self, fn: Callable[[Database], T], doing: str, retries: int | None = None) -> T:
        """Run ``fn`` on this thread's connection, retrying a busy database with backoff."""
        retries = self.retries if retries is None else retries
        db = self._db()
        delay = 0.02
        attempt = 0
        while True:
            attempt += 1
            try:
                return fn(db)
            except sqlite3.Error as exc:
                if db.conn.in_transaction:
                    try:
                        db.conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                if _is_busy(exc) and attempt <= retries:
                    time.sleep(delay * random.uniform(0.5, 1.5))
                    delay = min(delay * 2, 0.5)
                    continue
                error = self._error(exc, doing, attempt)
                if error.kind == "read-only" and self.problem is None and not self.read_only:
                    self.problem = error  # e.g. permissions changed under a running cockpit
                raise error from None
            except BaseException:
                if db.conn.in_transaction:
                    try:
                        db.conn.execute("ROLLBACK")
                    except sqlite3.Error:
                        pass
                raise

    def _write(self, fn: Callable[[Database], T]) -> T:
        """One short write transaction: ``BEGIN IMMEDIATE``, ``fn``, ``COMMIT``.

        IMMEDIATE takes the write lock before reading, so read-then-write logic
        (leases, ownership checks, migrations) is atomic across processes.
        """
        if self.problem is not None:
            raise StoreError(str(self.problem), self.path, self.problem.kind)

        def transaction(db: Database) -> T:
            db.conn.execute("BEGIN IMMEDIATE")
            result = fn(db)
            db.conn.execute("COMMIT")
            return result

        return self._retrying(transaction, "writing")

    def _read(self, fn: Callable[[Database], T]) -> T:
        """Run ``fn`` in one read transaction, so its queries see one snapshot."""

        def transaction(db: Database) -> T:
            db.conn.execute("BEGIN")
            result = fn(db)
            db.conn.execute("COMMIT")
            return result

        return self._retrying(transaction, "reading")

    def integrity_check(self) -> list[str]:
        """``PRAGMA integrity_check``: ``['ok']`` for a healthy file."""
        return self._read(lambda db: [r[0] for r in db.conn.execute("PRAGMA integrity_check")])

    def schema_version(self) -> int:
        return self._read(_user_version)

    # --------------------------------------------------------- change detector

    def changed(self) -> frozenset[str]:
        """Which :data:`TOPICS` other connections have written since the last call.

        Cheap enough to poll every second: ``PRAGMA data_version`` on a dedicated
        connection changes only when another connection (another cockpit, or this
        process's own worker threads) commits; only then is the 5-row ``changes``
        table read to name the topics. Empty (falsy) when nothing changed, and
        also when a tool other than stagedeck changed the file (no counter moved).
        """
        with self._poll_lock:
            try:
                conn = self._poll()
                version = int(conn.execute("PRAGMA data_version").fetchone()[0])
                if version == self._data_version:
                    return frozenset()
                self._data_version = version
                counters = dict(conn.execute("SELECT topic, version FROM changes").fetchall())
            except sqlite3.Error as exc:
                raise self._error(exc, "polling for changes") from None
            moved = frozenset(t for t, v in counters.items() if self._versions.get(t) != v)
            self._versions = counters
            return moved

    def _poll(self) -> sqlite3.Connection:
        if self._closed:
            raise StoreError(f"the store for {self.path} is closed", self.path, "closed")
        if self._poll_conn is None:
            self._poll_conn = self._connect()
        return self._poll_conn

    def _changes_baseline(self) -> None:
        self.changed()

    def _update(self, db: Database, table: str, pk: int, updates: Row) -> None:
        cursor = db.conn.execute(
            f"UPDATE {table} SET {', '.join(f'{k} = ?' for k in updates)} WHERE id = ?",
            [*updates.values(), pk],
        )
        if cursor.rowcount != 1:
            raise StoreError(f"no {table} row #{pk} in {self.path}", self.path, "not-found")

    @staticmethod
    def _touch(db: Database, *topics: str) -> None:
        for topic in topics:
            db.conn.execute(
                "INSERT INTO changes (topic, version) VALUES (?, 1) "
                "ON CONFLICT (topic) DO UPDATE SET version = version + 1",
                (topic,),
            )

    # ---------------------------------------------------------- runs & results

    def start_run(
        self,
        env: str,
        user: str,
        *,
        recipe_path: str | Path | None = None,
        target: str | None = None,
    ) -> int:
        """Record a new run (and the environment, the first time it is seen)."""

        def tx(db: Database) -> int:
            now = iso(self.clock())
            db.conn.execute(
                "INSERT INTO environments (name, recipe_path, target, first_seen, last_seen) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "recipe_path = COALESCE(excluded.recipe_path, recipe_path), "
                "target = COALESCE(excluded.target, target), last_seen = excluded.last_seen",
                (env, None if recipe_path is None else str(recipe_path), target, now, now),
            )
            run_id = _insert(db, "runs", {"environment": env, "user": user, "started": now})
            self._touch(db, "runs")
            return run_id

        return self._write(tx)

    def finish_run(self, run_id: int, outcome: str) -> None:
        def tx(db: Database) -> None:
            self._update(db, "runs", run_id, {"ended": iso(self.clock()), "outcome": outcome})
            self._touch(db, "runs")

        self._write(tx)

    def start_suite_run(self, run_id: int, suite: str, state: str = "running") -> int:
        def tx(db: Database) -> int:
            row = {"run_id": run_id, "suite": suite, "state": state, "started": iso(self.clock())}
            suite_run_id = _insert(db, "suite_runs", row)
            self._touch(db, "runs")
            return suite_run_id

        return self._write(tx)

    def update_suite_run(
        self,
        suite_run_id: int,
        *,
        state: str | None = None,
        started: float | None = None,
        ended: float | None = None,
        passed: int | None = None,
        failed: int | None = None,
        errors: int | None = None,
        skipped: int | None = None,
        total: int | None = None,
        output_path: str | Path | None = None,
        junit_path: str | Path | None = None,
        detail: str | None = None,
    ) -> None:
        """Set the given fields; ``None`` leaves a field as it is."""
        given: dict[str, Any] = {
            "state": state,
            "started": _opt_iso(started),
            "ended": _opt_iso(ended),
            "passed": passed,
            "failed": failed,
            "errors": errors,
            "skipped": skipped,
            "total": total,
            "output_path": None if output_path is None else str(output_path),
            "junit_path": None if junit_path is None else str(junit_path),
            "detail": detail,
        }
        updates = {k: v for k, v in given.items() if v is not None}
        if not updates:
            return

        def tx(db: Database) -> None:
            self._update(db, "suite_runs", suite_run_id, updates)
            self._touch(db, "runs")

        self._write(tx)

    def add_test_result(self, suite_run_id: int, result: TestResult) -> int:
        """Store one result; failed/errored ones get their failure signature."""
        return self.add_test_results(suite_run_id, [result])[0]

    def add_test_results(self, suite_run_id: int, results: Iterable[TestResult]) -> list[int]:
        """Store a suite's results in one transaction (a JUnit report at once)."""
        rows = [_result_row(suite_run_id, r) for r in results]

        def tx(db: Database) -> list[int]:
            ids = []
            for row in rows:
                ids.append(_insert(db, "test_results", row))
            self._touch(db, "runs")
            return ids

        return self._write(tx)

    def add_failure_context(self, test_result_id: int, items: Iterable[ContextItem]) -> int:
        """Keep what services did during a failed test; bounded. Returns items stored."""
        rows = []
        for item in items:
            if item.kind not in ("health", "log"):
                raise ValueError(f"context kind must be 'health' or 'log', not {item.kind!r}")
            if isinstance(item.content, str):
                content_type, content = "text", item.content
            else:
                content_type, content = "json", json.dumps(item.content, default=str)
            if len(content) > CONTEXT_CHARS:
                content_type, content = "text", content[: CONTEXT_CHARS - 1] + "…"
            rows.append(
                {
                    "test_result_id": test_result_id,
                    "service": item.service,
                    "kind": item.kind,
                    "at": iso(item.at),
                    "content_type": content_type,
                    "content": content,
                }
            )

        def tx(db: Database) -> int:
            (have,) = db.conn.execute(
                "SELECT count(*) FROM failure_context WHERE test_result_id = ?", (test_result_id,)
            ).fetchone()
            keep = rows[: max(0, CONTEXT_ITEMS - int(have))]
            if keep:
                db.table("failure_context").insert_all(keep)
                self._touch(db, "runs")
            return len(keep)

        return self._write(tx)

    def failure_context(self, test_result_id: int) -> list[ContextItem]:
        def q(db: Database) -> list[ContextItem]:
            rows = db.query(
                "SELECT * FROM failure_context WHERE test_result_id = ? ORDER BY at, id",
                [test_result_id],
            )
            return [_context(r) for r in rows]

        return self._read(q)

    def runs(self, env: str, limit: int = 20) -> list[Run]:
        """The environment's latest runs, newest first."""
        return self._read(
            lambda db: [
                _run(r)
                for r in db.query(
                    "SELECT * FROM runs WHERE environment = ? ORDER BY id DESC LIMIT ?",
                    [env, limit],
                )
            ]
        )

    def run(self, run_id: int) -> Run | None:
        rows = self._read(lambda db: list(db.query("SELECT * FROM runs WHERE id = ?", [run_id])))
        return _run(rows[0]) if rows else None

    def suite_runs(self, run_id: int) -> list[SuiteRun]:
        return self._read(
            lambda db: [
                _suite_run(r)
                for r in db.query("SELECT * FROM suite_runs WHERE run_id = ? ORDER BY id", [run_id])
            ]
        )

    def test_results(self, suite_run_id: int) -> list[TestResult]:
        return self._read(
            lambda db: [
                _result(r)
                for r in db.query(
                    "SELECT * FROM test_results WHERE suite_run_id = ? ORDER BY id",
                    [suite_run_id],
                )
            ]
        )

    def failures(self, env: str, run_id: int | None = None) -> list[Failure]:
        """Failed and errored tests of ``run_id``, or of the environment's latest run."""

        def q(db: Database) -> list[Failure]:
            rid = run_id
            if rid is None:
                row = db.conn.execute(
                    "SELECT max(id) FROM runs WHERE environment = ?", (env,)
                ).fetchone()
                if row[0] is None:
                    return []
                rid = int(row[0])
            rows = db.query(
                "SELECT t.*, s.suite AS _suite, s.run_id AS _run_id FROM test_results t "
                "JOIN suite_runs s ON s.id = t.suite_run_id JOIN runs r ON r.id = s.run_id "
                "WHERE r.environment = ? AND r.id = ? AND t.outcome IN ('failed', 'error') "
                "ORDER BY t.id",
                [env, rid],
            )
            return [Failure(int(r.pop("_run_id")), str(r.pop("_suite")), _result(r)) for r in rows]

        return self._read(q)

    def environments(self) -> list[Environment]:
        return self._read(
            lambda db: [
                Environment(
                    r["name"],
                    r["recipe_path"],
                    r["target"],
                    from_iso(r["first_seen"]),
                    from_iso(r["last_seen"]),
                )
                for r in db.query("SELECT * FROM environments ORDER BY name")
            ]
        )

    # ----------------------------------------------------------------- history

    def test_history(self, env: str, test_id: str, limit: int = 20) -> list[HistoryEntry]:
        """The test's latest results in the environment, newest first."""

        def q(db: Database) -> list[HistoryEntry]:
            rows = db.conn.execute(
                "SELECT r.id, t.outcome, COALESCE(t.started, s.started, r.started), t.signature "
                "FROM test_results t JOIN suite_runs s ON s.id = t.suite_run_id "
                "JOIN runs r ON r.id = s.run_id WHERE t.test_id = ? AND r.environment = ? "
                "ORDER BY t.id DESC LIMIT ?",
                (test_id, env, limit),
            ).fetchall()
            return [HistoryEntry(int(a), str(b), from_iso(c), d) for a, b, c, d in rows]

        return self._read(q)

    def flakiness(self, env: str, test_id: str, window: int = 20) -> Flakiness:
        """Pass/fail flips among the test's last ``window`` non-skipped results (see Flakiness)."""
        history = [h for h in self.test_history(env, test_id, window * 2) if h.outcome != "skipped"]
        verdicts = [h.outcome == "passed" for h in reversed(history[:window])]
        flips = sum(1 for a, b in itertools.pairwise(verdicts) if a != b)
        return Flakiness(samples=len(verdicts), flips=flips, failures=verdicts.count(False))

    def signature_stats(self, signature: str, env: str | None = None) -> SignatureStats:
        """How often this failure was seen (in one environment or all), first and last time."""

        def q(db: Database) -> SignatureStats:
            sql = (
                "SELECT count(*), min(COALESCE(t.started, s.started)), "
                "max(COALESCE(t.started, s.started)) FROM test_results t "
                "JOIN suite_runs s ON s.id = t.suite_run_id "
            )
            params: list[Any] = [signature]
            if env is None:
                sql += "WHERE t.signature = ?"
            else:
                sql += "JOIN runs r ON r.id = s.run_id WHERE t.signature = ? AND r.environment = ?"
                params.append(env)
            count, first, last = db.conn.execute(sql, params).fetchone()
            return SignatureStats(int(count), _opt_time(first), _opt_time(last))

        return self._read(q)

    # -------------------------------------------------------------- annotations

    def add_annotation(
        self,
        signature: str,
        test_id: str,
        env: str,
        author: str,
        tag: str,
        note: str,
        link: str | None = None,
    ) -> int:
        """Say what a failure is ("flaky", "data", …); shared with everyone on the file."""
        _check_tag(tag)

        def tx(db: Database) -> int:
            now = iso(self.clock())
            row = {
                "signature": signature,
                "test_id": test_id,
                "environment": env,
                "author": author,
                "tag": tag,
                "note": note,
                "link": link,
                "created": now,
                "updated": now,
                "deleted": 0,
            }
            annotation_id = _insert(db, "annotations", row)
            self._touch(db, "annotations")
            return annotation_id

        return self._write(tx)

    def edit_annotation(
        self,
        annotation_id: int,
        author: str,
        *,
        tag: str | None = None,
        note: str | None = None,
        link: str | None = None,
    ) -> Annotation:
        """Change an annotation; only its author may (:class:`NotAuthor` otherwise)."""
        if tag is not None:
            _check_tag(tag)

        def tx(db: Database) -> Annotation:
            current = self._own_annotation(db, annotation_id, author, "edit")
            updates: dict[str, Any] = {"updated": iso(self.clock())}
            for key, value in (("tag", tag), ("note", note), ("link", link)):
                if value is not None:
                    updates[key] = value
            self._update(db, "annotations", annotation_id, updates)
            self._touch(db, "annotations")
            return _annotation({**current, **updates})

        return self._write(tx)

    def delete_annotation(self, annotation_id: int, author: str) -> None:
        """Hide an annotation (kept, flagged deleted, for the record); author only."""

        def tx(db: Database) -> None:
            self._own_annotation(db, annotation_id, author, "delete")
            self._update(
                db, "annotations", annotation_id, {"deleted": 1, "updated": iso(self.clock())}
            )
            self._touch(db, "annotations")

        self._write(tx)

    def _own_annotation(self, db: Database, annotation_id: int, author: str, verb: str) -> Row:
        rows = list(
            db.query("SELECT * FROM annotations WHERE id = ? AND deleted = 0", [annotation_id])
        )
        if not rows:
            raise StoreError(f"no annotation #{annotation_id} to {verb}", self.path, "not-found")
        if rows[0]["author"] != author:
            raise NotAuthor(
                f"annotation #{annotation_id} is {rows[0]['author']}'s: only its author "
                f"may {verb} it (add your own note instead)",
                self.path,
                "not-author",
            )
        return rows[0]

    def annotations_for(self, signature: str) -> list[Annotation]:
        """Live annotations of one failure signature, oldest first."""
        return self._annotations("signature = ?", signature)

    def annotations_for_test(self, test_id: str) -> list[Annotation]:
        """Live annotations of any failure of one test (e.g. "flaky" on the test itself)."""
        return self._annotations("test_id = ?", test_id)

    def _annotations(self, where: str, value: str) -> list[Annotation]:
        sql = f"SELECT * FROM annotations WHERE {where} AND deleted = 0 ORDER BY id"
        return self._read(lambda db: [_annotation(r) for r in db.query(sql, [value])])

    # -------------------------------------------------------------------- audit

    def audit_start(
        self,
        env: str,
        user: str,
        action: str,
        services: Sequence[str] = (),
        details: Mapping[str, Any] | None = None,
        forced: bool = False,
    ) -> int:
        """Record that an action began, before it runs: a crash still leaves a trace."""

        def tx(db: Database) -> int:
            audit_id = self._audit(db, env, user, action, services, details or {}, forced)
            self._touch(db, "audit")
            return audit_id

        return self._write(tx)

    def audit_finish(
        self, audit_id: int, outcome: str, details: Mapping[str, Any] | None = None
    ) -> None:
        """Record how it ended; ``details`` are merged into those given at the start."""

        def tx(db: Database) -> None:
            row = db.conn.execute("SELECT details FROM audit WHERE id = ?", (audit_id,)).fetchone()
            if row is None:
                raise StoreError(f"no audit entry #{audit_id}", self.path, "not-found")
            merged = {**json.loads(row[0] or "{}"), **(details or {})}
            self._update(
                db,
                "audit",
                audit_id,
                {
                    "ended": iso(self.clock()),
                    "outcome": outcome,
                    "details": json.dumps(merged, default=str, sort_keys=True),
                },
            )
            self._touch(db, "audit")

        self._write(tx)

    def recent_audit(self, env: str | None = None, limit: int = 50) -> list[AuditEntry]:
        """Newest first; every environment when ``env`` is None."""
        if env is None:
            sql = "SELECT * FROM audit ORDER BY id DESC LIMIT ?"
            params: list[Any] = [limit]
        else:
            sql = "SELECT * FROM audit WHERE environment = ? ORDER BY id DESC LIMIT ?"
            params = [env, limit]
        return self._read(lambda db: [_audit(r) for r in db.query(sql, params)])

    def _audit(
        self,
        db: Database,
        env: str,
        user: str,
        action: str,
        services: Sequence[str],
        details: Mapping[str, Any],
        forced: bool,
        outcome: str | None = None,
    ) -> int:
        now = iso(self.clock())
        row = {
            "environment": env,
            "user": user,
            "action": action,
            "services": json.dumps(list(services)),
            "started": now,
            "ended": now if outcome is not None else None,
            "outcome": outcome,
            "details": json.dumps(dict(details), default=str, sort_keys=True),
            "forced": int(forced),
        }
        return _insert(db, "audit", row)

    # ------------------------------------------------------------------- leases

    def acquire_lease(
        self, env: str, owner: str, reason: str, ttl_s: float, *, force: bool = False
    ) -> Lease:
        """Reserve ``env`` for ``ttl_s`` seconds, atomically across processes.

        Free, expired, or already ours (then renewed, keeping ``acquired``): granted.
        Someone else's live lease: :class:`LeaseHeld`, unless ``force``, which takes
        it over, records a forced ``lease.force`` audit entry naming the previous
        holder, and returns the lease with ``taken_from`` set.
        """
        if ttl_s <= 0:
            raise ValueError("a lease needs a positive ttl_s")

        def tx(db: Database) -> Lease:
            now = _ms(self.clock())
            current = _get_lease(db, env)
            taken_from = None
            live = current is not None and not current.expired(now)
            if current is not None and live and current.owner != owner:
                if not force:
                    raise LeaseHeld(current, now, self.path)
                taken_from = current.owner
                details = {
                    "previous_owner": current.owner,
                    "previous_reason": current.reason,
                    "previous_remaining_s": round(current.remaining_s(now)),
                    "reason": reason,
                }
                self._audit(db, env, owner, "lease.force", (), details, True, "ok")
                self._touch(db, "audit")
            keep = current is not None and live and current.owner == owner
            acquired = current.acquired if keep and current is not None else now
            lease = Lease(env, owner, reason, acquired, _ms(now + ttl_s), now, taken_from)
            db.conn.execute(
                "INSERT OR REPLACE INTO leases "
                "(environment, owner, reason, acquired, expires, heartbeat) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (env, owner, reason, iso(acquired), iso(lease.expires), iso(now)),
            )
            self._touch(db, "leases")
            return lease

        return self._write(tx)

    def renew_lease(self, env: str, owner: str, ttl_s: float) -> Lease:
        """Extend our lease to ``now + ttl_s``; :class:`LeaseLost` if it is no longer ours.

        An expired lease nobody else took is still ours to renew.
        """
        if ttl_s <= 0:
            raise ValueError("a lease needs a positive ttl_s")

        def tx(db: Database) -> Lease:
            now = _ms(self.clock())
            current = _get_lease(db, env)
            if current is None or current.owner != owner:
                if current is None or current.expired(now):
                    why = "it was released or has expired"
                    raise LeaseLost(f"{owner}'s lease on {env} is gone: {why}", self.path)
                raise LeaseLost(
                    f"{owner}'s lease on {env} is gone: it is now {current.describe(now)}",
                    self.path,
                    current,
                )
            db.conn.execute(
                "UPDATE leases SET expires = ?, heartbeat = ? WHERE environment = ?",
                (iso(now + ttl_s), iso(now), env),
            )
            self._touch(db, "leases")
            return Lease(env, owner, current.reason, current.acquired, _ms(now + ttl_s), now)

        return self._write(tx)

    def release_lease(self, env: str, owner: str, *, force: bool = False) -> bool:
        """Give the environment back. False if there was no lease.

        Someone else's live lease: :class:`LeaseHeld`, unless ``force`` (audited).
        """

        def tx(db: Database) -> bool:
            now = _ms(self.clock())
            current = _get_lease(db, env)
            if current is None:
                return False
            if current.owner != owner and not current.expired(now):
                if not force:
                    raise LeaseHeld(current, now, self.path)
                details = {"previous_owner": current.owner, "previous_reason": current.reason}
                self._audit(db, env, owner, "lease.force_release", (), details, True, "ok")
                self._touch(db, "audit")
            db.conn.execute("DELETE FROM leases WHERE environment = ?", (env,))
            self._touch(db, "leases")
            return True

        return self._write(tx)

    def current_lease(self, env: str) -> Lease | None:
        """The live lease on ``env``; None when free or expired."""
        lease = self._read(lambda db: _get_lease(db, env))
        return None if lease is None or lease.expired(self.clock()) else lease

    # ----------------------------------------------------------------- presence

    def heartbeat(self, env: str, user: str, session: str) -> None:
        """Say "I am watching ``env``": call every ~10 s; also forgets day-old sessions."""

        def tx(db: Database) -> None:
            now = self.clock()
            db.conn.execute(
                "INSERT INTO presence (environment, user, session, last_seen) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (environment, session) DO UPDATE SET "
                "user = excluded.user, last_seen = excluded.last_seen",
                (env, user, session, iso(now)),
            )
            db.conn.execute(
                "DELETE FROM presence WHERE last_seen < ?", (iso(now - PRESENCE_RETENTION_S),)
            )
            self._touch(db, "presence")

        self._write(tx)

    def watchers(self, env: str, stale_after_s: float = 30.0) -> list[Watcher]:
        """Sessions that sent a heartbeat for ``env`` in the last ``stale_after_s`` seconds."""
        since = iso(self.clock() - stale_after_s)
        return self._read(
            lambda db: [
                Watcher(r["user"], r["session"], from_iso(r["last_seen"]))
                for r in db.query(
                    "SELECT * FROM presence WHERE environment = ? AND last_seen >= ? "
                    "ORDER BY user, session",
                    [env, since],
                )
            ]
        )

    def leave(self, env: str, session: str) -> None:
        def tx(db: Database) -> None:
            db.conn.execute(
                "DELETE FROM presence WHERE environment = ? AND session = ?", (env, session)
            )
            self._touch(db, "presence")

        self._write(tx)


# ---------------------------------------------------------------- row helpers


def _insert(db: Database, table: str, row: Row) -> int:
    """Insert one row; its new integer id.

    A plain INSERT rather than ``Table.insert``: the latter re-inspects the schema
    and wraps each row in a savepoint, which halved the annotation write rate.
    """
    columns = ", ".join(row)
    marks = ", ".join("?" for _ in row)
    cursor = db.conn.execute(
        f"INSERT INTO {table} ({columns}) VALUES ({marks})", list(row.values())
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _user_version(db: Database) -> int:
    return int(db.conn.execute("PRAGMA user_version").fetchone()[0])


def _check_tag(tag: str) -> None:
    if tag not in TAGS:
        raise ValueError(f"tag must be one of {', '.join(TAGS)}; not {tag!r}")


def _outcome(outcome: str) -> str:
    value = _OUTCOME_ALIASES.get(outcome.lower(), outcome.lower())
    if value not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}; not {outcome!r}")
    return value


def _result_row(suite_run_id: int, result: TestResult) -> Row:
    outcome = _outcome(result.outcome)
    signature = result.signature
    if signature is None and outcome in ("failed", "error"):
        signature = failure_signature(result.test_id, result.message)
    traceback = result.traceback
    if len(traceback) > TRACEBACK_CHARS:
        traceback = "…" + traceback[-(TRACEBACK_CHARS - 1) :]
    return {
        "suite_run_id": suite_run_id,
        "test_id": result.test_id,
        "name": result.name or result.test_id.rpartition("::")[2],
        "outcome": outcome,
        "duration": float(result.duration),
        "message": result.message[:MESSAGE_CHARS],
        "traceback": traceback,
        "signature": signature,
        "started": _opt_iso(result.started),
        "ended": _opt_iso(result.ended),
    }


def _result(r: Row) -> TestResult:
    return TestResult(
        test_id=r["test_id"],
        outcome=r["outcome"],
        name=r["name"] or "",
        duration=float(r["duration"] or 0.0),
        message=r["message"] or "",
        traceback=r["traceback"] or "",
        started=_opt_time(r["started"]),
        ended=_opt_time(r["ended"]),
        signature=r["signature"],
        id=int(r["id"]),
        suite_run_id=int(r["suite_run_id"]),
    )


def _run(r: Row) -> Run:
    return Run(
        int(r["id"]),
        r["environment"],
        r["user"],
        from_iso(r["started"]),
        _opt_time(r["ended"]),
        r["outcome"],
    )


def _suite_run(r: Row) -> SuiteRun:
    return SuiteRun(
        id=int(r["id"]),
        run_id=int(r["run_id"]),
        suite=r["suite"],
        state=r["state"],
        started=_opt_time(r["started"]),
        ended=_opt_time(r["ended"]),
        passed=int(r["passed"]),
        failed=int(r["failed"]),
        errors=int(r["errors"]),
        skipped=int(r["skipped"]),
        total=int(r["total"]),
        output_path=r["output_path"],
        junit_path=r["junit_path"],
        detail=r["detail"] or "",
    )


def _context(r: Row) -> ContextItem:
    content: str | Mapping[str, Any] | list[Any] = r["content"]
    if r["content_type"] == "json":
        content = json.loads(r["content"])
    return ContextItem(r["service"], r["kind"], from_iso(r["at"]), content)


def _annotation(r: Row) -> Annotation:
    return Annotation(
        id=int(r["id"]),
        signature=r["signature"],
        test_id=r["test_id"],
        environment=r["environment"],
        author=r["author"],
        tag=r["tag"],
        note=r["note"],
        link=r["link"],
        created=from_iso(r["created"]),
        updated=from_iso(r["updated"] or r["created"]),
        deleted=bool(r["deleted"]),
    )


def _audit(r: Row) -> AuditEntry:
    return AuditEntry(
        id=int(r["id"]),
        environment=r["environment"],
        user=r["user"],
        action=r["action"],
        services=tuple(json.loads(r["services"] or "[]")),
        started=from_iso(r["started"]),
        ended=_opt_time(r["ended"]),
        outcome=r["outcome"],
        details=json.loads(r["details"] or "{}"),
        forced=bool(r["forced"]),
    )


def _get_lease(db: Database, env: str) -> Lease | None:
    row = db.conn.execute(
        "SELECT owner, reason, acquired, expires, heartbeat FROM leases WHERE environment = ?",
        (env,),
    ).fetchone()
    if row is None:
        return None
    owner, reason, acquired, expires, heartbeat = row
    return Lease(env, owner, reason, from_iso(acquired), from_iso(expires), from_iso(heartbeat))
