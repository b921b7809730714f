"""Commands that change the environment from a script: redeploy, reseed.

Each one refuses in read-only mode, says what it will touch and asks first
(``--yes`` answers for scripts), then runs the same plan the cockpit's keys run.
With an environment process running, the plan is a request to it (its rules,
its audit, seen by every viewer).
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Callable
from typing import Any

from stagedeck.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, load_recipe_arg
from stagedeck.policy import ReadOnly
from stagedeck.recipe.errors import ConfigError
from stagedeck.recipe.model import Recipe


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


def print_progress(event: object) -> None:
    from stagedeck.engine.events import ActionProgress

    if isinstance(event, ActionProgress):
        detail = f"  {event.detail}" if event.detail else ""
        print(f"{event.action}: {event.step:<12} {event.state}{detail}", flush=True)


async def with_engine(recipe: Recipe, attach: bool, body: Callable[..., object]) -> int:
    from stagedeck.engine.engine import Engine

    engine = Engine(recipe, attach=attach)
    engine.subscribe(print_progress)
    await engine.start(bring_up=False)
    try:
        result = await body(engine)  # type: ignore[misc]
        return int(result)
    finally:
        await engine.stop()


def cmd_redeploy(args: argparse.Namespace) -> int:
    recipe = load_recipe_arg(args.recipe, args)
    if args.service not in recipe.services:
        print(f"no service '{args.service}' in {recipe.path}", file=sys.stderr)
        return EXIT_BAD_INPUT
    ro = read_only_mode(args, recipe)
    if ro:
        print(ro.refusal("redeploy"), file=sys.stderr)
        return EXIT_FAILED
    also = recipe.graph.dependents(args.service) if args.with_dependents else []
    what = f"Restart {args.service}" + (f", then its dependents {', '.join(also)}" if also else "")
    from stagedeck.cli.envproc import request_printing, run_attached

    async def attached(engine: Any) -> int:
        if not confirm(f"{what}?", args):
            return EXIT_FAILED
        request = {"service": args.service, "with_dependents": args.with_dependents}
        return await request_printing(engine, "redeploy", request, forced=args.force)

    return run_attached(recipe, args, attached, lambda: _redeploy_alone(recipe, args, what))


def _redeploy_alone(recipe: Recipe, args: argparse.Namespace, what: str) -> int:
    if recipe.environment.target == "local":
        print(
            f"{args.service} is a local process and no environment process runs it: "
            f"start one with `stagedeck up {recipe.path}` (or press r in a cockpit that runs it)",
            file=sys.stderr,
        )
        return EXIT_FAILED
    if not confirm(f"{what}?", args):
        return EXIT_FAILED
    from stagedeck.engine.actions import redeploy

    async def body(engine: object) -> int:
        outcome = await redeploy(engine, args.service, with_dependents=args.with_dependents)  # type: ignore[arg-type]
        print(outcome.describe())
        return EXIT_OK if outcome.ok else EXIT_FAILED

    return asyncio.run(with_engine(recipe, False, body))


def cmd_reseed(args: argparse.Namespace) -> int:
    recipe = load_recipe_arg(args.recipe, args)
    from stagedeck.engine.seeding import seed_order

    unknown = [s for s in args.seed or [] if s not in recipe.seeds]
    if unknown or not recipe.seeds:
        known = ", ".join(recipe.seeds) or "none"
        print(
            f"no seed {', '.join(unknown) or ''} in {recipe.path} (seeds: {known})", file=sys.stderr
        )
        return EXIT_BAD_INPUT
    ro = read_only_mode(args, recipe)
    if ro:
        print(ro.refusal("reseed"), file=sys.stderr)
        return EXIT_FAILED
    layers = seed_order(dict(recipe.seeds), args.seed or None)
    names = [n for layer in layers for n in layer]
    targets = ", ".join(f"{n} ({recipe.seeds[n].service})" for n in names)
    question = f"Overwrite test data with seeds: {targets}?"
    from stagedeck.cli.envproc import request_printing, run_attached

    async def attached(engine: Any) -> int:
        if not confirm(question, args):
            return EXIT_FAILED
        return await request_printing(
            engine, "reseed", {"seeds": args.seed or []}, forced=args.force
        )

    return run_attached(recipe, args, attached, lambda: _reseed_alone(recipe, args, question))


def _reseed_alone(recipe: Recipe, args: argparse.Namespace, question: str) -> int:
    from stagedeck.engine.seeding import reseed

    if not confirm(question, args):
        return EXIT_FAILED

    async def body(engine: object) -> int:
        outcome = await reseed(engine, args.seed or None)  # type: ignore[arg-type]
        print(outcome.describe())
        return EXIT_OK if outcome.ok else EXIT_FAILED

    return asyncio.run(with_engine(recipe, recipe.environment.target == "local", body))
