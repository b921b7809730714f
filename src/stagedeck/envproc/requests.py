"""Actions that viewers ask the environment process for: its rules, its audit, once.

A cockpit or a CLI command attached to an environment process does not run
plans itself (``remote.RemoteOperations``): it sends a request, and the
environment process, which owns the services, builds the same
:class:`~stagedeck.operations.Request` and performs it through
:class:`~stagedeck.operations.Operations`: read-only, busy, someone else's
lease unless forced, and the audit entry, once, in the asker's name.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from stagedeck.engine.engine import Engine
from stagedeck.engine.events import FaultsChanged
from stagedeck.engine.logs import sanitize
from stagedeck.operations import (
    Decision,
    NotConfirmed,
    Operations,
    ReadOnly,
    Refused,
    Request,
    requests,
)
from stagedeck.store import Store, StoreError

log = logging.getLogger("stagedeck.envproc")

ACTIONS = ("redeploy", "redeploy all", "bring-up", "reseed", "down", "fault lift")
FAULTS_KEPT = 20
"""Lifted faults still described to viewers (a scenario reads how its fault ended)."""


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


def _numbers(params: Any) -> dict[str, float]:
    """A fault's parameters, each a number (the request came over a socket)."""
    numbers: dict[str, float] = {}
    for key, value in dict(params).items():
        try:
            numbers[str(key)] = float(value)
        except (TypeError, ValueError):
            raise ValueError(
                f"fault parameter {sanitize(str(key))[:40]!r} must be a number, "
                f"not {sanitize(str(value))[:40]!r}"
            ) from None
    return numbers


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
        self._ops: dict[tuple[str, str, str], Operations] = {}
        """One Operations per asker (name, account, access): its faults and its audit."""
        self._faults: dict[str, tuple[str, Any]] = {}
        """Fault id → (who injected it, its handle), in force or lately lifted."""

    async def store(self) -> Store | None:
        if not self._store_tried:
            self._store_tried = True
            try:
                self._store = await asyncio.to_thread(self._open_store)
            except StoreError as exc:
                log.warning("no audit: %s", exc)
        return self._store

    def ops_for(self, caller: Caller) -> Operations:
        key = (caller.user, caller.account, caller.access)
        ops = self._ops.get(key)
        if ops is None:
            read_only = self.read_only
            if not read_only and caller.access != "read-write":
                read_only = ReadOnly(f"read-only access for {caller.account} (a group share)")
            ops = self._ops[key] = Operations(
                self.engine, user=caller.user, read_only=read_only, store=lambda: self._store
            )
        return ops

    def build(self, ops: Operations, action: str, args: dict[str, Any], caller: Caller) -> Request:
        """The same request the asker built, built again here (raises ValueError)."""
        if action == "redeploy":
            name = str(args.get("service") or "")
            return requests.redeploy(ops, name, with_dependents=bool(args.get("with_dependents")))
        if action == "redeploy all":
            return requests.redeploy_all(ops)
        if action == "bring-up":
            return requests.bring_up(ops)
        if action == "reseed":
            seeds = [str(s) for s in args.get("seeds") or []]
            return requests.reseed(ops, seeds or None)
        if action.startswith("fault "):
            params = args.get("params") or {}
            request = requests.fault(
                ops,
                str(args.get("service") or ""),
                str(args.get("kind") or ""),
                float(args.get("duration") or 60.0),
                _numbers(params),
            )
            scenario = sanitize(str(args.get("scenario") or ""))[:100]
            if scenario:  # the audit says which rehearsal it was part of
                request = dataclasses.replace(
                    request, details={**request.details, "scenario": scenario}
                )
            return request
        if action == "down":
            others = caller.user

            async def work(_: Decision) -> str:
                await self._on_down(others)
                return f"environment stopped by {others}"

            return Request(
                "down",
                (),
                f"Stop the environment {self.engine.recipe.name}?",
                "Stops the environment process and every local service it runs.",
                "Stop",
                work,
            )
        raise ValueError(f"unknown action {action!r} (known: {', '.join(ACTIONS)}, fault KIND)")

    def fault_states(self) -> list[dict[str, Any]]:
        """Every fault in force here, whoever injected it, and the last ones lifted."""
        lifted = [i for i, (_, h) in self._faults.items() if not h.active]
        for fault_id in lifted[: max(0, len(lifted) - FAULTS_KEPT)]:
            del self._faults[fault_id]
        return [
            {
                "id": h.id,
                "label": h.spec.label(),
                "service": h.spec.service,
                "user": user,
                "expires": h.expires,
                "active": h.active,
                "ended_by": h.ended_by,
                "detail": h.lift_detail,
                "lifted_at": h.lifted_at,
            }
            for user, h in self._faults.values()
        ]

    async def lift(self, args: dict[str, Any], caller: Caller) -> Reply:
        """Lift faults early: the ones named (anyone's: lifting only restores), else the
        asker's own. Read-only viewers may not (they may not inject either)."""
        now = self.engine.clock()
        if self.read_only or caller.access != "read-write":
            why = (
                str(self.read_only) if self.read_only else f"read-only access for {caller.account}"
            )
            return Reply(False, "refused", f"fault lift refused: {why}", now, now)
        ids = {str(i) for i in args.get("ids") or []}
        handles = [
            h
            for user, h in self._faults.values()
            if h.active and (h.id in ids if ids else user == caller.user)
        ]
        if not handles:
            return Reply(True, "ok", "no fault in force to lift", now, now)
        why = f"{sanitize(str(args.get('why') or 'lifted early'))[:80]} by {caller.user}"
        details = await asyncio.gather(*(h.lift(why) for h in handles), return_exceptions=True)
        text = "; ".join(f"{h.spec.label()}: {d}" for h, d in zip(handles, details, strict=True))
        return Reply(True, "ok", f"lifted {len(handles)}: {text}", now, self.engine.clock())

    async def perform(
        self, action: str, args: dict[str, Any], caller: Caller, *, forced: bool = False
    ) -> Reply:
        """Build the request again and perform it under the operations layer's rules."""
        await self.store()
        if action == "fault lift":
            return await self.lift(args, caller)
        now = self.engine.clock()
        ops = self.ops_for(caller)
        try:
            request = self.build(ops, action, args, caller)
        except ValueError as exc:
            return Reply(False, "refused", str(exc), now, now)
        request = dataclasses.replace(
            request,
            details={**request.details, "via": "environment process", "account": caller.account},
        )
        try:
            result = await ops.perform(request, Decision(confirmed=True, forced=forced))
        except (Refused, NotConfirmed) as exc:
            return Reply(False, "refused", str(exc), now, self.engine.clock())
        except Exception as exc:
            log.exception("%s failed", action)
            return Reply(False, "error", f"{action} failed: {exc}", now, self.engine.clock())
        extra: dict[str, Any] = {}
        handle = result.value
        if request.lasting and handle is not None and hasattr(handle, "expires"):
            self._faults[handle.id] = (caller.user, handle)
            extra["fault"] = {
                "id": handle.id,
                "expires": handle.expires,
                "applied": handle.applied.detail,
            }
            self.engine.bus.publish(FaultsChanged())  # viewers learn it before the reply
        return Reply(
            result.ok,
            result.outcome,
            result.detail,
            now,
            self.engine.clock(),
            result.audit_id,
            extra,
        )

    async def close(self, why: str) -> None:
        """The environment process stops: every asker's faults are lifted."""
        for ops in self._ops.values():
            try:
                await ops.close(why)
            except Exception:
                log.exception("closing operations failed")
