"""Injecting one fault on one target, and what lifting it takes.

Each injector returns an :class:`Applied`: the coroutine that lifts the fault
from this process (it may need the target: starting a local process again)
and the :data:`Undo` the keeper runs if this process dies first. Blocking
SDK calls run in threads. What a kind does on each target is described by
:func:`describe`, which is what a confirmation shows.
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from stagedeck.faults.model import FaultKind, FaultSpec, Undo
from stagedeck.targets.base import TargetError

if TYPE_CHECKING:
    from stagedeck.engine.engine import Engine

Lifter = Callable[[], Awaitable[str]]

SUPPORTED: dict[str, tuple[FaultKind, ...]] = {
    "local": (FaultKind.PAUSE, FaultKind.KILL, FaultKind.STOP),
    "docker": (FaultKind.PAUSE, FaultKind.KILL, FaultKind.STOP),
    "kubernetes": (FaultKind.DELETE_POD, FaultKind.SCALE_ZERO),
}
"""Platform faults by target kind; latency and errors depend on the service (chaos, proxy)."""


@dataclass
class Applied:
    lift: Lifter
    undo: Undo = field(default_factory=lambda: {"kind": "none"})
    detail: str = ""
    """What was done, in words ("SIGSTOP to process group 4242")."""


def kinds_for(engine: Engine, service: str) -> tuple[FaultKind, ...]:
    """The faults this service can take on this target."""
    kinds = SUPPORTED.get(engine.target.kind, ())
    svc = engine.service(service)
    if getattr(svc, "chaos", "") or getattr(svc, "proxy", False):
        kinds = (*kinds, FaultKind.LATENCY, FaultKind.ERRORS)
    return kinds


def describe(engine: Engine, spec: FaultSpec) -> str:
    """What the fault touches, and how it ends, for the confirmation."""
    name, target = spec.service, engine.target.kind
    how = {
        (FaultKind.PAUSE, "local"): f"{name}'s process group is frozen (SIGSTOP)",
        (FaultKind.PAUSE, "docker"): f"{name}'s container is paused (docker pause)",
        (FaultKind.KILL, "local"): f"{name}'s process group is killed (SIGKILL)",
        (FaultKind.KILL, "docker"): f"{name}'s container is killed (docker kill)",
        (FaultKind.STOP, "local"): f"{name}'s process is stopped (SIGTERM, then SIGKILL)",
        (FaultKind.STOP, "docker"): f"{name}'s container is stopped (docker stop)",
        (FaultKind.DELETE_POD, "kubernetes"): f"one pod of {name} is deleted",
        (FaultKind.SCALE_ZERO, "kubernetes"): f"{name}'s workload is scaled to 0 replicas",
    }.get((spec.kind, target))
    if how is None and spec.kind in (FaultKind.LATENCY, FaultKind.ERRORS):
        how = _describe_traffic(engine, spec)
    if how is None:
        how = f"{spec.kind.value} on {name}"
    ending = {
        FaultKind.PAUSE: "resumed",
        FaultKind.KILL: "started again",
        FaultKind.STOP: "started again",
        FaultKind.DELETE_POD: "over (its controller replaces the pod at once)",
        FaultKind.SCALE_ZERO: "scaled back to its replicas",
        FaultKind.LATENCY: "back to normal",
        FaultKind.ERRORS: "back to normal",
    }[spec.kind]
    return (
        f"{how}.\nAfter {spec.duration:g}s it is {ending}: automatically when the time is up, "
        "when this cockpit quits, and even if it is killed (a keeper process lifts it)."
    )


def _describe_traffic(engine: Engine, spec: FaultSpec) -> str:
    svc = engine.service(spec.service)
    via = "its chaos endpoint" if getattr(svc, "chaos", "") else "the stagedeck proxy in front"
    if spec.kind is FaultKind.LATENCY:
        return (
            f"every request to {spec.service} waits {spec.params.get('delay_ms', 500):g} ms ({via})"
        )
    return f"{spec.params.get('rate', 0.5):.0%} of requests to {spec.service} fail ({via})"


def planned_undo(engine: Engine, spec: FaultSpec) -> Undo:
    """What the keeper must do to lift ``spec``, known *before* it is applied.

    The keeper is told this first: a SIGKILL between applying a fault and telling
    the keeper would otherwise leave it in force. Every undo is safe when the
    fault never happened (SIGCONT to a running group, unpause checks first,
    scaling to the replicas it has).
    """
    target: Any = engine.target
    if target.kind == "local" and spec.kind is FaultKind.PAUSE:
        pgid = target.pid(spec.service)
        return {"kind": "signal", "pgid": pgid, "signal": "SIGCONT"} if pgid else {"kind": "none"}
    if target.kind == "docker" and spec.kind in (FaultKind.PAUSE, FaultKind.KILL, FaultKind.STOP):
        return _docker_undo(target, spec.service, spec.kind) or {"kind": "none"}
    if target.kind == "kubernetes" and spec.kind is FaultKind.SCALE_ZERO:
        from stagedeck.faults.kubernetes import scale_undo

        return scale_undo(engine, spec)
    return {"kind": "none"}


def _docker_undo(target: Any, service: str, kind: FaultKind) -> Undo | None:
    container_id = target.container_id(service)
    if container_id is None:
        return None
    return {
        "kind": "docker",
        "action": "unpause" if kind is FaultKind.PAUSE else "start",
        "container": container_id,
        "base_url": target.docker_host or "",
    }


async def inject(engine: Engine, spec: FaultSpec) -> Applied:
    """Apply ``spec`` now; raises TargetError (in words a user can act on) when it cannot."""
    target = engine.target
    if spec.kind not in kinds_for(engine, spec.service):
        possible = ", ".join(k.value for k in kinds_for(engine, spec.service)) or "none"
        raise TargetError(
            f"{spec.kind.value} is not possible on {spec.service} ({target.kind} target); "
            f"possible here: {possible}"
        )
    if spec.kind in (FaultKind.LATENCY, FaultKind.ERRORS):
        from stagedeck.faults.traffic import inject_traffic

        return await inject_traffic(engine, spec)
    if target.kind == "local":
        return await _local(engine, spec)
    if target.kind == "docker":
        return await _docker(engine, spec)
    from stagedeck.faults.kubernetes import inject_kubernetes

    return await inject_kubernetes(engine, spec)


# ---------------------------------------------------------------------- local


async def _local(engine: Engine, spec: FaultSpec) -> Applied:
    target: Any = engine.target
    svc = engine.service(spec.service)
    pgid = target.pid(spec.service)
    if pgid is None:
        raise TargetError(f"{spec.service} is not running: there is nothing to {spec.kind.value}")
    if spec.kind is FaultKind.PAUSE:
        os.killpg(pgid, signal.SIGSTOP)

        async def resume() -> str:
            try:
                os.killpg(pgid, signal.SIGCONT)
            except ProcessLookupError:
                return "the process is gone"
            return f"resumed process group {pgid}"

        return Applied(resume, planned_undo(engine, spec), f"SIGSTOP to process group {pgid}")

    if spec.kind is FaultKind.KILL:
        os.killpg(pgid, signal.SIGKILL)
        detail = f"SIGKILL to process group {pgid}"
    else:
        await target.stop(svc)
        detail = f"stopped process group {pgid}"

    async def start_again() -> str:
        await target.start(svc)
        return f"started {spec.service} again"

    # Local services die with the process that runs them: nothing for the keeper to do.
    return Applied(start_again, {"kind": "none"}, detail)


# ---------------------------------------------------------------------- docker


async def _docker(engine: Engine, spec: FaultSpec) -> Applied:
    import docker

    target: Any = engine.target
    container_id = target.container_id(spec.service)
    if container_id is None:
        raise TargetError(f"{spec.service} has no container yet: there is nothing to fault")
    base_url = target.docker_host

    def client() -> Any:
        if base_url:
            return docker.DockerClient(base_url=base_url, timeout=30)
        return docker.from_env(timeout=30)

    def act(action: str) -> str:
        c = client()
        try:
            container = c.containers.get(container_id)
            if action == "pause":
                container.pause()
            elif action == "kill":
                container.kill()
            elif action == "stop":
                container.stop(timeout=5)
            return str(container.name)
        except docker.errors.APIError as exc:
            raise TargetError(f"docker {action} {spec.service}: {exc.explanation or exc}") from None
        finally:
            c.close()

    name = await asyncio.to_thread(act, spec.kind.value)
    from stagedeck.faults.keeper import lift as keeper_lift

    undo = _docker_undo(target, spec.service, spec.kind) or {"kind": "none"}

    async def lift() -> str:
        return await asyncio.to_thread(keeper_lift, undo)

    return Applied(lift, undo, f"docker {spec.kind.value} {name}")


async def clear(engine: Engine, service: str, kind: FaultKind) -> str:
    """Lift a fault that another process injected, from what the audit log says of it.

    Used by ``stagedeck fault --clear``: this process has no handle, so it undoes
    the kind on the service through the target (resume, start, scale back).
    """
    target: Any = engine.target
    svc = engine.service(service)
    if kind in (FaultKind.LATENCY, FaultKind.ERRORS):
        from stagedeck.faults.traffic import reset_traffic

        return await reset_traffic(engine, service)
    if target.kind == "docker":
        undo = _docker_undo(target, service, kind)
        if undo is None:
            return f"{service} has no container: nothing to clear"
        from stagedeck.faults.keeper import lift as keeper_lift

        return await asyncio.to_thread(keeper_lift, undo)
    if target.kind == "kubernetes":
        if kind is FaultKind.SCALE_ZERO:
            await target.start(svc)
            return f"scaled {service} back"
        return "nothing to clear (the controller replaced the pod)"
    raise TargetError(
        f"{service}'s process belongs to the cockpit that started it: "
        "its faults are lifted there (quit it, or wait for them to expire)"
    )
