"""Commands that change the environment from a script: redeploy, reseed.

Each one goes through the operations layer like the cockpit's keys: refused
read-only, while someone else acts on the same services, or under someone
else's lease (``--force`` overrides, audited); says what it will touch and
asks first (``--yes`` answers for scripts); audited from start to finish.
With an environment process running, that process performs it (and audits
it, once); the command is one more viewer.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

from stagedeck.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, load_recipe_arg
from stagedeck.cli.envproc import act_on_environment
from stagedeck.cli.operate import act
from stagedeck.operations import Operations, Request, requests


def cmd_redeploy(args: argparse.Namespace) -> int:
    recipe = load_recipe_arg(args.recipe, args)
    if args.service not in recipe.services:
        print(f"no service '{args.service}' in {recipe.path}", file=sys.stderr)
        return EXIT_BAD_INPUT

    def build(ops: Operations) -> Request:
        return requests.redeploy(ops, args.service, with_dependents=bool(args.with_dependents))

    def alone() -> int:
        if recipe.environment.target == "local":
            print(
                f"{args.service} is a local process and no environment process runs it: "
                f"start one with `stagedeck up {recipe.path}`",
                file=sys.stderr,
            )
            return EXIT_FAILED
        return asyncio.run(act(recipe, args, build))

    return act_on_environment(recipe, args, build, alone)


def cmd_reseed(args: argparse.Namespace) -> int:
    recipe = load_recipe_arg(args.recipe, args)

    def build(ops: Operations) -> Request:
        return requests.reseed(ops, args.seed or None)

    def alone() -> int:
        return asyncio.run(act(recipe, args, build, attach=recipe.environment.target == "local"))

    return act_on_environment(recipe, args, build, alone)
