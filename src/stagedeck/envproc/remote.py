"""The operations layer, seen from a viewer of an environment process.

A viewer builds, reviews and confirms requests exactly as it would on its own
engine (same refusals, same questions, same "force past the lease?"), but the
environment's own actions are then *performed* by the environment process:
its :class:`~stagedeck.operations.Operations` checks them again and writes the
audit entry, once, whoever asked. What only touches the viewer (running a
non-exclusive suite, a lease) is performed here as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from stagedeck.operations import Decision, NotConfirmed, Operations, Refused, Request, Result

PERFORMED_THERE = ("redeploy", "redeploy all", "bring-up", "reseed", "down")
"""And every ``fault ...``: the environment process owns the services, and lifts its faults."""


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
        params = {k: v for k, v in details.items() if k not in ("kind", "duration_s")}
        return {
            "service": request.services[0],
            "kind": details.get("kind"),
            "duration": details.get("duration_s"),
            "params": params,
        }
    return {}


@dataclass(frozen=True)
class _Spec:
    text: str

    def label(self) -> str:
        return self.text


@dataclass(frozen=True)
class _Applied:
    detail: str


@dataclass(frozen=True)
class RemoteFault:
    """What a viewer knows of a fault the environment process applied (for its notice)."""

    spec: _Spec
    applied: _Applied


class RemoteOperations(Operations):
    """Operations whose environment actions run in the environment process."""

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
            value = RemoteFault(_Spec(request.title.rstrip("?")), _Applied(outcome.detail))
        return Result(
            request,
            "ok" if outcome.ok else "failed",
            outcome.detail,
            value,
            outcome.audit_id,
            decision.forced,
        )
