"""Register stagedeck's themes with Textual and reload them when their files change."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from textual.app import App
from textual.theme import BUILTIN_THEMES, Theme

from stagedeck.config.themes import (
    ThemeError,
    ThemeSpec,
    builtin_dir,
    discover,
    load_theme,
    user_dir,
)


def to_textual(spec: ThemeSpec) -> Theme:
    variables = dict(spec.variables)
    if spec.ansi:
        # Textual's own widgets need a few ANSI-only variables ($ansi-background, cursor
        # colours); start from Textual's ANSI theme and let ours win.
        base = BUILTIN_THEMES["ansi-dark" if spec.dark else "ansi-light"]
        variables = {**base.variables, **variables}
    return Theme(
        name=spec.name,
        dark=spec.dark,
        ansi=spec.ansi,
        variables=variables,
        **spec.colours,  # type: ignore[arg-type]
    )


def register_all(app: App[Any], dirs: list[Path] | None = None) -> list[ThemeError]:
    """Register every valid theme; return the errors so the app can show them once."""
    themes, errors = discover(dirs)
    for spec in themes.values():
        app.register_theme(to_textual(spec))
    return errors


def theme_dirs() -> list[Path]:
    return [builtin_dir(), user_dir()]


def reload_file(app: App[Any], path: Path) -> str | None:
    """Re-read one changed theme file. Returns the theme name, or raises ThemeError.

    On an error the previously registered version stays in force.
    """
    spec = load_theme(path)
    app.register_theme(to_textual(spec))
    return spec.name
