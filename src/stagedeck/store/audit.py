"""The audit log: who did what to which environment, started before it runs, finished after."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlite_utils import Database

from stagedeck.store.connection import Connection, _insert
from stagedeck.store.errors import StoreError
from stagedeck.store.records import (
    AuditEntry,
    Row,
    _opt_time,
    from_iso,
    iso,
)


class AuditLog(Connection):
    """The ``audit`` table."""

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
