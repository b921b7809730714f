"""The operations layer, seen from a viewer of an environment process.

A viewer builds, reviews and confirms requests exactly as it would on its own
engine (same refusals, same questions, same "force past the lease?"), but the
environment's own actions are then *performed* by the environment process:
its :class:`~stagedeck.operations.Operations` checks them again and writes the
audit entry, once, whoever asked. What only touches the viewer (running a
non-exclusive suite, a lease) is performed here as before.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

from stagedeck.engine.logs import sanitize
from stagedeck.operations import Decision, NotConfirmed, Operations, Refused, Request, Result

PERFORMED_THERE = ("redeploy", "redeploy all", "bring-up", "reseed", "down")
"""And every ``fault ...``: the environment process owns the services, and lifts its faults."""


LIFT_POLL_S = 0.1


def performed_there(action: str) -> bool:
    return action in PERFORMED_THERE or action.startswith("fault ")


def remote_args(request: Request, decision: Decision) -> dict[str, Any]:
    """What the environment process needs to build the same request again."""
    details = dict(request.details)
    if request.action == "redeploy":
        return {
            "service": request.services[0],
            "with_dependents": bool(decision.option or details.get("with_dependents")),
        }
    if request.action == "reseed":
        return {"seeds": list(details.get("seeds") or [])}
    if request.action.startswith("fault "):
        # The fault's own parameters are numbers; other details (a scenario's name) are
        # labels, passed as such.
        params = {
            k: v
            for k, v in details.items()
            if k not in ("kind", "duration_s")
            and isinstance(v, int | float)
            and not isinstance(v, bool)
        }
        return {
            "service": request.services[0],
            "kind": details.get("kind"),
            "duration": details.get("duration_s"),
            "params": params,
            "scenario": str(details.get("scenario") or ""),
        }
    return {}


@dataclass(frozen=True)
class _Spec:
    text: str
    service: str = ""

    def label(self) -> str:
        return self.text


@dataclass(frozen=True)
class _Applied:
    detail: str


class RemoteFault:
    """A fault the environment process applied, followed from a viewer.

    It has the handle's shape (``active``, ``remaining``, ``wait``, ``lift``,
    ``ended_by``) so a scenario runs the same against a local or a remote fault;
    its state is what the environment process last said (``faults`` messages)."""

    def __init__(
        self, engine: Any, fault_id: str, label: str, service: str, expires: float, detail: str
    ) -> None:
        self.engine = engine
        self.id = fault_id
        self.spec = _Spec(label, service)
        self.applied = _Applied(detail)
        self.expires = expires
        self.started = time.time()

    def _state(self) -> dict[str, Any]:
        return self.engine.faults.get(self.id) or {}  # the mirror keeps dicts only

    @property
    def active(self) -> bool:
        if self.engine.gone:
            return False
        state = self._state()
        if state:
            return bool(state.get("active"))
        return time.time() < self.expires  # not described yet: trust its expiry

    @property
    def ended_by(self) -> str:
        return str(self._state().get("ended_by") or ("" if self.active else "expired"))

    @property
    def lift_detail(self) -> str:
        return str(self._state().get("detail") or "")

    @property
    def lifted_at(self) -> float | None:
        at = self._state().get("lifted_at")
        return float(at) if at is not None else None

    def remaining(self, now: float | None = None) -> float:
        return max(0.0, self.expires - (time.time() if now is None else now))

    async def wait(self) -> None:
        """Until the environment process says it was lifted (or goes away)."""
        while self.active:
            await asyncio.sleep(LIFT_POLL_S)

    async def lift(self, why: str = "lifted early") -> str:
        if not self.active:
            return self.lift_detail
        outcome = await self.engine.request("fault lift", {"ids": [self.id], "why": why})
        await self.wait()
        return str(outcome.detail)

    def describe(self) -> str:
        state = self._state()
        who = f" by {state.get('user')}" if state.get("user") else ""
        if self.active:
            return f"{self.spec.label()}{who} ({self.remaining():.0f}s left)"
        return f"{self.spec.label()}{who}: {self.ended_by}; {self.lift_detail}"


class RemoteFaults:
    """The environment process's faults, as a viewer lists and lifts them."""

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    @property
    def active(self) -> dict[str, RemoteFault]:
        found: dict[str, RemoteFault] = {}
        for fault_id, state in self.engine.faults.items():
            if state.get("active"):
                found[fault_id] = RemoteFault(
                    self.engine,
                    fault_id,
                    str(state.get("label") or ""),
                    str(state.get("service") or ""),
                    float(state.get("expires") or 0.0),
                    "",
                )
        return found

    async def lift_all(self, why: str) -> None:
        """Every fault in force in the environment (the list shows whose they are)."""
        ids = list(self.active)
        if ids:
            await self.engine.request("fault lift", {"ids": ids, "why": why})


class RemoteOperations(Operations):
    """Operations whose environment actions run in the environment process."""

    @property
    def remote_faults(self) -> RemoteFaults:
        """What the fault picker lists and lifts here: the environment process's faults."""
        return RemoteFaults(self.engine)

    async def perform(self, request: Request, decision: Decision) -> Result:
        if not request.guarded or not performed_there(request.action):
            return await super().perform(request, decision)
        if request.confirm and not decision.confirmed:
            raise NotConfirmed(request)
        engine: Any = self.engine
        outcome = await engine.request(
            request.action, remote_args(request, decision), forced=decision.forced
        )
        if outcome.outcome == "refused":
            raise Refused(outcome.detail, kind="refused")
        value = None
        if request.lasting:
            fault = outcome.fault or {}
            fault_id = str(fault.get("id") or "")
            state = engine.faults.get(fault_id) or {}
            value = RemoteFault(
                engine,
                fault_id,
                str(state.get("label") or request.title.rstrip("?")),
                request.services[0] if request.services else "",
                float(fault.get("expires") or time.time()),
                sanitize(str(fault.get("applied") or outcome.detail)),
            )
        return Result(
            request,
            "ok" if outcome.ok else "failed",
            outcome.detail,
            value,
            outcome.audit_id,
            decision.forced,
        )
