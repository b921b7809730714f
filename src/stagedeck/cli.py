"""The ``stagedeck`` command line.

Every command is a thin view over the core: it loads a recipe, builds an
engine, and prints or draws. Textual is imported only by the commands that
open the cockpit, so ``stagedeck status`` stays quick and headless.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from stagedeck import __version__
from stagedeck.errors import ConfigError
from stagedeck.recipe import Recipe, load_recipe

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
        where = f"{p.file}:{p.line}" if p.line else str(p.file)
        body.append(where, style="bold")
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


def _load(path: str, args: argparse.Namespace) -> Recipe:
    return load_recipe(path, auto_ports=getattr(args, "free_ports", False))


def _demo_recipe_path() -> Path:
    from stagedeck.demo import recipe_path

    return recipe_path()


# --------------------------------------------------------------------------- commands


def cmd_check(args: argparse.Namespace) -> int:
    recipe = _load(args.recipe, args)
    env = recipe.environment
    print(f"{recipe.path}: environment '{env.name}' on {env.target}")
    print(f"  services ({len(recipe.services)}):")
    for i, layer in enumerate(recipe.graph.layers()):
        print(f"    layer {i}: {', '.join(layer)}")
    for name, svc in recipe.services.items():
        check = svc.health.describe() if svc.health else "no health check"
        deps = f" ← {', '.join(svc.depends_on)}" if svc.depends_on else ""
        print(f"    {name}: {check}{deps}")
    if recipe.seeds:
        print(f"  seeds: {', '.join(recipe.seeds)}")
    if recipe.suites:
        print(f"  suites: {', '.join(recipe.suites)}")
    return EXIT_OK


def cmd_status(args: argparse.Namespace) -> int:
    from stagedeck.headless import print_status, probe_all

    recipe = _load(args.recipe, args)
    results = asyncio.run(probe_all(recipe))
    return print_status(recipe, results, args.json, sys.stdout)


def _run_cockpit_or_headless(recipe: Recipe, args: argparse.Namespace) -> int:
    from stagedeck.engine import Engine

    if args.headless:
        from stagedeck.headless import run_foreground

        asyncio.run(run_foreground(Engine(recipe)))
        return EXIT_OK
    from stagedeck.tui.app import run_cockpit
    from stagedeck.userconfig import load_user_config

    try:
        config = load_user_config()
    except ConfigError as exc:
        print_problems(exc, "user config")
        return EXIT_BAD_INPUT
    return run_cockpit(recipe, theme=args.theme, config=config)


def cmd_demo(args: argparse.Namespace) -> int:
    recipe = load_recipe(_demo_recipe_path(), auto_ports=args.free_ports)
    return _run_cockpit_or_headless(recipe, args)


def cmd_open(args: argparse.Namespace) -> int:
    return _run_cockpit_or_headless(_load(args.recipe, args), args)


# --------------------------------------------------------------------------- parser


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="stagedeck",
        description="A terminal cockpit for shared integration and staging environments.",
    )
    parser.add_argument("--version", action="version", version=f"stagedeck {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def add(
        name: str, func: Callable[[argparse.Namespace], int], help: str
    ) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help, description=help)
        p.set_defaults(func=func)
        return p

    def cockpit_options(p: argparse.ArgumentParser) -> None:
        p.add_argument("--headless", action="store_true", help="no UI: print state changes")
        p.add_argument("--theme", default=None, help="theme name (see themes/)")
        p.add_argument(
            "--free-ports",
            action="store_true",
            help="give local services free ports instead of the recipe's (run beside another copy)",
        )

    p = add("demo", cmd_demo, "bring up the embedded demo environment and open the cockpit")
    cockpit_options(p)

    p = add("open", cmd_open, "open the cockpit on a recipe (local services are started)")
    p.add_argument("recipe")
    cockpit_options(p)

    p = add("check", cmd_check, "validate a recipe and summarise it")
    p.add_argument("recipe")

    p = add("status", cmd_status, "probe every service once; exit 0 when all are healthy")
    p.add_argument("recipe")
    p.add_argument("--json", action="store_true")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return EXIT_BAD_INPUT
    try:
        return int(args.func(args))
    except ConfigError as exc:
        print_problems(exc)
        return EXIT_BAD_INPUT
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        os._exit(EXIT_OK)


if __name__ == "__main__":
    raise SystemExit(main())
