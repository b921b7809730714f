"""Commands that change the environment from a script: up, redeploy, reseed.

Each one goes through the operations layer like the cockpit's keys: refused
read-only, while someone else acts on the same services, or under someone
else's lease (``--force`` overrides, audited); says what it will touch and
asks first (``--yes`` answers for scripts); audited from start to finish.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from stagedeck.cli.cockpit import open_cockpit
from stagedeck.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, load_recipe_arg
from stagedeck.cli.operate import act, read_only_mode
from stagedeck.operations import Result, requests


def cmd_up(args: argparse.Namespace) -> int:
    recipe = load_recipe_arg(args.recipe, args)
    if not args.headless:
        ro = read_only_mode(args, recipe)
        if ro:
            print(ro.refusal("bring-up"), file=sys.stderr)
            return EXIT_FAILED
        return open_cockpit(recipe, args)
    local = recipe.environment.target == "local"

    def after(_: Result) -> None:
        if local:
            print("(local services stop when this command exits; `stagedeck open` keeps them)")

    return asyncio.run(act(recipe, args, requests.redeploy_all, after=after))


def cmd_redeploy(args: argparse.Namespace) -> int:
    recipe = load_recipe_arg(args.recipe, args)
    if args.service not in recipe.services:
        print(f"no service '{args.service}' in {recipe.path}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if recipe.environment.target == "local":
        print(
            f"{args.service} is a local process owned by the cockpit that started it: "
            "press r on it in that cockpit",
            file=sys.stderr,
        )
        return EXIT_FAILED
    return asyncio.run(
        act(
            recipe,
            args,
            lambda ops: requests.redeploy(
                ops, args.service, with_dependents=bool(args.with_dependents)
            ),
        )
    )


def cmd_reseed(args: argparse.Namespace) -> int:
    recipe = load_recipe_arg(args.recipe, args)
    return asyncio.run(
        act(
            recipe,
            args,
            lambda ops: requests.reseed(ops, args.seed or None),
            attach=recipe.environment.target == "local",
        )
    )
