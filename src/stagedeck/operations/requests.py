"""The mutating actions, each described as a :class:`Request` before it runs.

A builder checks its arguments (raising ``ValueError`` with words a user can
act on), asks the target what the action will touch, and wraps the plan that
does the work. Front ends show ``title``/``touches`` and hand the request to
:meth:`Operations.perform`; they never call the plans themselves.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING, Any

from stagedeck.engine import actions, seeding
from stagedeck.faults.model import DEFAULT_DURATION_S
from stagedeck.operations.core import Decision, Operations, Request, current_audit

if TYPE_CHECKING:
    from stagedeck.engine.actions import PlanOutcome


def _service(ops: Operations, name: str | None) -> str:
    if not name:
        raise ValueError("select a service first")
    if name not in ops.engine.recipe.services:
        known = ", ".join(ops.engine.recipe.services) or "none"
        raise ValueError(f"no service '{name}' in {ops.engine.recipe.path} (services: {known})")
    return name


def redeploy(ops: Operations, name: str | None, *, with_dependents: bool | None = None) -> Request:
    """Restart one service; ``with_dependents`` None lets the user choose (the option)."""
    engine = ops.engine
    name = _service(ops, name)
    dependents = engine.graph.dependents(name)
    svc = engine.service(name)
    how = engine.target.describe_redeploy(svc)
    touches = f"{how}; stagedeck then waits until it is healthy (up to {svc.ready_timeout:g}s)."
    services = [name]
    option = None
    extra: tuple[str, ...] = ()
    if with_dependents and dependents:
        touches += f"\nThen its dependents, in order: {', '.join(dependents)}."
        services += dependents
    elif with_dependents is None and dependents:
        option = f"also restart its dependents afterwards: {', '.join(dependents)}"
        extra = tuple(dependents)

    async def work(decision: Decision) -> PlanOutcome:
        both = bool(with_dependents) or (with_dependents is None and decision.option)
        return await actions.redeploy(engine, name, with_dependents=both)

    return Request(
        "redeploy",
        tuple(services),
        f"Redeploy {name}?",
        touches,
        "Redeploy",
        work,
        option=option,
        option_services=extra,
        details={"with_dependents": bool(with_dependents)} if with_dependents else {},
    )


def redeploy_all(ops: Operations) -> Request:
    """Every service, layer by layer: starts them when this cockpit runs none yet (local)."""
    engine = ops.engine
    first_start = engine.target.manages_processes and all(
        s.pid is None for s in engine.statuses.values()
    )
    if first_start:
        return bring_up(ops)
    return _every_service(
        ops,
        "redeploy all",
        "Restart",
        actions.redeploy_all,
        "\nThe first failure stops the plan; later layers are left alone.",
    )


def bring_up(ops: Operations) -> Request:
    """Start the services this process runs (local), in dependency order.

    Starting what is not running disturbs nobody, so it needs no confirmation;
    it is still refused when read-only or under someone else's lease, and audited.
    """
    return _every_service(ops, "bring-up", "Start", actions.bring_up, confirm=False)


def _every_service(
    ops: Operations,
    action: str,
    verb: str,
    plan: Callable[[Any], Awaitable[PlanOutcome]],
    more: str = "",
    *,
    confirm: bool = True,
) -> Request:
    engine = ops.engine
    names = engine.graph.nodes
    layers = " → ".join(", ".join(layer) for layer in engine.graph.layers())

    async def work(_: Decision) -> PlanOutcome:
        return await plan(engine)

    return Request(
        action,
        tuple(names),
        f"{verb} all {len(names)} services?",
        f"{verb} every service, layer by layer, each layer only after the previous one "
        f"is healthy:\n  {layers}{more}",
        verb,
        work,
        confirm=confirm,
    )


def reseed(ops: Operations, seeds: Sequence[str] | None = None) -> Request:
    """Load the recipe's seeds (or ``seeds`` and what they need) in dependency order."""
    engine = ops.engine
    known = dict(engine.recipe.seeds)
    if not known:
        raise ValueError(f"{engine.recipe.path} has no seeds")
    unknown = [s for s in seeds or [] if s not in known]
    if unknown:
        raise ValueError(
            f"no seed {', '.join(unknown)} in {engine.recipe.path} (seeds: {', '.join(known)})"
        )
    order = [n for layer in seeding.seed_order(known, seeds or None) for n in layer]
    services = sorted({known[n].service for n in order})
    lines = "\n".join(f"  {n} → {known[n].service}" for n in order)
    wanted = list(seeds) if seeds else None

    async def work(_: Decision) -> seeding.ReseedOutcome:
        return await seeding.reseed(engine, wanted)

    return Request(
        "reseed",
        tuple(services),
        "Reseed test data?",
        f"Test data in these services is overwritten, in this order:\n{lines}",
        "Reseed",
        work,
        details={"seeds": order},
    )


def restart_changed(ops: Operations, names: Sequence[str]) -> Request:
    """After a recipe reload: the services whose command changed, restarted one by one."""
    engine = ops.engine
    names = list(names)

    async def work(_: Decision) -> PlanOutcome:
        outcome = actions.PlanOutcome("restart changed", started=engine.clock())
        for name in names:
            step = await actions.redeploy(engine, name)
            outcome.steps.extend(step.steps)
            if not step.ok:
                break
        outcome.finished = engine.clock()
        return outcome

    return Request(
        "redeploy",
        tuple(names),
        f"Restart {', '.join(names)}?",
        "The recipe now runs these differently (command, env or working directory). "
        "They keep running the old way until restarted:\n  " + ", ".join(names),
        "Restart",
        work,
    )


def run_suites(ops: Operations, names: Sequence[str], run: Callable[[], Awaitable[Any]]) -> Request:
    """Run suites; ``run`` does it (the front end shows progress its own way).

    Only exclusive suites (a load test, a destructive migration check) are
    guarded: they are refused read-only and under someone else's lease, and
    audited. Ordinary suites only read the environment.
    """
    suites = ops.engine.recipe.suites
    unknown = [n for n in names if n not in suites]
    if unknown or not names:
        raise ValueError(
            f"no suite {', '.join(unknown)} in {ops.engine.recipe.path} "
            f"(suites: {', '.join(suites) or 'none'})"
        )
    exclusive = [n for n in names if suites[n].exclusive]

    async def work(_: Decision) -> Any:
        return await run()

    label = ", ".join(names)
    return Request(
        f"run {label}",
        (),
        f"Run {label}?",
        (
            f"{', '.join(exclusive)} {'is' if len(exclusive) == 1 else 'are'} exclusive: "
            "they need the environment to themselves."
            if exclusive
            else "The suites run against the environment; nothing is restarted."
        ),
        "Run",
        work,
        confirm=False,
        guarded=bool(exclusive),
        details={"suites": list(names), "exclusive": exclusive},
    )


def acquire_lease(ops: Operations, reason: str, ttl_s: float) -> Request:
    """Reserve the environment; someone else's live lease must be forced (the store audits it)."""
    if ttl_s <= 0:
        raise ValueError("a lease needs a positive duration")
    store = ops.store

    async def work(decision: Decision) -> Any:
        if store is None:
            raise ValueError("leases need the shared database (--db)")
        return await asyncio.to_thread(
            store.acquire_lease, ops.env, ops.user, reason, ttl_s, force=decision.forced
        )

    return Request(
        "lease",
        (),
        f"Lease {ops.env}?",
        f"{ops.env} is reserved for you for {ttl_s / 60:g} minutes: "
        + (reason or "(no reason given)"),
        "Lease",
        work,
        confirm=False,
        audited=False,
    )


def release_lease(ops: Operations) -> Request:
    """Give the environment back; releasing someone else's lease must be forced (audited)."""
    store = ops.store

    async def work(decision: Decision) -> bool:
        if store is None:
            raise ValueError("leases need the shared database (--db)")
        return await asyncio.to_thread(
            store.release_lease, ops.env, ops.user, force=decision.forced
        )

    return Request(
        "lease",
        (),
        f"Release the lease on {ops.env}?",
        f"{ops.env} is free for anyone again.",
        "Release",
        work,
        confirm=False,
        audited=False,
    )


def fault(
    ops: Operations,
    service: str | None,
    kind: str,
    duration: float = DEFAULT_DURATION_S,
    params: dict[str, float] | None = None,
) -> Request:
    """Inject a temporary fault; it is lifted when it expires, when we quit, or if we die.

    The work returns the :class:`FaultHandle` at once; the audit entry stays
    open while the fault is in force and is finished when it is lifted.
    """
    from stagedeck.faults.apply import describe, kinds_for
    from stagedeck.faults.model import FaultSpec, parse_kind

    name = _service(ops, service)
    spec = FaultSpec(name, parse_kind(kind), duration, dict(params or {}))
    possible = kinds_for(ops.engine, name)
    if spec.kind not in possible and ops.engine.target.kind == "local (attached)":
        raise ValueError(
            f"{name}'s process belongs to the cockpit that started it: inject "
            f"{spec.kind.value} there (F on {name}); from here only a chaos endpoint is reachable"
        )
    if spec.kind not in possible:
        raise ValueError(
            f"{spec.kind.value} is not possible on {name} ({ops.engine.target.kind} target); "
            f"possible here: {', '.join(k.value for k in possible) or 'none'}"
        )

    async def work(_: Decision) -> Any:
        return await ops.faults.inject(spec, audit=current_audit.get())

    return Request(
        f"fault {spec.kind.value}",
        (name,),
        f"{spec.kind.value.capitalize()} {name} for {duration:g}s?",
        describe(ops.engine, spec),
        spec.kind.value.capitalize(),
        work,
        details={"kind": spec.kind.value, "duration_s": duration, **spec.params},
        lasting=True,
    )


def annotate(
    ops: Operations,
    signature: str,
    test_id: str,
    tag: str,
    note: str,
    link: str | None = None,
    *,
    edit_id: int | None = None,
) -> Request:
    """Add a note to a failure signature (or edit your note ``edit_id``).

    Notes change nothing in the environment, so read-only mode and leases do
    not apply; only the author may edit (the store enforces it).
    """
    store = ops.store
    if store is None or not store.writable:
        raise ValueError((store.problem if store is not None else "") or "annotations are disabled")

    async def work(_: Decision) -> Any:
        if edit_id is not None:
            return await asyncio.to_thread(
                store.edit_annotation, edit_id, ops.user, tag=tag, note=note, link=link
            )
        return await asyncio.to_thread(
            store.add_annotation, signature, test_id, ops.env, ops.user, tag, note, link
        )

    return Request(
        "annotate",
        (),
        f"Annotate {test_id}?",
        note,
        "Save",
        work,
        confirm=False,
        guarded=False,
    )


def delete_annotation(ops: Operations, note_id: int, text: str) -> Request:
    """Delete your note (asks first: a note is what the next person on call reads)."""
    store = ops.store
    if store is None or not store.writable:
        raise ValueError("annotations are disabled")

    async def work(_: Decision) -> None:
        await asyncio.to_thread(store.delete_annotation, note_id, ops.user)

    return Request(
        "delete annotation",
        (),
        f"Delete your note #{note_id}?",
        text,
        "Delete",
        work,
        guarded=False,
    )
