"""Finding the recipe when none is named, the way docker compose and Tilt do.

Order: ``$STAGEDECK_RECIPE``; then ``stagedeck.toml`` in the working directory
and each parent up to the repository root (the first directory holding ``.git``)
or the filesystem root. A name that is not a path may be a bundled example
(``demo``, ``realworld``). Every place looked at is remembered, so "no recipe
found" can say exactly where it looked.

Standard library only: this runs before every command that takes a recipe.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

RECIPE_FILENAME = "stagedeck.toml"
RECIPE_ENV = "STAGEDECK_RECIPE"


@dataclass(frozen=True)
class Example:
    """A recipe that ships with stagedeck, reachable by name."""

    name: str
    path: Path
    summary: str
    note: str = ""


@dataclass
class Discovery:
    """The recipe found (or not) and every place looked at, in order."""

    path: Path | None = None
    how: str = ""
    looked: list[str] = field(default_factory=list)

    def explain(self) -> str:
        """Why nothing was found, in words a new user can act on."""
        lines = ["no recipe given and none found. Looked for:"]
        lines += [f"  {place}" for place in self.looked]
        lines.append(
            f"Name one (stagedeck open PATH), create ./{RECIPE_FILENAME}, set ${RECIPE_ENV}, "
            "or try a bundled example: stagedeck examples"
        )
        return "\n".join(lines)


def examples() -> list[Example]:
    """The bundled example recipes, from the package (wheel) or the source tree."""
    from stagedeck.demo import recipe_path as demo_recipe

    found = [
        Example(
            "demo",
            demo_recipe(),
            "six small local services, a seed and two suites (what `stagedeck demo` runs)",
        )
    ]
    package = Path(__file__).resolve().parent.parent
    for root in (package / "recipes", package.parent.parent / "recipes"):
        realworld = root / "realworld" / "realworld.toml"
        if realworld.is_file():
            found.append(
                Example(
                    "realworld",
                    realworld,
                    "PostgreSQL, Redis, nginx and a service from Debian packages, run locally",
                    note="its database password is a committed demo value, not a secret",
                )
            )
            break
    return found


def example(name: str) -> Example | None:
    return next((e for e in examples() if e.name == name), None)


def find_recipe(start: Path | None = None, environ: Mapping[str, str] | None = None) -> Discovery:
    """``$STAGEDECK_RECIPE``, else the nearest ``stagedeck.toml`` up to the repository root."""
    env = os.environ if environ is None else environ
    found = Discovery()
    named = env.get(RECIPE_ENV, "")
    if named:
        found.looked.append(f"${RECIPE_ENV}={named}")
        path = Path(named).expanduser()
        if path.is_file():
            found.path, found.how = path, f"${RECIPE_ENV}"
        elif (ex := example(named)) is not None:
            found.path, found.how = ex.path, f"${RECIPE_ENV} (bundled example {named})"
        else:
            found.looked[-1] += " (no such file)"
        return found
    found.looked.append(f"${RECIPE_ENV} (not set)")
    try:
        here = (start or Path.cwd()).resolve()
    except FileNotFoundError:  # the working directory was deleted under us
        found.looked.append("(the working directory no longer exists)")
        return found
    for folder in (here, *here.parents):
        candidate = folder / RECIPE_FILENAME
        found.looked.append(str(candidate))
        if candidate.is_file():
            found.path, found.how = candidate, "found"
            return found
        if (folder / ".git").exists():
            found.looked.append(f"(stopped at the repository root {folder})")
            break
    return found


def looks_like_recipe(value: str) -> bool:
    """A positional that names a recipe: an existing path, a .toml name, or an example."""
    return value.endswith(".toml") or Path(value).exists() or example(value) is not None


def resolve_named(value: str) -> Path:
    """A path as given, or the bundled example of that name when no such path exists."""
    path = Path(value).expanduser()
    if path.is_dir() and (path / RECIPE_FILENAME).is_file():
        return path / RECIPE_FILENAME
    if not path.exists() and (ex := example(value)) is not None:
        return ex.path
    return path
