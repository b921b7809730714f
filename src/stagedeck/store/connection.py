"""Opening the shared SQLite file, and the connection, retry and change-detection layer.

The table families build on :class:`Connection` (``runs.py``, ``annotations.py``,
``audit.py``, ``leases.py``, ``presence.py``); :class:`stagedeck.store.Store` is all of them.

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
  ``changes`` table of per-topic counters, so a cockpit can poll every second for
  the cost of one pragma. The topics name what moved; the cockpit's
  ``SharedState`` re-reads its whole snapshot when any of them did.

A file that cannot be written (permissions, a read-only mount, ``read_only=True``)
still opens for reading: :attr:`Store.writable` is false, :attr:`Store.problem`
says why (for a banner), and every write raises that :class:`StoreError`, a lease
included: a lease that could not be recorded must never look granted.

"""

from __future__ import annotations

import os
import random
import socket
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Final, TypeVar

if TYPE_CHECKING:
    from sqlite_utils import Database

from typing import Self

from stagedeck.store.errors import StoreError
from stagedeck.store.migrations import MIGRATIONS, SCHEMA_VERSION
from stagedeck.store.records import (
    Clock,
    Row,
)

T = TypeVar("T")

DEFAULT_BUSY_TIMEOUT_S: Final = 5.0
DEFAULT_RETRIES: Final = 3

_BUSY: Final = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_READ_ONLY: Final = (sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM, sqlite3.SQLITE_AUTH)
_CORRUPT: Final = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


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


# ------------------------------------------------------------------- connection


def _code(exc: sqlite3.Error) -> int:
    return int(getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF


def _is_busy(exc: sqlite3.Error) -> bool:
    return _code(exc) in _BUSY or "database is locked" in str(exc)


class Connection:
    """The shared SQLite file: open, migrate, connect per thread, retry, detect changes.

    Use :class:`stagedeck.store.Store`, which adds the table families. Open with
    :meth:`open`; safe to call from any thread.
    """

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
    ) -> Self:
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

    def __enter__(self) -> Self:
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
