"""Carrying one mutating action out from the command line, under the core's rules.

The rules are the core's (``stagedeck.operations``); what is left to a command
is asking. Here that means: print the refusal and stop; under someone else's
lease, stop unless ``--force`` (the override is audited with the holder named);
show what will be touched and ask (``--yes`` answers for scripts, a terminal
gets a prompt, anything else is a no).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from stagedeck.operations import Decision, Operations, ReadOnly, Refused, Request, Result
from stagedeck.recipe.errors import ConfigError
from stagedeck.recipe.model import Recipe
from stagedeck.store import Store, StoreError, default_db_path


def open_store(args: argparse.Namespace, *, required: bool = True) -> Store | None:
    path = default_db_path(getattr(args, "db", None))
    try:
        store = Store.open(path)
    except StoreError as exc:
        if required:
            raise
        print(f"warning: no shared database (no lease check, no audit): {exc}", file=sys.stderr)
        return None
    if not store.writable and store.problem is not None and required:
        print(f"warning: {store.problem}", file=sys.stderr)
    if store.writable:
        replay_spool(store)
    return store


def replay_spool(store: Store) -> None:
    """Save what earlier commands could not (read-only, full disk), and say so."""
    from stagedeck.store.spool import pending, replay

    if not pending(store.path):
        return
    done = replay(store)
    for run_id in done.runs:
        print(
            f"saved run {run_id} kept in the spool while the database was not writable",
            file=sys.stderr,
        )
    for note_id in done.annotations:
        print(f"saved annotation {note_id} kept in the spool", file=sys.stderr)
    for problem in done.problems:
        print(f"warning: spool: {problem}", file=sys.stderr)


def user_of(args: argparse.Namespace) -> str:
    from stagedeck.store.identity import current_user

    return current_user(getattr(args, "user", None))


def read_only_mode(args: argparse.Namespace, recipe: Recipe) -> ReadOnly:
    from stagedeck.config.userconfig import load_user_config

    try:
        config_ro = load_user_config().read_only
    except ConfigError:
        config_ro = False
    return ReadOnly.from_sources(
        flag=getattr(args, "read_only", False),
        recipe=recipe.environment.read_only,
        config=config_ro,
    )


def operations(engine: object, args: argparse.Namespace, store: Store | None) -> Operations:
    return Operations(
        engine,  # type: ignore[arg-type]
        user=user_of(args),
        read_only=read_only_mode(args, engine.recipe),  # type: ignore[attr-defined]
        store=store,
    )


def confirm(question: str, args: argparse.Namespace) -> bool:
    """Disruptive actions say exactly what they touch; ``--yes`` answers for scripts."""
    if getattr(args, "yes", False):
        return True
    if not sys.stdin.isatty():
        print(
            f"{question}\nnot confirmed: pass --yes to do this without a terminal", file=sys.stderr
        )
        return False
    answer = input(f"{question} [y/N] ").strip().lower()
    return answer in ("y", "yes")


async def decide(
    ops: Operations,
    request: Request,
    args: argparse.Namespace,
    *,
    option: bool = False,
    say: Callable[[str], None] | None = None,
    asked: bool = False,
) -> Decision | None:
    """Review ``request`` and ask; None when it is refused or not confirmed (already said why).

    ``asked``: the command line itself is the confirmation (``run --reseed`` names the reseed).
    """
    review = await ops.review(request)
    if review.refusal:
        print(review.refusal, file=sys.stderr)
        return None
    forced = False
    if review.needs_force:
        if not getattr(args, "force", False):
            print(
                f"{review.lease_refusal} (--force to act anyway; "
                "forcing is recorded in the audit log with your name)",
                file=sys.stderr,
            )
            return None
        forced = True
        (say or _stderr)(f"forcing past the lease: {review.lease_refusal}")
    if request.confirm and not asked and not confirm(request.question(), args):
        return None
    return Decision(confirmed=True, forced=forced, option=option)


async def prepare(
    ops: Operations, build: Callable[[Operations], Request], args: argparse.Namespace
) -> tuple[Request, Decision] | int:
    """Build the request and decide; an exit code instead when there is nothing to do."""
    from stagedeck.cli.common import EXIT_BAD_INPUT, EXIT_FAILED

    try:
        request = build(ops)
    except ValueError as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_BAD_INPUT
    decision = await decide(ops, request, args)
    if decision is None:
        return EXIT_FAILED
    return request, decision


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


def print_progress(event: object) -> None:
    from stagedeck.engine.events import ActionProgress

    if isinstance(event, ActionProgress):
        detail = f"  {event.detail}" if event.detail else ""
        print(f"{event.action}: {event.step:<12} {event.state}{detail}", flush=True)


async def act(
    recipe: Recipe,
    args: argparse.Namespace,
    build: Callable[[Operations], Request],
    *,
    attach: bool = False,
    after: Callable[[Result], None] | None = None,
) -> int:
    """Build a request on a fresh engine, decide, start the engine, perform, report.

    The refusal comes before the engine starts, so a refused command touches
    nothing: no connection, no service started.
    """
    from stagedeck.cli.common import EXIT_FAILED, EXIT_OK
    from stagedeck.engine.engine import Engine

    engine = Engine(recipe, attach=attach)
    ops = operations(engine, args, open_store(args, required=False))
    prepared = await prepare(ops, build, args)
    if isinstance(prepared, int):
        return prepared
    request, decision = prepared
    from stagedeck.cli.steps import StepPrinter

    steps = StepPrinter(only=request.action)  # on stderr: stdout keeps the result
    engine.subscribe(steps)
    await engine.start(bring_up=False)
    try:
        with steps:
            result = await ops.perform(request, decision)
    except Refused as exc:
        print(str(exc), file=sys.stderr)
        return EXIT_FAILED
    finally:
        await engine.stop()
    print(result.detail)
    if result.audit_problem:
        print(f"warning: not in the audit log: {result.audit_problem}", file=sys.stderr)
    if after is not None:
        after(result)
    return EXIT_OK if result.ok else EXIT_FAILED
