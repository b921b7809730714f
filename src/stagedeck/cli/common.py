"""What every command family shares: exit codes, loading a recipe, printing its problems."""

from __future__ import annotations

import argparse

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
    return load_recipe(path, auto_ports=getattr(args, "free_ports", False))
