"""The user's own settings: ``$XDG_CONFIG_HOME/stagedeck/config.toml``.

Everything here is a preference, not a description of an environment, so it
lives apart from recipes. It is validated as strictly as a recipe: a typo
in a key remap that silently does nothing is worse than an error.
"""

from __future__ import annotations

import os
import unicodedata
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from stagedeck.inputfile import read_toml
from stagedeck.recipe.errors import ConfigError, Problem
from stagedeck.recipe.model import suggest
from stagedeck.recipe.tomlpos import Positions

KEYS = ("theme", "read_only", "user", "keys", "ascii_graph")
_FIX = "config.toml is a UTF-8 TOML file; move whatever is there aside to start afresh"

MODIFIERS = frozenset({"ctrl", "shift", "alt", "meta", "super", "hyper"})
NAMED_KEYS = frozenset(
    {
        "escape", "enter", "return", "tab", "space", "backspace", "delete", "insert",
        "home", "end", "pageup", "pagedown", "up", "down", "left", "right",
        *(f"f{n}" for n in range(1, 25)),
    }
)  # fmt: skip
"""Key names besides single characters and Unicode names (``question_mark``)."""

ESSENTIAL = ("app.quit", "app.help")
"""Bindings a remap must never take the key of: without them a user is stuck."""


def key_problem(value: str) -> str | None:
    """Why ``value`` is not a key (or comma-separated keys) Textual can bind, or None."""
    for key in value.split(","):
        key = key.strip()
        if not key:
            return f"'{value}' has an empty key (a stray comma?)"
        *mods, base = key.split("+") if key != "+" else [key]
        if not base:
            return f"'{key}' ends in '+': a key is needed after the modifiers"
        unknown = [m for m in mods if m not in MODIFIERS]
        if unknown:
            return f"'{key}': unknown modifier '{unknown[0]}' (use ctrl, shift, alt, meta)"
        if (len(base) == 1 and base.isprintable()) or base in NAMED_KEYS:
            continue
        try:
            unicodedata.lookup(base.replace("_", " "))
        except KeyError:
            return f"'{key}': no key is called '{base}'"
    return None


def key_conflicts(remaps: Mapping[str, str], defaults: Mapping[str, str]) -> dict[str, str]:
    """Remaps that would leave quit or help without a working key, with why.

    ``defaults`` is binding id -> its default key(s). A remap is refused when it
    gives another action the key quit or help ends up with, or moves quit or help
    onto a key another action keeps (a screen's binding wins over the app's, so
    help would never open). The cockpit leaves these out and says so.
    """

    def keys(value: str) -> set[str]:
        return {k.strip() for k in value.split(",") if k.strip()}

    effective = {i: keys(remaps.get(i, defaults.get(i, ""))) for i in {*defaults, *remaps}}
    out: dict[str, str] = {}
    for essential in ESSENTIAL:
        for other, other_keys in effective.items():
            if other in ESSENTIAL:
                continue
            shared = sorted(effective.get(essential, set()) & other_keys)
            if not shared:
                continue
            if other in remaps:
                out[other] = f"'{shared[0]}' is the key of {essential}"
            elif essential in remaps:
                out[essential] = f"'{shared[0]}' is already the key of {other}"
    return out


@dataclass(frozen=True)
class UserConfig:
    path: Path | None = None
    theme: str = ""
    read_only: bool = False
    user: str = ""
    ascii_graph: bool = False
    """Draw the dependency graph with ASCII instead of box-drawing characters."""
    keys: dict[str, str] = field(default_factory=dict)
    """Binding id → key(s), e.g. ``"logs.pause" = "p"``; see ``?`` for the ids."""


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "stagedeck" / "config.toml"


def load_user_config(
    path: Path | None = None, *, binding_ids: Iterable[str] | None = None
) -> UserConfig:
    """Read the config (a missing file is an empty config); raise ConfigError on mistakes."""
    path = path or config_path()
    if not path.exists() and not path.is_symlink():
        return UserConfig()
    text, data = read_toml(path, what="config", hint=_FIX)
    pos = Positions(text)
    problems: list[Problem] = []

    def problem(key: tuple[str, ...], message: str, hint: str = "") -> None:
        problems.append(Problem(path, pos.line(key), ".".join(key), message, hint))

    for key in data:
        if key not in KEYS:
            problem((key,), f"unknown key '{key}'", suggest(key, KEYS))
    for key in ("theme", "user"):
        if key in data and not isinstance(data[key], str):
            problem((key,), "must be a string")
    for key in ("read_only", "ascii_graph"):
        if key in data and not isinstance(data[key], bool):
            problem((key,), "must be true or false")
    keys = data.get("keys", {})
    if not isinstance(keys, dict):
        problem(("keys",), "must be a table", 'write [keys] with "binding.id" = "key"')
        keys = {}
    known = set(binding_ids) if binding_ids is not None else None
    for binding_id, value in keys.items():
        if known is not None and binding_id not in known:
            problem(
                ("keys", binding_id), f"unknown binding '{binding_id}'", suggest(binding_id, known)
            )
        elif not isinstance(value, str) or not value:
            problem(("keys", binding_id), 'must be a key name like "p" or "ctrl+r"')
        elif why := key_problem(value):
            problem(("keys", binding_id), why, 'e.g. "p", "ctrl+r", "f5" or "question_mark"')
    if problems:
        raise ConfigError(problems)
    return UserConfig(
        path=path,
        theme=data.get("theme", ""),
        read_only=bool(data.get("read_only", False)),
        user=data.get("user", ""),
        ascii_graph=bool(data.get("ascii_graph", False)),
        keys={k: str(v) for k, v in keys.items()},
    )
