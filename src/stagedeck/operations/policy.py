"""Who may change the environment: read-only mode and the words for a refusal.

Mutating actions ask here first, from the cockpit's keys and from the CLI
alike, so a read-only cockpit refuses the same things everywhere and says why.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ReadOnly:
    """Why this cockpit may not change the environment ('' when it may)."""

    reason: str = ""

    @classmethod
    def from_sources(cls, *, flag: bool, recipe: bool, config: bool) -> ReadOnly:
        if flag:
            return cls("read-only (--read-only)")
        if recipe:
            return cls("read-only (read_only = true in the recipe)")
        if config:
            return cls("read-only (read_only = true in your config)")
        return cls()

    def __bool__(self) -> bool:
        return bool(self.reason)

    def refusal(self, action: str) -> str:
        return f"{action} refused: this cockpit is {self.reason}"
