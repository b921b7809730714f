"""Presence: which sessions are watching an environment, by heartbeat."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database

from stagedeck.store.connection import Connection
from stagedeck.store.records import (
    PRESENCE_RETENTION_S,
    Watcher,
    from_iso,
    iso,
)


class Presence(Connection):
    """The ``presence`` table."""

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
