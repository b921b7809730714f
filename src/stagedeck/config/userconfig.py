"""The user's own settings: ``$XDG_CONFIG_HOME/stagedeck/config.toml``.

Everything here is a preference, not a description of an environment, so it
lives apart from recipes. It is validated as strictly as a recipe: a typo
in a key remap that silently does nothing is worse than an error.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stagedeck.recipe.errors import ConfigError, Problem
from stagedeck.recipe.model import suggest
from stagedeck.recipe.tomlpos import Positions

KEYS = ("theme", "read_only", "user", "keys", "ascii_graph")


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
    if not path.exists():
        return UserConfig()
    text = path.read_text(encoding="utf-8")
    try:
        data: dict[str, Any] = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(path, None, "", f"not valid TOML: {exc}")]) from None
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
