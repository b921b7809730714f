"""Errors that carry their location, so users can jump straight to the fix."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from stagedeck.text import visible


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an input file, with where it is and what to do."""

    file: Path
    line: int | None
    key: str
    message: str
    hint: str = ""

    def __post_init__(self) -> None:
        # A problem quotes what the file says (a key, a value): the text gate shows
        # its control characters as ``\x1b`` rather than sending them to a terminal.
        for name in ("key", "message", "hint"):
            object.__setattr__(self, name, visible(getattr(self, name), limit=2000))

    @property
    def where(self) -> str:
        """``file:line`` as it may be shown (a file name is outside text too)."""
        shown = visible(str(self.file), limit=500)
        return f"{shown}:{self.line}" if self.line else shown

    def __str__(self) -> str:
        where = self.where
        text = f"{where}: {self.key}: {self.message}" if self.key else f"{where}: {self.message}"
        return f"{text} ({self.hint})" if self.hint else text


class ConfigError(Exception):
    """Every problem found in one input, reported together rather than one per run."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class RecipeError(ConfigError):
    """A recipe that cannot be used as written."""
