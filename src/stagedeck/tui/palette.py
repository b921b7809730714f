"""Semantic colours, read from the active theme's variables.

Widgets never hard-code a colour for a meaning: "down" is whatever the theme
says ``$down`` is, so the 16-colour and high-contrast themes can change it.
"""

from __future__ import annotations

from typing import Any

from rich.style import Style
from textual.app import App

from stagedeck.engine.events import Health

SEMANTIC_DEFAULTS: dict[str, str] = {
    "healthy": "#4EBF71",
    "degraded": "#E0AF3A",
    "down": "#E5534B",
    "unknown": "#8B949E",
    "impacted": "#D9822B",
    "suspect": "#3FC8D8",
    "flaky": "#B37FEB",
    "log-error": "#F47067",
    "log-warn": "#DAAA3F",
    "log-info": "#ADBAC7",
    "log-debug": "#768390",
    "log-time": "#768390",
}

SERVICE_COLOURS = ("cyan", "magenta", "green", "yellow", "blue", "bright_cyan", "bright_magenta")
"""Per-service tags use the terminal's own named colours, so they work in 16 colours."""

HEALTH_SYMBOL = {
    Health.HEALTHY: "●",
    Health.DEGRADED: "◐",
    Health.DOWN: "✖",
    Health.UNKNOWN: "○",
    Health.UNCHECKED: "◌",
}


def colour(app: App[Any], name: str) -> str:
    """A semantic colour of the active theme.

    Reads ``theme_variables``, which Textual caches when it applies a theme:
    ``get_css_variables()`` would rebuild the whole colour system per call.
    """
    variables: dict[str, str] = getattr(app, "theme_variables", None) or {}
    if name in variables:
        return variables[name]
    if not variables:
        variables = app.get_css_variables()
    return variables.get(name) or SEMANTIC_DEFAULTS.get(name, "default")


def rich_colour(value: str) -> str:
    """Textual's ``ansi_green`` is Rich's ``green``: the terminal's own palette entry."""
    return value[5:] if value.startswith("ansi_") else value


def style(app: App[Any], name: str, *, bold: bool = False) -> Style:
    try:
        return Style.parse(f"{'bold ' if bold else ''}{rich_colour(colour(app, name))}")
    except Exception:  # a colour Rich cannot parse must not break rendering
        return Style(bold=bold)


def service_colour(name: str, order: list[str]) -> str:
    index = order.index(name) if name in order else sum(map(ord, name))
    return SERVICE_COLOURS[index % len(SERVICE_COLOURS)]
