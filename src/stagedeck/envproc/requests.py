"""Actions that viewers ask the environment process for: its rules, its audit, once.

A cockpit or a CLI command attached to an environment process does not run
plans itself: it sends a request, and the environment process (which owns the
services) checks the rules and records the audit entry, once, whoever asked.

This is the seam for ``stagedeck.operations`` (the single home of refusals and
audit, being built on another branch): :func:`perform` is the one function to
route through it when it lands. Until then the rules here are the ones the
cockpit's controller applies (read-only, busy, someone else's lease unless
forced), so nothing changes for the user.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from stagedeck.engine.actions import ActionBusy, PlanOutcome, bring_up, redeploy, redeploy_all
from stagedeck.engine.engine import Engine
from stagedeck.engine.seeding import ReseedOutcome, reseed
from stagedeck.policy import ReadOnly
from stagedeck.store import Store, StoreError

log = logging.getLogger("stagedeck.envproc")

ACTIONS = ("redeploy", "redeploy all", "bring-up", "reseed", "down")


@dataclass(frozen=True)
class Caller:
    """Who asked: the name they go by, the Unix account the socket says, their access."""

    user: str
    account: str
    access: str = "read-write"
    """'read-write' or 'read-only' (a group member of a read-only shared environment)."""


@dataclass
class Reply:
    """What a request came to, in a form that travels as JSON."""

    ok: bool
    outcome: str = "ok"
    """'ok', 'failed', 'refused' or 'error'."""
    detail: str = ""
    started: float = 0.0
    finished: float = 0.0
    audit_id: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_wire(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "outcome": self.outcome,
            "detail": self.detail,
            "started": self.started,
            "finished": self.finished,
            "audit_id": self.audit_id,
            **self.extra,
        }


class Actions:
    """The environment process's action desk: one per environment process."""

    def __init__(
        self,
        engine: Engine,
        store_opener: Callable[[], Store | None],
        read_only: ReadOnly,
        on_down: Callable[[str], Awaitable[None]],
    ) -> None:
        self.engine = engine
        self._open_store = store_opener
        self._store: Store | None = None
        self._store_tried = False
        self.read_only = read_only
        self._on_down = on_down

    async def store(self) -> Store | None:
        if not self._store_tried:
            self._store_tried = True
            try:
                self._store = await asyncio.to_thread(self._open_store)
            except StoreError as exc:
                log.warning("no audit: %s", exc)
        return self._store

    def services_of(self, action: str, args: dict[str, Any]) -> list[str]:
        engine = self.engine
        if action == "redeploy":
            name = str(args.get("service") or "")
            deps = engine.graph.dependents(name) if args.get("with_dependents") else []
            return [name, *deps]
        if action == "reseed":
            seeds = engine.recipe.seeds
            return sorted({s.service for s in seeds.values()})
        return list(engine.graph.nodes)

    def refusal(self, action: str, args: dict[str, Any], caller: Caller) -> str | None:
        if action not in ACTIONS:
            return f"unknown action {action!r} (known: {', '.join(ACTIONS)})"
        if self.read_only:
            return self.read_only.refusal(action)
        if caller.access != "read-write":
            return f"{action} refused: {caller.account} has read-only access to this environment"
        if action == "redeploy" and args.get("service") not in self.engine.recipe.services:
            return f"no service {args.get('service')!r} in {self.engine.recipe.path}"
        if action == "reseed" and not self.engine.recipe.seeds:
            return "this recipe has no seeds"
        claims = self.engine.claims
        busy = [f"{s} ({claims[s]})" for s in self.services_of(action, args) if s in claims]
        if busy and action != "down":
            return f"{action} refused: already in progress on {', '.join(busy)}"
        return None

    async def lease_refusal(self, action: str, caller: Caller) -> str | None:
        store = await self.store()
        if store is None:
            return None
        try:
            lease = await asyncio.to_thread(store.current_lease, self.engine.recipe.name)
        except StoreError:
            return None
        if lease is None or lease.owner == caller.user:
            return None
        return f"{action} refused: {lease.describe()}"

    async def perform(
        self, action: str, args: dict[str, Any], caller: Caller, *, forced: bool = False
    ) -> Reply:
        """Check the rules, audit the start, run the plan, audit how it ended."""
        now = self.engine.clock()
        refusal = self.refusal(action, args, caller)
        if refusal is None and not forced:
            refusal = await self.lease_refusal(action, caller)
        if refusal is not None:
            return Reply(False, "refused", refusal, now, now)
        services = self.services_of(action, args)
        store = await self.store()
        audit_id: int | None = None
        if store is not None and store.writable:
            details = {"via": "environment process", "account": caller.account}
            details.update({k: v for k, v in args.items() if k in ("with_dependents", "seeds")})
            try:
                audit_id = await asyncio.to_thread(
                    store.audit_start,
                    self.engine.recipe.name,
                    caller.user,
                    action,
                    services,
                    details,
                    forced,
                )
            except StoreError as exc:
                log.warning("audit not written: %s", exc)
        reply = await self._run(action, args, caller)
        reply.audit_id = audit_id
        if store is not None and audit_id is not None:
            with contextlib.suppress(StoreError):
                await asyncio.to_thread(
                    store.audit_finish,
                    audit_id,
                    reply.outcome,
                    {"seconds": round(reply.finished - reply.started, 2), "detail": reply.detail},
                )
        return reply

    async def _run(self, action: str, args: dict[str, Any], caller: Caller) -> Reply:
        engine = self.engine
        started = engine.clock()
        outcome: PlanOutcome | ReseedOutcome
        try:
            if action == "down":
                await self._on_down(caller.user)
                return Reply(True, "ok", f"stopped by {caller.user}", started, engine.clock())
            if action == "redeploy":
                outcome = await redeploy(
                    engine, str(args["service"]), with_dependents=bool(args.get("with_dependents"))
                )
            elif action == "redeploy all":
                outcome = await redeploy_all(engine)
            elif action == "bring-up":
                outcome = await bring_up(engine)
            else:
                seeds = args.get("seeds") or None
                outcome = await reseed(engine, [str(s) for s in seeds] if seeds else None)
        except ActionBusy as exc:
            return Reply(False, "refused", str(exc), started, engine.clock())
        except Exception as exc:
            log.exception("%s failed", action)
            return Reply(False, "error", f"{action} failed: {exc}", started, engine.clock())
        return Reply(
            outcome.ok,
            "ok" if outcome.ok else "failed",
            outcome.describe(),
            outcome.started,
            outcome.finished or engine.clock(),
        )
