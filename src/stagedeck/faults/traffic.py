"""Latency and error faults: through the service's chaos endpoint, or the local proxy.

A service that has its own knobs (``chaos = "/admin/chaos"``, like the demo)
gets them set over HTTP, and set back to what they were when the fault is
lifted; the keeper holds the same request, so a dead cockpit does not leave
the service slow. A local service with ``proxy = true`` gets the stagedeck
proxy's delay and drop rate set instead (the proxy lives and dies with the
cockpit that runs the service, so it needs no keeper).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import httpx

from stagedeck.faults.apply import Applied
from stagedeck.faults.model import FaultKind, FaultSpec, Undo
from stagedeck.targets.base import TargetError

if TYPE_CHECKING:
    from stagedeck.engine.engine import Engine

DEFAULT_DELAY_MS = 500.0
DEFAULT_RATE = 0.5


def _knobs(spec: FaultSpec) -> dict[str, float]:
    if spec.kind is FaultKind.LATENCY:
        return {"latency_ms": spec.params.get("delay_ms", DEFAULT_DELAY_MS)}
    return {"error_rate": spec.params.get("rate", DEFAULT_RATE)}


async def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        try:
            response = await client.post(url, json=body)
        except httpx.HTTPError as exc:
            raise TargetError(f"chaos endpoint {url}: {exc}") from None
    if response.status_code >= 400:
        raise TargetError(f"chaos endpoint {url} answered {response.status_code}: {response.text}")
    data = response.json()
    return data if isinstance(data, dict) else {}


async def _get(url: str) -> dict[str, Any]:
    async with httpx.AsyncClient(timeout=5.0) as client:
        try:
            response = await client.get(url)
        except httpx.HTTPError as exc:
            raise TargetError(f"chaos endpoint {url}: {exc}") from None
    data = response.json() if response.status_code < 400 else {}
    return data if isinstance(data, dict) else {}


async def inject_traffic(engine: Engine, spec: FaultSpec) -> Applied:
    svc = engine.service(spec.service)
    if svc.chaos:
        if not svc.url:
            raise TargetError(f"{spec.service} has no url: its chaos endpoint cannot be reached")
        url = svc.url.rstrip("/") + svc.chaos
        before = await _get(url)
        knobs = _knobs(spec)
        restore = {k: before.get(k, 0) for k in knobs}
        await _post(url, knobs)
        undo: Undo = {"kind": "http", "method": "POST", "url": url, "json": restore}

        async def lift() -> str:
            await _post(url, restore)
            return f"chaos back to {restore}"

        shown = ", ".join(f"{k}={v:g}" for k, v in knobs.items())
        return Applied(lift, undo, f"chaos {shown} on {url}")
    proxy = getattr(engine.target, "proxy", lambda _: None)(spec.service)
    if proxy is None:
        raise TargetError(
            f"{spec.service} has no proxy in this process: its proxy belongs to the cockpit "
            "that runs it (inject the fault there)"
        )
    if spec.kind is FaultKind.LATENCY:
        proxy.set_fault(delay_ms=spec.params.get("delay_ms", DEFAULT_DELAY_MS))
    else:
        proxy.set_fault(drop_rate=spec.params.get("rate", DEFAULT_RATE))

    async def clear() -> str:
        proxy.clear()
        return "proxy back to pass-through"

    detail = f"proxy delay {proxy.delay_ms:g} ms, drop rate {proxy.drop_rate:g}"
    return Applied(clear, {"kind": "none"}, detail)


async def reset_traffic(engine: Engine, service: str) -> str:
    """``fault --clear``: no handle, so the knobs go back to zero."""
    svc = engine.service(service)
    if svc.chaos and svc.url:
        await _post(svc.url.rstrip("/") + svc.chaos, {"latency_ms": 0, "error_rate": 0})
        return "chaos back to latency_ms=0, error_rate=0"
    proxy = getattr(engine.target, "proxy", lambda _: None)(service)
    if proxy is None:
        return "the proxy belongs to the cockpit that runs the service: lift it there"
    proxy.clear()
    return "proxy back to pass-through"
