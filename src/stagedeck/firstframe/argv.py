"""Which command lines open the cockpit, read without argparse (and without the CLI).

Only a plain, well-formed invocation gets an early frame: ``demo``, ``docker``,
``open RECIPE.toml`` or ``open EXAMPLE``, and plain ``stagedeck`` in a folder
with a recipe, with the options below. Anything else (another
command, ``--help``, ``--headless``, ``--json``, an option this list does not
know, a malformed value) returns None and the command line runs as if this
module did not exist, so argparse keeps the only word on errors.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

_COMMON_FLAGS = frozenset({"--read-only", "--free-ports", "--standalone", "--debug"})
_COMMON_VALUED = frozenset({"--theme", "--db", "--user"})
_FLAGS = {
    "demo": _COMMON_FLAGS | {"--no-seed"},
    "docker": _COMMON_FLAGS,
    "open": _COMMON_FLAGS,
}
_VALUED = {
    "demo": _COMMON_VALUED | {"--target"},
    "docker": _COMMON_VALUED | {"--project"},
    "open": _COMMON_VALUED,
}


class CockpitRequest(NamedTuple):
    """A command that will open the cockpit, and what the early frame needs of it.

    (A named tuple, not a dataclass: ``dataclasses`` imports ``inspect``, 10 ms
    before the frame.)
    """

    command: str
    recipe: Path | None = None
    project: str | None = None


def cockpit_request(argv: Sequence[str]) -> CockpitRequest | None:
    """The cockpit ``argv`` asks for, or None when it asks for anything else (or is unclear)."""
    args = list(argv)
    while args and args[0] == "--debug":
        args.pop(0)
    if not args:
        # Plain ``stagedeck``: the cockpit on the recipe found here (as the CLI finds it).
        from stagedeck.recipe.discovery import find_recipe

        found = find_recipe().path
        return CockpitRequest("open", recipe=found) if found is not None else None
    if args[0] not in _FLAGS:
        return None
    command, rest = args[0], args[1:]
    values: dict[str, str] = {}
    positional: list[str] = []
    i = 0
    while i < len(rest):
        word = rest[i]
        name, equals, value = word.partition("=")
        if name in _VALUED[command]:
            if not equals:
                i += 1
                if i >= len(rest) or rest[i].startswith("-"):
                    return None
                value = rest[i]
            if not value:
                return None
            values[name] = value
        elif word in _FLAGS[command]:
            pass
        elif word.startswith("-"):
            return None
        else:
            positional.append(word)
        i += 1
    if command == "open":
        return _open_request(positional)
    if positional or values.get("--target", "local") != "local":
        return None
    return CockpitRequest(command, project=values.get("--project"))


def _open_request(positional: list[str]) -> CockpitRequest | None:
    """``open FILE.toml`` or ``open EXAMPLE`` (a bundled example's name)."""
    if len(positional) != 1:
        return None
    path = Path(positional[0])
    if path.suffix == ".toml":
        return CockpitRequest("open", recipe=path) if path.is_file() else None
    from stagedeck.recipe.discovery import example

    found = example(positional[0])
    return CockpitRequest("open", recipe=found.path) if found is not None else None
