"""Shell completion through argcomplete: commands, options, and the names in the recipe.

``stagedeck completion bash|zsh|fish`` prints the script to source. The shell
then runs ``stagedeck`` itself with ``_ARGCOMPLETE`` set; :func:`autocomplete`
answers and exits before any command runs. argcomplete costs about 14 ms to
import, so it is imported only then: ``main`` checks the variable first and
the ordinary start-up path never loads it.

Names (services, suites, seeds) come from the recipe the command line names or
the one discovery finds, read with ``tomllib`` (includes followed, nothing
resolved or started): a completion must answer in a blink, even for a recipe
with problems.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

SHELLS = ("bash", "zsh", "fish")


def recipe_tables(path: Path, seen: frozenset[Path] = frozenset()) -> dict[str, Any]:
    """The recipe's raw tables, its includes merged under it (the including file wins)."""
    import tomllib

    path = path.resolve()
    if path in seen:
        return {}
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError, UnicodeDecodeError):
        return {}
    merged: dict[str, Any] = {}
    includes = data.get("include", [])
    for include in [includes] if isinstance(includes, str) else includes:
        if isinstance(include, str):
            for key, value in recipe_tables(path.parent / include, seen | {path}).items():
                if isinstance(value, dict):
                    merged.setdefault(key, {}).update(value)
    for key, value in data.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key].update(value)
        else:
            merged[key] = value
    return merged


def _recipe_of(parsed: argparse.Namespace) -> Path | None:
    from stagedeck.recipe.discovery import find_recipe, looks_like_recipe, resolve_named

    given = getattr(parsed, "recipe", None)
    if given and looks_like_recipe(given):
        return resolve_named(given)
    return find_recipe().path


def names_in(table: str) -> Callable[..., Iterable[str]]:
    """A completer of the names in one recipe table (``services``, ``suites``, ``seeds``)."""

    def complete(prefix: str, parsed_args: argparse.Namespace, **_: Any) -> list[str]:
        path = _recipe_of(parsed_args)
        if path is None:
            return []
        names = recipe_tables(path).get(table, {})
        return [n for n in names if isinstance(n, str) and n.startswith(prefix)]

    return complete


def complete_recipe(prefix: str, **kwargs: Any) -> list[str]:
    """Bundled example names, then files and folders (the shell's own file completion)."""
    from argcomplete.completers import FilesCompleter

    from stagedeck.recipe.discovery import examples

    names = [e.name for e in examples() if e.name.startswith(prefix)]
    return names + list(FilesCompleter(allowednames=("toml",))(prefix, **kwargs))


_COMPLETERS: dict[str, Callable[..., Iterable[str]]] = {
    "service": names_in("services"),
    "suite": names_in("suites"),
    "seed": names_in("seeds"),
    "recipe": complete_recipe,
}


def _attach(parser: argparse.ArgumentParser) -> None:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                _attach(sub)
        elif action.dest in _COMPLETERS:
            action.completer = _COMPLETERS[action.dest]  # type: ignore[attr-defined]


def autocomplete(parser: argparse.ArgumentParser) -> None:
    """Answer the shell (``_ARGCOMPLETE`` is set) and exit; import argcomplete only now."""
    import argcomplete

    _attach(parser)
    argcomplete.autocomplete(parser, always_complete_options=False)  # options after a -


def cmd_completion(args: argparse.Namespace) -> int:
    from argcomplete.shell_integration import shellcode

    sys.stdout.write(shellcode(["stagedeck"], shell=args.shell))
    return 0


def register(add: Any) -> None:
    p = add(
        "completion",
        cmd_completion,
        'print the shell completion script: eval "$(stagedeck completion bash)"',
    )
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")
