"""Commands and helpers around the environment process: up, down, and attaching.

Every command that looks at or acts on an environment asks :func:`attach`
first: when an environment process runs, the command is one more viewer of
it (same health, same history, same logs; actions through its rules and
audit). When none runs, the command works as it always did, and says so on
standard error (standard output stays JSON under ``--json``).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from stagedeck.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    load_recipe_arg,
    recipe_argument,
    seeding_as_asked,
)
from stagedeck.recipe.model import Recipe

if TYPE_CHECKING:
    from stagedeck.envproc.client import Connection
    from stagedeck.envproc.mirror import MirrorEngine
    from stagedeck.store import Store


def say(message: str) -> None:
    """Which way a command worked (attached or on its own): always stderr."""
    print(f"stagedeck: {message}", file=sys.stderr, flush=True)


def user_of(args: argparse.Namespace) -> str:
    from stagedeck.store.identity import current_user

    return current_user(getattr(args, "user", None))


def standalone(args: argparse.Namespace) -> bool:
    return bool(getattr(args, "standalone", False))


async def attach(recipe: Recipe, args: argparse.Namespace, role: str = "cli") -> Connection | None:
    """The running environment process for ``recipe``, or None (and say which).

    Raises :class:`~stagedeck.envproc.client.NoAccess` when one runs that we may not use.
    """
    from stagedeck.envproc.client import connect

    if standalone(args):
        return None
    conn = await connect(recipe, user=user_of(args), role=role)
    if conn is None:
        say(f"no environment process for {recipe.name!r}: working on my own")
    else:
        h = conn.hello
        say(f"attached to the environment process for {recipe.name!r} (pid {h.get('pid')})")
    return conn


def mirror_of(recipe: Recipe, conn: Connection) -> MirrorEngine:
    from stagedeck.envproc.mirror import MirrorEngine

    async def already() -> Connection:
        return conn

    return MirrorEngine(recipe, already)


def refused(exc: Exception) -> int:
    say(str(exc))
    return EXIT_FAILED


def run_attached(
    recipe: Recipe,
    args: argparse.Namespace,
    attached: Callable[[MirrorEngine], Awaitable[int]],
    alone: Callable[[], int],
    *,
    role: str = "cli",
) -> int:
    """Run ``attached`` on a mirror of the environment process if one runs, else ``alone``."""
    from stagedeck.envproc.client import NoAccess

    async def main() -> int | None:
        try:
            conn = await attach(recipe, args, role)
        except NoAccess as exc:
            return refused(exc)
        if conn is None:
            return None
        engine = mirror_of(recipe, conn)
        await engine.start()
        try:
            return await attached(engine)
        finally:
            await engine.stop()

    code = asyncio.run(main())
    return alone() if code is None else code


def remote_operations(
    engine: MirrorEngine, args: argparse.Namespace, store: Store | None = None
) -> Any:
    """The operations layer on a mirror: reviewed here, performed by the environment process."""
    from stagedeck.cli.operate import open_store, read_only_mode
    from stagedeck.envproc.remote import RemoteOperations

    return RemoteOperations(
        engine,
        user=user_of(args),
        read_only=read_only_mode(args, engine.recipe),
        store=store if store is not None else open_store(args, required=False),
    )


async def attached_or_own(
    recipe: Recipe,
    args: argparse.Namespace,
    store: Store | None,
    *,
    own: bool = False,
    bring_up: bool = False,
) -> tuple[Any, Any, bool] | int:
    """(engine, operations, attached) for a command that acts on the environment.

    Attached (the default when an environment process runs): a started mirror, and
    operations whose environment actions that process performs, under its rules and
    audit, on services it owns. Otherwise (or ``own``): an engine of our own, not
    started, that starts the local services itself when ``bring_up`` (``--up``) and
    else watches those someone else started. An exit code when one runs that we may
    not use.
    """
    from stagedeck.cli.operate import operations
    from stagedeck.engine.engine import Engine
    from stagedeck.envproc.client import NoAccess

    if not own:
        try:
            conn = await attach(recipe, args)
        except NoAccess as exc:
            return refused(exc)
        if conn is not None:
            mirror = mirror_of(recipe, conn)
            await mirror.start()
            return mirror, remote_operations(mirror, args, store), True
    local = recipe.environment.target == "local"
    engine = Engine(recipe, attach=local and not (own or bring_up))
    return engine, operations(engine, args, store), False


def act_on_environment(
    recipe: Recipe,
    args: argparse.Namespace,
    build: Callable[[Any], Any],
    alone: Callable[[], int],
) -> int:
    """A mutating command: on the running environment process if there is one, else ``alone``.

    The same review and questions as on its own (``cli.operate``); the environment
    process performs it, checks the rules again and writes the one audit entry."""
    from stagedeck.cli.operate import prepare
    from stagedeck.operations import Refused

    async def attached(engine: MirrorEngine) -> int:
        ops = remote_operations(engine, args)
        prepared = await prepare(ops, build, args)
        if isinstance(prepared, int):
            return prepared
        request, decision = prepared
        from stagedeck.cli.steps import StepPrinter

        steps = StepPrinter(only=request.action)  # on stderr: stdout keeps the result
        engine.subscribe(steps)
        try:
            with steps:
                result = await ops.perform(request, decision)
        except Refused as exc:
            print(str(exc), file=sys.stderr)
            return EXIT_FAILED
        print(result.detail)
        if result.audit_id is not None:
            say(f"audit #{result.audit_id}, written by the environment process")
        return EXIT_OK if result.ok else EXIT_FAILED

    return run_attached(recipe, args, attached, alone)


def headless_on_environment(
    recipe: Recipe, args: argparse.Namespace, alone: Callable[[], int]
) -> int:
    """``--headless``: print the running environment's changes (Ctrl-C detaches), or
    run the environment in this process as before when none runs."""

    async def attached(engine: MirrorEngine) -> int:
        import signal

        from stagedeck.cli.headless import event_printer

        engine.subscribe(event_printer())
        done = asyncio.Event()
        engine.on_gone = lambda why: done.set()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, done.set)
        await done.wait()
        return EXIT_OK if not engine.gone else EXIT_FAILED

    return run_attached(recipe, args, attached, alone, role="cockpit")


# --------------------------------------------------------------------------- up / down


def cmd_up(args: argparse.Namespace) -> int:
    """Start the environment process (background by default), or say where it runs."""
    from stagedeck.cli.operate import read_only_mode
    from stagedeck.envproc.client import NoAccess, StartFailed, connect, spawn

    recipe = load_recipe_arg(args.recipe, args)
    recipe = seeding_as_asked(recipe, args)
    if getattr(args, "headless", False) and not getattr(args, "foreground", False):
        return _bring_up_once(recipe, args)  # the operations layer says no, if no
    if getattr(args, "ephemeral", False):
        # Started for a cockpit that found none: read-only is for its actions, not for
        # watching (the environment process applies it to every request).
        return _foreground(recipe, args)
    ro = read_only_mode(args, recipe)
    if ro:
        print(ro.refusal("bring-up"), file=sys.stderr)
        return EXIT_FAILED
    user = user_of(args)
    if getattr(args, "foreground", False):
        return _foreground(recipe, args)

    async def main() -> int:
        try:
            conn = await connect(recipe, user=user, role="cli")
        except NoAccess as exc:
            return refused(exc)
        if conn is not None:
            h = conn.hello
            await conn.close()
            print(
                f"environment {recipe.name!r} already runs: pid {h.get('pid')}, "
                f"run by {h.get('owner')}; `stagedeck open {recipe.path}` to watch it"
            )
            return EXIT_OK
        if not await _may_bring_up(recipe, args):
            return EXIT_FAILED
        proc = spawn(recipe, ephemeral=False, db=getattr(args, "db", None))
        from stagedeck.envproc.client import ensure

        try:
            conn = await ensure(recipe, user=user, role="cli", proc=proc)
        except StartFailed as exc:
            say(str(exc))
            return EXIT_FAILED
        h = conn.hello
        path = conn.path
        if getattr(args, "no_wait", False):
            await conn.close()
            late = ""
        else:
            late = await _follow_bring_up(recipe, conn)
        print(
            f"environment {recipe.name!r} is up in the background: pid {h.get('pid') or proc.pid}, "
            f"socket {path}\n  watch it: stagedeck open {recipe.path}\n"
            f"  stop it:  stagedeck down {recipe.path}"
        )
        if late:
            say(late)
            return EXIT_FAILED
        return EXIT_OK

    return asyncio.run(main())


async def _follow_bring_up(recipe: Recipe, conn: Connection) -> str:
    """``up``: wait for the new environment process's bring-up and seeding, showing each
    step on stderr as it happens (live on a terminal); '' when all is up, else what is not."""
    from stagedeck.cli.steps import StepPrinter

    engine = mirror_of(recipe, conn)
    with StepPrinter(only=("bring-up", "reseed")) as steps:
        # Before the snapshot arrives: the steps it carries (done before we attached)
        # are shown too, then the rest as they happen.
        engine.subscribe(steps.with_history)
        await engine.start()
        try:
            return await _wait_brought_up(engine)
        finally:
            await engine.stop()


async def _may_bring_up(recipe: Recipe, args: argparse.Namespace) -> bool:
    """The bring-up's rules before starting the process that performs it: refused under
    someone else's lease (unless --force) as a bring-up from a cockpit is."""
    from stagedeck.cli.operate import decide, open_store, operations
    from stagedeck.engine.engine import Engine
    from stagedeck.operations import requests

    ops = operations(Engine(recipe), args, open_store(args, required=False))
    return await decide(ops, requests.bring_up(ops), args) is not None


UP_WAIT_S = 300.0
"""How long ``up`` waits for the bring-up (and start-up seeding) before giving up on it."""


async def _wait_brought_up(engine: MirrorEngine) -> str:
    """Until the environment process's first bring-up and seeding are over, as ``docker
    compose up --wait`` does: '' when every service is up, else which are not (the
    environment keeps running either way; `stagedeck open` shows why)."""
    starting = engine.starting
    if starting is not None and not starting.done():
        await asyncio.wait({starting}, timeout=UP_WAIT_S)
    if engine.gone:
        from stagedeck.envproc.paths import env_key, log_file

        where = log_file(env_key(engine.recipe))
        return f"the environment process stopped during its bring-up: {where} says why"
    if starting is not None and not starting.done():
        return f"still bringing the environment up after {UP_WAIT_S:g}s"
    down = sorted(n for n, st in engine.statuses.items() if not st.ok)
    return f"up, but not healthy: {', '.join(down)}" if down else ""


def _bring_up_once(recipe: Recipe, args: argparse.Namespace) -> int:
    """``up --headless``: everything up (or redeployed) in order, through the operations
    layer, then exit: on the environment process when one runs, else on our own."""
    from stagedeck.cli.operate import act
    from stagedeck.operations import Result, requests

    local = recipe.environment.target == "local"

    def after(_: Result) -> None:
        if local:
            print("(local services stop when this command exits; `stagedeck up` keeps them)")

    def alone() -> int:
        return asyncio.run(act(recipe, args, requests.redeploy_all, after=after))

    return act_on_environment(recipe, args, requests.redeploy_all, alone)


def _foreground(recipe: Recipe, args: argparse.Namespace) -> int:
    """The environment process in this process, printing its changes (Ctrl-C stops it).

    Also how ``spawn`` starts one in the background (with ``--ephemeral``: it stops
    a grace period after its last viewer left; ``--ports``: a viewer's free ports)."""
    from stagedeck.cli.headless import event_printer
    from stagedeck.envproc.client import ALREADY_RUNNING, NoAccess, connect, recipe_with_ports
    from stagedeck.envproc.daemon import AlreadyRunning, idle_grace_default, serve

    if getattr(args, "ports", ""):
        pairs = (item.split("=", 1) for item in args.ports.split(",") if "=" in item)
        recipe = recipe_with_ports(recipe, {n: int(p) for n, p in pairs if p.isdigit()})
        recipe = seeding_as_asked(recipe, args)  # the ports reloaded the file
    grace = idle_grace_default() if getattr(args, "ephemeral", False) else None

    async def main() -> int:
        try:
            conn = await connect(recipe, user=user_of(args), role="cli")
        except NoAccess as exc:
            return refused(exc)
        if conn is not None:
            await conn.close()
            say(
                f"an environment process for {recipe.name!r} already runs "
                f"(pid {conn.hello.get('pid')})"
            )
            return ALREADY_RUNNING

        def ready(server: Any) -> None:
            say(
                f"environment process for {recipe.name!r} listening on {server.path} "
                "(Ctrl-C stops it)"
            )

        try:
            why = await serve(
                recipe,
                grace=grace,
                db=getattr(args, "db", None),
                on_event=event_printer(),
                ready=ready,
            )
        except AlreadyRunning:
            say(f"an environment process for {recipe.name!r} is starting elsewhere")
            return ALREADY_RUNNING
        print(f"environment stopped: {why}", flush=True)
        return EXIT_OK

    import logging

    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s %(message)s")
    return asyncio.run(main())


def cmd_down(args: argparse.Namespace) -> int:
    """Stop the environment process (audited; refused under someone else's lease)."""
    from stagedeck.envproc.client import NoAccess, connect

    recipe = load_recipe_arg(args.recipe, args)

    async def main() -> int:
        try:
            conn = await connect(recipe, user=user_of(args), role="cli")
        except NoAccess as exc:
            return refused(exc)
        if conn is None:
            say(f"no environment process runs for {recipe.name!r}")
            return EXIT_FAILED
        engine = mirror_of(recipe, conn)
        await engine.start()
        others = [v for v in engine.watching() if v != user_of(args)]
        pid = conn.hello.get("pid")
        try:
            if others and not getattr(args, "yes", False):
                say(
                    f"{', '.join(others)} still watching {recipe.name!r}; "
                    "pass --yes to stop it for everyone"
                )
                return EXIT_FAILED
            outcome = await engine.request("down", {}, forced=getattr(args, "force", False))
            if not outcome.ok:
                say(outcome.describe())
                return EXIT_FAILED
            # Wait for it to finish stopping its services, so `down && up` works.
            from stagedeck.envproc.mirror import wait_until

            await wait_until(lambda: engine.gone, 60)
            print(f"environment {recipe.name!r} stopped (pid {pid})")
            return EXIT_OK
        finally:
            await engine.stop()

    return asyncio.run(main())


def add_commands(
    add: Callable[[str, Callable[[argparse.Namespace], int], str], argparse.ArgumentParser],
) -> None:
    p = add("down", cmd_down, "stop the environment process (and the local services it runs)")
    recipe_argument(p)
    p.add_argument("--yes", "-y", action="store_true", help="stop it even if others watch")
    p.add_argument("--force", action="store_true", help="stop it despite someone else's lease")
    p.add_argument("--user", help="who you are (default: $USER)")
