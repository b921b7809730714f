"""Why the store refused: a file it cannot use, a lease someone else holds, a note not yours."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    pass

from stagedeck.store.records import Lease


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
