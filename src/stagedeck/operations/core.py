"""Every mutating action goes through here, whichever front end asked for it.

The rules of a shared environment (read-only mode, "someone is already doing
this", someone else's lease, forced overrides, the audit trail) are the same
for a key in the cockpit, a ``stagedeck`` command in a script and, later, the
environment process. So a front end never decides them: it builds a
:class:`Request` (which says what the action will touch), asks
:meth:`Operations.review` whether and how it may run, asks its user (a dialog,
``--yes``, a tty prompt) and then calls :meth:`Operations.perform` with the
user's :class:`Decision`. ``perform`` checks everything again (time passed
while the user read the dialog), refuses with :class:`Refused` or
:class:`NotConfirmed`, and writes the audit entry before the work starts and
its end after, whatever the end is: ok, failed, error or cancelled.

Nothing here knows about Textual or argparse: an engine, a store and a user
are all it needs, so it can run inside a cockpit, a command or a daemon.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from stagedeck.engine.actions import ActionBusy
from stagedeck.operations.policy import ReadOnly
from stagedeck.store import AuditEntry, Lease, LeaseHeld, Store, StoreError, session_id

if TYPE_CHECKING:
    from stagedeck.engine.engine import Engine
    from stagedeck.faults.manager import FaultManager

BUSY_WINDOW_SECONDS = 600.0
"""An action started elsewhere less than this long ago and not finished counts as in progress."""

StoreSource = Callable[[], "Store | None"]

current_audit: ContextVar[dict[str, Any] | None] = ContextVar("current_audit", default=None)
"""While a request's work runs: {"db": path, "id": audit id} of its entry (None: unaudited).
Work that outlives this process hands it on (the fault keeper finishes the entry)."""


@dataclass(frozen=True)
class Decision:
    """What the user answered: confirmed, forced past a lease, and the request's option."""

    confirmed: bool = False
    forced: bool = False
    option: bool = False


Work = Callable[[Decision], Awaitable[Any]]


@dataclass(frozen=True)
class Request:
    """One mutating action, described before it runs.

    ``title`` and ``touches`` are what a confirmation shows: the question, and
    exactly what will be touched (the target says how, e.g. "its container is
    recreated"). ``option`` is a yes/no the front end may offer beside the
    confirmation (redeploy: "also restart its dependents").
    """

    action: str
    """The audit entry's action, and the first word of a refusal ("redeploy refused: ...")."""
    services: tuple[str, ...]
    title: str
    touches: str
    verb: str
    work: Work = field(compare=False, repr=False)
    option: str | None = None
    option_services: tuple[str, ...] = ()
    """What the option adds when chosen (a redeploy's dependents): checked and audited too."""
    details: Mapping[str, Any] = field(default_factory=dict)
    confirm: bool = True
    """False for actions that disturb nobody (starting local services that are not running)."""
    guarded: bool = True
    """False for actions that change nothing shared (a non-exclusive suite): no read-only
    refusal, no lease, no audit; only "already running here" applies."""
    audited: bool = True
    """False when the store audits the action itself, atomically (a forced lease takeover)."""
    lasting: bool = False
    """The work returns something that lasts (a fault): its audit entry stays open until
    the value's ``on_lifted`` callback fires, so Activity shows it while it is in force."""

    def question(self) -> str:
        """The confirmation as one text, for a terminal prompt."""
        return f"{self.title}\n{self.touches}"


@dataclass(frozen=True)
class Review:
    """Whether a request may run now, and what the user must be asked first."""

    request: Request
    refusal: str = ""
    """Why it cannot run at all (read-only, busy here or elsewhere); '' when it can."""
    refusal_kind: str = ""
    """'read-only', 'busy', 'busy-elsewhere' or 'unreadable' (see :class:`Refused`)."""
    lease: Lease | None = None
    """Someone else's live lease: the request runs only if the user forces it."""
    lease_refusal: str = ""
    """The refusal when not forced, naming the holder and their reason."""

    @property
    def needs_force(self) -> bool:
        return self.lease is not None


class Refused(Exception):
    """The action may not run; the message names why (and who, for a lease)."""

    def __init__(self, message: str, *, kind: str, lease: Lease | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        """'read-only', 'busy', 'busy-elsewhere', 'unreadable' (the shared database) or 'lease'."""
        self.lease = lease


class NotConfirmed(Exception):
    """The request needs the user's yes and ``perform`` was called without it."""

    def __init__(self, request: Request) -> None:
        super().__init__(f"{request.action} not confirmed: {request.title}")
        self.request = request


@dataclass(frozen=True)
class Result:
    """How a performed request ended, as recorded in the audit log."""

    request: Request
    outcome: str
    """'ok' or 'failed' (the work ran and said so)."""
    detail: str
    value: Any = None
    audit_id: int | None = None
    forced: bool = False
    audit_problem: str = ""
    """Why the audit entry could not be written ('' when it was, or no store is in use)."""

    @property
    def ok(self) -> bool:
        return self.outcome == "ok"


def busy_elsewhere(
    entries: Sequence[AuditEntry], services: Sequence[str], session: str, now: float
) -> str | None:
    """An unfinished action by another session on any of ``services``, in words."""
    for entry in entries:
        if entry.ended is not None or now - entry.started > BUSY_WINDOW_SECONDS:
            continue
        if entry.details.get("session") == session:
            continue
        overlap = set(entry.services) & set(services)
        if overlap:
            return (
                f"{entry.user} is already running '{entry.action}' on "
                f"{', '.join(sorted(overlap))} (started {int(now - entry.started)}s ago)"
            )
    return None


def _describe(value: Any) -> tuple[bool, str]:
    ok = bool(getattr(value, "ok", True))
    describe = getattr(value, "describe", None)
    detail = describe() if callable(describe) else ("" if value is None else str(value))
    return ok, str(detail)


class Operations:
    """The rules every mutating action follows, for one environment and one user."""

    def __init__(
        self,
        engine: Engine,
        *,
        user: str,
        read_only: ReadOnly | None = None,
        store: Store | StoreSource | None = None,
        session: str | None = None,
        after_write: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        self.engine = engine
        self.user = user
        self.read_only = read_only or ReadOnly()
        self._store = store
        self.session = session or session_id()
        self.after_write = after_write
        """Called after every audit write (a cockpit refreshes its shared view)."""
        self._faults: FaultManager | None = None
        self._in_flight: dict[int, str] = {}
        """Audit entries started and not yet finished: audit id -> action."""

    @property
    def env(self) -> str:
        return self.engine.recipe.name

    @property
    def store(self) -> Store | None:
        """The shared database, or None (no --db, or not opened yet): no lease, no audit."""
        if self._store is None or isinstance(self._store, Store):
            return self._store
        return self._store()

    # ------------------------------------------------------------------ review

    def check_now(self, request: Request) -> Refused | None:
        """The refusals that need no database: read-only, and busy in this process."""
        if request.guarded and self.read_only:
            return Refused(self.read_only.refusal(request.action), kind="read-only")
        claims = self.engine.claims
        busy = [f"{s} ({claims[s]})" for s in request.services if s in claims]
        if busy:
            return Refused(
                f"{request.action} refused: already in progress on {', '.join(busy)}", kind="busy"
            )
        return None

    async def review(self, request: Request) -> Review:
        """Whether ``request`` may run now, and whether it needs forcing past a lease."""
        refused = self.check_now(request)
        if refused is not None:
            return Review(request, refusal=str(refused), refusal_kind=refused.kind)
        store = self.store
        if store is None or not request.guarded:
            return Review(request)
        try:
            lease, entries = await asyncio.to_thread(self._shared_state, store)
        except StoreError as exc:
            # Unreadable shared state is no permission: say so rather than guess.
            return Review(
                request, refusal=f"{request.action} refused: {exc}", refusal_kind="unreadable"
            )
        now = store.clock()
        elsewhere = busy_elsewhere(entries, request.services, self.session, now)
        if elsewhere:
            return Review(
                request,
                refusal=f"{request.action} refused: {elsewhere}",
                refusal_kind="busy-elsewhere",
            )
        if lease is not None and lease.owner != self.user and not lease.expired(now):
            text = f"{request.action} refused: {lease.describe(now)}"
            return Review(request, lease=lease, lease_refusal=text)
        return Review(request)

    def _shared_state(self, store: Store) -> tuple[Lease | None, list[AuditEntry]]:
        return store.current_lease(self.env), store.recent_audit(self.env, limit=100)

    # ------------------------------------------------------------------ perform

    async def perform(self, request: Request, decision: Decision) -> Result:
        """Run ``request`` under the rules; raises :class:`Refused` or :class:`NotConfirmed`.

        The audit entry is started before the work and finished after it: 'ok',
        'failed', 'error' (the work raised) or 'cancelled' (the task was cancelled,
        e.g. Ctrl-C or quitting the cockpit), so no entry stays "running".
        """
        if decision.option and request.option:
            request = replace(
                request,
                services=request.services + request.option_services,
                details={**request.details, "option": request.option},
            )
        review = await self.review(request)
        if review.refusal:
            raise Refused(review.refusal, kind=review.refusal_kind)
        if review.lease is not None and not decision.forced:
            raise Refused(review.lease_refusal, kind="lease", lease=review.lease)
        if request.confirm and not decision.confirmed:
            raise NotConfirmed(request)
        forced = review.lease is not None
        details: dict[str, Any] = {**request.details, "session": self.session}
        if forced and review.lease is not None:
            details["overrode_lease"] = review.lease.describe(self.engine.clock())
        audit_id, problem = None, ""
        if request.guarded and request.audited:
            audit_id, problem = await self._audit_start(request, details, forced)
            if audit_id is not None:
                self._in_flight[audit_id] = request.action
        started = self.engine.clock()
        store = self._writable()
        token = current_audit.set(
            {"db": str(store.path), "id": audit_id}
            if store is not None and audit_id is not None
            else None
        )
        try:
            value = await request.work(decision)
        except asyncio.CancelledError:
            # The task is going away (Ctrl-C, quit): record it now, synchronously,
            # because an await here could be cancelled again before it writes.
            self._finish_now(audit_id, "cancelled", {"detail": "cancelled before it finished"})
            raise
        except ActionBusy as exc:
            await self._audit_finish(audit_id, "refused", {"detail": str(exc)})
            raise Refused(str(exc), kind="busy") from None
        except LeaseHeld as exc:
            await self._audit_finish(audit_id, "refused", {"detail": exc.lease.describe()})
            raise Refused(
                f"{request.action} refused: {exc.lease.describe()}", kind="lease", lease=exc.lease
            ) from None
        except BaseException as exc:
            await self._audit_finish(
                audit_id, "error", {"detail": f"{type(exc).__name__}: {exc}"[:2000]}
            )
            raise
        finally:
            current_audit.reset(token)
        if request.lasting:
            self._finish_when_lifted(value, audit_id)
            return Result(request, "ok", _describe(value)[1], value, audit_id, forced, problem)
        ok, detail = _describe(value)
        outcome = "ok" if ok else "failed"
        seconds = round(self.engine.clock() - started, 2)
        await self._audit_finish(audit_id, outcome, {"seconds": seconds, "detail": detail[:2000]})
        return Result(request, outcome, detail, value, audit_id, forced, problem)

    def _finish_when_lifted(self, value: Any, audit_id: int | None) -> None:
        async def lifted(handle: Any) -> None:
            await self._audit_finish(
                audit_id,
                "ok",
                {
                    "lifted": handle.ended_by,
                    "detail": handle.lift_detail,
                    "seconds": round((handle.lifted_at or handle.started) - handle.started, 2),
                },
            )

        value.on_lifted(lifted)

    @property
    def faults(self) -> FaultManager:
        """This process's active faults (created on first use: most runs inject none)."""
        if self._faults is None:
            from stagedeck.faults.manager import FaultManager

            self._faults = FaultManager(self.engine)
        return self._faults

    def abandon(self, why: str = "the process stopped before it finished") -> list[str]:
        """Finish every in-flight audit entry as 'cancelled'; returns their actions.

        A front end calls this as it goes away (a cockpit quitting while a
        redeploy runs): its workers may be dropped without their cancellation
        ever running, and an entry left open reads "running" forever.
        """
        actions = list(self._in_flight.values())
        for audit_id in list(self._in_flight):
            self._finish_now(audit_id, "cancelled", {"detail": why})
        return actions

    async def close(self, why: str = "the cockpit quit") -> None:
        """The front end is going away: faults are lifted, no audit entry stays open."""
        if self._faults is not None:
            await self._faults.close(why)
        self.abandon()

    # ------------------------------------------------------------------ audit

    def _writable(self) -> Store | None:
        store = self.store
        return store if store is not None and store.writable else None

    async def _audit_start(
        self, request: Request, details: dict[str, Any], forced: bool
    ) -> tuple[int | None, str]:
        store = self._writable()
        if store is None:
            return None, ""
        try:
            audit_id = await asyncio.to_thread(
                store.audit_start,
                self.env,
                self.user,
                request.action,
                list(request.services),
                details,
                forced,
            )
        except StoreError as exc:
            return None, str(exc)
        await self._after_write()
        return audit_id, ""

    async def _audit_finish(
        self, audit_id: int | None, outcome: str, details: dict[str, Any]
    ) -> None:
        store = self._writable()
        if store is None or audit_id is None or self._in_flight.pop(audit_id, None) is None:
            return
        with contextlib.suppress(StoreError):
            await asyncio.to_thread(store.audit_finish, audit_id, outcome, details)
        await self._after_write()

    def _finish_now(self, audit_id: int | None, outcome: str, details: dict[str, Any]) -> None:
        store = self._writable()
        if store is None or audit_id is None or self._in_flight.pop(audit_id, None) is None:
            return
        with contextlib.suppress(StoreError):
            store.audit_finish(audit_id, outcome, details)

    async def _after_write(self) -> None:
        if self.after_write is not None:
            with contextlib.suppress(Exception):
                await self.after_write()
