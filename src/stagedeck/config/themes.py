"""Themes: one TOML file each, validated strictly, found in two places.

Built-in themes ship in the package (``stagedeck/themes``, the repository's
``themes/`` folder); users add or override themes in
``$XDG_CONFIG_HOME/stagedeck/themes``. Parsing is UI-free so that tests
need no terminal and a bad theme is reported (file, line) before the TUI
draws anything; the TUI turns a
:class:`ThemeSpec` into a Textual ``Theme``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from stagedeck.inputfile import read_toml
from stagedeck.recipe.errors import ConfigError, Problem
from stagedeck.recipe.model import suggest
from stagedeck.recipe.tomlpos import Positions

COLOUR_KEYS = (
    "primary",
    "secondary",
    "accent",
    "foreground",
    "background",
    "surface",
    "panel",
    "success",
    "warning",
    "error",
    "boost",
)
SEMANTIC_KEYS = (
    "healthy",
    "degraded",
    "down",
    "unknown",
    "impacted",
    "suspect",
    "flaky",
    "log-error",
    "log-warn",
    "log-info",
    "log-debug",
    "log-time",
)
TOP_KEYS = ("name", "dark", "ansi", "variables", *COLOUR_KEYS)
DEFAULT_THEME = "stagedeck-dark"
MAX_THEME_BYTES = 64 * 1024
MAX_THEME_KEYS = 200
"""Far more than a theme can use; beyond it the file is refused before any key is checked."""
MAX_PROBLEMS = 20


class ThemeError(ConfigError):
    """A theme file that cannot be used; the previous theme stays."""


@dataclass(frozen=True)
class ThemeSpec:
    name: str
    path: Path
    dark: bool = True
    ansi: bool = False
    colours: dict[str, str] = field(default_factory=dict)
    variables: dict[str, str] = field(default_factory=dict)


def builtin_dir() -> Path:
    """The shipped themes: inside the wheel, or the repository's themes/ when editable."""
    package = Path(__file__).resolve().parent.parent  # stagedeck/, this module is in config/
    packaged = package / "themes"
    return packaged if packaged.is_dir() else package.parent.parent / "themes"


def user_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "stagedeck" / "themes"


def _valid_colour(value: str) -> bool:
    from textual.color import Color, ColorParseError  # parsing only, no UI

    try:
        Color.parse(value)
    except ColorParseError:
        return False
    return True


def load_theme(path: Path) -> ThemeSpec:
    """Parse and validate one theme file; raise ThemeError naming file, line and key."""
    text, data = read_toml(path, what="theme", error=ThemeError, limit=MAX_THEME_BYTES)
    raw_vars = data.get("variables", {})
    count = len(data) + (len(raw_vars) if isinstance(raw_vars, dict) else 0)
    if count > MAX_THEME_KEYS:
        # Checking (and suggesting a fix for) each of 50,000 keys held the cockpit for 15 s.
        raise ThemeError(
            [
                Problem(
                    path,
                    None,
                    "",
                    f"{count:,} keys; a theme has at most {len(TOP_KEYS) + len(SEMANTIC_KEYS)}",
                    "keep the colours listed in the theme guide and remove the rest",
                )
            ]
        )
    pos = Positions(text)
    problems: list[Problem] = []

    def problem(key: tuple[str, ...], message: str, hint: str = "") -> None:
        problems.append(Problem(path, pos.line(key), ".".join(key), message, hint))

    for key in data:
        if key not in TOP_KEYS:
            problem((key,), f"unknown key '{key}'", suggest(key, TOP_KEYS))
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not name:
        problem(("name",), "must be a non-empty string")
        name = path.stem
    for flag in ("dark", "ansi"):
        if flag in data and not isinstance(data[flag], bool):
            problem((flag,), "must be true or false")
    colours: dict[str, str] = {}
    for key in COLOUR_KEYS:
        if key in data:
            value = data[key]
            if not isinstance(value, str) or not _valid_colour(value):
                problem(
                    (key,),
                    f"not a colour: {value!r}",
                    'use "#RRGGBB", a colour name, or "ansi_red"',
                )
            else:
                colours[key] = value
    if "primary" not in data:
        problem(("primary",), "missing required colour 'primary'", 'add primary = "#4C9AFF"')
    variables: dict[str, str] = {}
    if not isinstance(raw_vars, dict):
        problem(("variables",), "must be a table", "write it as [variables]")
        raw_vars = {}
    for key, value in raw_vars.items():
        if key not in SEMANTIC_KEYS:
            problem(("variables", key), f"unknown variable '{key}'", suggest(key, SEMANTIC_KEYS))
        elif not isinstance(value, str) or not _valid_colour(value):
            problem(("variables", key), f"not a colour: {value!r}", 'use "#RRGGBB" or "ansi_green"')
        else:
            variables[key] = value
    if problems:
        problems.sort(key=lambda p: p.line or 0)
        raise ThemeError(problems[:MAX_PROBLEMS])
    return ThemeSpec(
        name=name,
        path=path,
        dark=bool(data.get("dark", True)),
        ansi=bool(data.get("ansi", False)),
        colours=colours,
        variables=variables,
    )


def discover(dirs: list[Path] | None = None) -> tuple[dict[str, ThemeSpec], list[ThemeError]]:
    """Every valid theme (user themes override built-ins of the same name) and every error."""
    themes: dict[str, ThemeSpec] = {}
    errors: list[ThemeError] = []
    for folder in dirs if dirs is not None else [builtin_dir(), user_dir()]:
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                spec = load_theme(path)
            except ThemeError as exc:
                errors.append(exc)
                continue
            themes[spec.name] = spec
    return themes, errors
