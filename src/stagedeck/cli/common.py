"""What every command family shares: exit codes, loading a recipe, printing its problems."""

from __future__ import annotations

import argparse
import sys

from stagedeck.recipe.errors import ConfigError
from stagedeck.recipe.model import Recipe, load_recipe

EXIT_OK, EXIT_FAILED, EXIT_BAD_INPUT = 0, 1, 2


def print_problems(error: ConfigError, what: str = "recipe") -> None:
    """All problems in one red panel on stderr, before any UI starts."""
    from rich.console import Console
    from rich.panel import Panel
    from rich.text import Text

    body = Text()
    for i, p in enumerate(error.problems):
        if i:
            body.append("\n")
        body.append(p.where, style="bold")
        body.append(": ")
        if p.key:
            body.append(p.key, style="cyan")
            body.append(": ")
        body.append(p.message)
        if p.hint:
            body.append(f"\n    → {p.hint}", style="yellow")
    count = len(error.problems)
    title = f"{count} problem{'s' if count != 1 else ''} in the {what}"
    Console(stderr=True).print(Panel(body, title=title, border_style="red", expand=False))


def load_recipe_arg(path: str, args: argparse.Namespace) -> Recipe:
    from stagedeck.cli.logfile import remember_secrets

    recipe = load_recipe(path, auto_ports=getattr(args, "free_ports", False))
    remember_secrets(recipe.secrets)  # stagedeck's own log masks them too
    return recipe


# --------------------------------------------------------------------------- the RECIPE positional

_RECIPE_HELP = (
    "recipe file, folder holding stagedeck.toml, or bundled example name "
    "(default: $STAGEDECK_RECIPE, else the nearest ./stagedeck.toml up to the repository root)"
)


def seeding_as_asked(recipe: Recipe, args: argparse.Namespace) -> Recipe:
    """``--no-seed`` (``demo``, and ``up``, to which ``demo`` passes it on): the recipe
    without its start-up seeding."""
    if not getattr(args, "no_seed", False):
        return recipe
    import dataclasses

    env = dataclasses.replace(recipe.environment, seed_on_start=False)
    return dataclasses.replace(recipe, environment=env)


def recipe_argument(
    p: argparse.ArgumentParser, *, required: bool = True, then: tuple[str, ...] = ()
) -> None:
    """Add the optional RECIPE positional every recipe command shares.

    ``required``: when no recipe is named or found, the command cannot run (those
    that also accept ``--env NAME`` pass False). ``then``: the positionals after
    RECIPE, so ``stagedeck run smoke`` reads ``smoke`` as a suite when it names no
    recipe (the last of ``then`` may be a list, as ``run``'s suites are).
    """
    p.add_argument("recipe", nargs="?", metavar="RECIPE", help=_RECIPE_HELP)
    p.set_defaults(_recipe_slot=(required, then))


def resolve_recipe_argument(args: argparse.Namespace) -> int | None:
    """Fill ``args.recipe`` before the command runs: named, example, or discovered.

    Returns an exit code when the command cannot run (nothing found, too many
    positionals), else None. Commands keep reading ``args.recipe`` as before.
    """
    slot = getattr(args, "_recipe_slot", None)
    if slot is None:
        return None
    from stagedeck.recipe.discovery import find_recipe, looks_like_recipe, resolve_named

    required, then = slot
    given = getattr(args, "recipe", None)
    if given is not None and then and not looks_like_recipe(given):
        carry: object = given
        for name in then:
            current = getattr(args, name, None)
            if isinstance(current, list):
                setattr(args, name, [carry, *current])
                carry = None
                break
            setattr(args, name, carry)
            carry = current
        if carry is not None:
            print(f"stagedeck: unexpected argument {carry!r}", file=sys.stderr)
            return EXIT_BAD_INPUT
        given = args.recipe = None
    if given is not None:
        args.recipe = str(resolve_named(given))
        return None
    if not required and getattr(args, "env", None):
        return None
    found = find_recipe()
    if found.path is not None:
        args.recipe = str(found.path)
        return None
    if required:
        print(f"stagedeck: {found.explain()}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return None
