"""Leases: one person reserves an environment for a while, atomically across processes."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlite_utils import Database

from stagedeck.store.audit import AuditLog
from stagedeck.store.errors import LeaseHeld, LeaseLost
from stagedeck.store.records import (
    Lease,
    _ms,
    from_iso,
    iso,
)


class Leases(AuditLog):
    """The ``leases`` table; a forced takeover or release is written to the audit log too."""

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


def _get_lease(db: Database, env: str) -> Lease | None:
    row = db.conn.execute(
        "SELECT owner, reason, acquired, expires, heartbeat FROM leases WHERE environment = ?",
        (env,),
    ).fetchone()
    if row is None:
        return None
    owner, reason, acquired, expires, heartbeat = row
    return Lease(env, owner, reason, from_iso(acquired), from_iso(expires), from_iso(heartbeat))
