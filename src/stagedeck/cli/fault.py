"""``stagedeck fault``: inject a temporary fault from a script, list or clear faults.

The fault goes through the operations layer like the cockpit's fault keys
(read-only, someone else's lease, confirmation, audit) and lasts as long as
the command, at most ``--for``: Ctrl-C lifts it early, and if the command is
killed the keeper process lifts it. ``--list`` shows the faults in force in
this environment (from the shared audit log, whoever injected them);
``--clear`` lifts those this command can reach (Docker, Kubernetes).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from typing import Any

from stagedeck.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_OK,
    load_recipe_arg,
    recipe_argument,
)
from stagedeck.cli.operate import decide, open_store, operations, prepare, print_progress
from stagedeck.operations import Decision, Refused, Request
from stagedeck.recipe.model import Recipe
from stagedeck.store import AuditEntry, Store


def _duration(text: str) -> float:
    from stagedeck.engine.logquery import QueryError, parse_duration

    try:
        return parse_duration(text)
    except QueryError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def open_faults(store: Store | None, env: str) -> list[AuditEntry]:
    if store is None:
        return []
    return [
        e
        for e in store.recent_audit(env, limit=200)
        if e.action.startswith("fault ") and e.ended is None
    ]


def cmd_fault(args: argparse.Namespace) -> int:
    recipe = load_recipe_arg(args.recipe, args)
    out = sys.stderr if args.json else sys.stdout
    if args.list:
        return _list(recipe, args)
    if args.clear:
        return asyncio.run(_clear(recipe, args))
    if not args.service or not args.kind:
        print("name a SERVICE and a KIND (or --list, --clear)", file=sys.stderr)
        return EXIT_BAD_INPUT
    return asyncio.run(_inject(recipe, args, out))


def _list(recipe: Recipe, args: argparse.Namespace) -> int:
    now = time.time()
    items = [
        {
            "id": e.id,
            "user": e.user,
            "kind": e.details.get("kind", e.action.removeprefix("fault ")),
            "service": e.services[0] if e.services else "",
            "started": e.started,
            "left_s": max(0.0, e.started + float(e.details.get("duration_s", 0)) - now),
            "forced": e.forced,
        }
        for e in open_faults(open_store(args, required=False), recipe.name)
    ]
    if args.json:
        print(json.dumps(items, indent=2))
        return EXIT_OK
    if not items:
        print(f"no faults in force in {recipe.name}")
    for i in items:
        print(f"#{i['id']} {i['user']}: {i['kind']} {i['service']} ({i['left_s']:.0f}s left)")
    return EXIT_OK


async def _inject(recipe: Recipe, args: argparse.Namespace, out: Any) -> int:
    from stagedeck.cli.envproc import attached_or_own
    from stagedeck.operations import requests

    # Attached, the environment process owns the services: it applies the fault, keeps
    # it (its keeper lifts it if it dies) and audits it; this command holds it.
    found = await attached_or_own(recipe, args, open_store(args, required=False))
    if isinstance(found, int):
        return found
    engine, ops, attached = found
    params = {k: v for k, v in (("delay_ms", args.delay_ms), ("rate", args.rate)) if v is not None}
    prepared = await prepare(
        ops, lambda o: requests.fault(o, args.service, args.kind, args.duration, params), args
    )
    if isinstance(prepared, int):
        if attached:
            await engine.stop()  # detach
        return prepared
    request, decision = prepared
    if not args.json:
        engine.subscribe(print_progress)
    await engine.start(bring_up=False)
    try:
        return await _hold(ops, request, decision, args, out)
    finally:
        await ops.close("the command ended")
        await engine.stop()


async def _hold(
    ops: Any, request: Request, decision: Decision, args: argparse.Namespace, out: Any
) -> int:
    from stagedeck.targets.base import TargetError

    await _until_seen(ops.engine, request.services[0])
    try:
        result = await ops.perform(request, decision)
    except Refused as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    except TargetError as exc:
        print(f"{request.action} failed: {exc}", file=sys.stderr)
        return EXIT_FAILED
    handle = result.value
    print(
        f"{handle.spec.label()}: {handle.applied.detail} (Ctrl-C lifts it now)",
        file=out,
        flush=True,
    )
    try:
        await handle.wait()
    finally:
        if handle.active:
            await handle.lift("interrupted")
    print(f"lifted ({handle.ended_by}): {handle.lift_detail}", file=out)
    if args.json:
        print(
            json.dumps(
                {
                    "service": handle.spec.service,
                    "kind": request.details.get("kind", ""),
                    "duration_s": request.details.get("duration_s"),
                    "applied": handle.applied.detail,
                    "lifted": handle.ended_by,
                    "lift_detail": handle.lift_detail,
                    "seconds": round((handle.lifted_at or time.time()) - handle.started, 2),
                    "audit_id": result.audit_id,
                    "forced": result.forced,
                },
                indent=2,
            )
        )
    return EXIT_OK


async def _until_seen(engine: Any, service: str, timeout: float = 10.0) -> None:
    """A target reports what it finds shortly after it opens: give it that moment."""
    from stagedeck.engine.events import ProcState

    deadline = time.monotonic() + timeout
    while engine.statuses[service].state is ProcState.PENDING and time.monotonic() < deadline:
        await asyncio.sleep(0.05)


async def _clear(recipe: Recipe, args: argparse.Namespace) -> int:
    from stagedeck.engine.engine import Engine
    from stagedeck.faults.apply import clear
    from stagedeck.faults.model import parse_kind
    from stagedeck.targets.base import TargetError

    store = open_store(args, required=False)
    entries = open_faults(store, recipe.name)
    if not entries:
        print(f"no faults in force in {recipe.name}")
        return EXIT_OK
    engine = Engine(recipe, attach=recipe.environment.target == "local")
    ops = operations(engine, args, store)
    services = tuple(sorted({s for e in entries for s in e.services}))

    async def work(_: Decision) -> str:
        done = []
        for entry in entries:
            kind = parse_kind(str(entry.details.get("kind", entry.action.removeprefix("fault "))))
            detail = await clear(engine, entry.services[0], kind)
            if store is not None:
                await asyncio.to_thread(
                    store.audit_finish,
                    entry.id,
                    "ok",
                    {"lifted": f"cleared by {ops.user}", "detail": detail},
                )
            done.append(f"#{entry.id} {entry.action} {entry.services[0]}: {detail}")
        return "\n".join(done)

    # No services of its own: the faults it lifts are the "busy" entries on them.
    request = Request(
        "fault clear",
        (),
        f"Lift {len(entries)} fault(s)?",
        "\n".join(f"  #{e.id} {e.user}: {e.action} {', '.join(e.services)}" for e in entries),
        "Lift",
        work,
        details={"services": list(services), "faults": [e.id for e in entries]},
    )
    decision = await decide(ops, request, args)
    if decision is None:
        return EXIT_FAILED
    await engine.start(bring_up=False)
    try:
        result = await ops.perform(request, decision)
    except (Refused, TargetError) as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    finally:
        await engine.stop()
    print(result.detail)
    return EXIT_OK


def register(add: Any) -> None:
    p = add("fault", cmd_fault, "inject a temporary fault into a service (lifted automatically)")
    recipe_argument(p, then=("service", "kind"))
    p.add_argument("service", nargs="?", help="the service to disturb")
    p.add_argument(
        "kind", nargs="?", help="pause, kill, stop, delete-pod, scale-zero, latency, errors"
    )
    p.add_argument(
        "--for", dest="duration", type=_duration, default=30.0, help="how long (30s, 2m)"
    )
    p.add_argument("--delay-ms", type=float, help="latency: added delay per request")
    p.add_argument("--rate", type=float, help="errors: share of requests that fail (0..1)")
    p.add_argument("--list", action="store_true", help="the faults in force in this environment")
    p.add_argument("--clear", action="store_true", help="lift the faults in force")
    p.add_argument("--json", action="store_true", help="JSON on stdout (notes go to stderr)")
    p.add_argument("--yes", "-y", action="store_true", help="do not ask for confirmation")
    p.add_argument("--force", action="store_true", help="despite someone else's lease (audited)")
    p.add_argument("--read-only", action="store_true", help="refuse to inject or clear")
    p.add_argument("--db", help="the shared SQLite file (default: $STAGEDECK_DB or XDG data dir)")
    p.add_argument("--user", help="who you are (default: $USER)")
