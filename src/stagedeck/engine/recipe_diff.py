"""What a new recipe changes compared with the one in force, and what applying it did.

Pure: :func:`diff_recipes` compares two loaded recipes. The engine applies the
result (``Engine.apply_recipe``); the file watcher that finds new recipes is
``reload.py``. Kept apart from both so the engine need not import the watcher
that drives it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from stagedeck.recipe.model import Recipe


@dataclass
class ReloadOutcome:
    """What applying a new recipe did (and what it left to the user)."""

    added: list[str] = field(default_factory=list)
    """New services: watched now; local ones started once their dependencies are healthy."""
    removed: list[str] = field(default_factory=list)
    """Services no longer in the recipe: no longer watched; local ones stopped."""
    changed: list[str] = field(default_factory=list)
    """Services whose definition changed (checks, dependencies, latency: in force at once)."""
    needs_restart: list[str] = field(default_factory=list)
    """Running local services whose command, env, cwd, host or port changed.

    The new definition is in force, but the process still runs the old one: ask
    the user, then redeploy these (``actions.redeploy(engine, name)``).
    """
    sections: list[str] = field(default_factory=list)
    """Other parts that changed: 'environment', 'seeds', 'suites', 'secrets'."""
    rejected: str = ""
    """Why nothing was applied (a change that needs a new cockpit), else ''."""

    @property
    def applied(self) -> bool:
        return not self.rejected

    @property
    def empty(self) -> bool:
        return not (self.added or self.removed or self.changed or self.sections)

    def describe(self) -> str:
        if self.rejected:
            return f"recipe change not applied: {self.rejected}"
        if self.empty:
            return "recipe reloaded: no changes"
        parts = []
        for word, names in (
            ("added", self.added),
            ("removed", self.removed),
            ("changed", self.changed),
        ):
            if names:
                parts.append(f"{word} {', '.join(names)}")
        if self.sections:
            parts.append(f"updated {', '.join(self.sections)}")
        text = "recipe reloaded: " + "; ".join(parts)
        if self.needs_restart:
            text += f" (restart to apply: {', '.join(self.needs_restart)})"
        return text


_NEEDS_NEW_COCKPIT = ("target", "context", "namespace", "project")


def diff_recipes(old: Recipe, new: Recipe, *, manages_processes: bool) -> ReloadOutcome:
    """What putting ``new`` in force in place of ``old`` changes."""
    outcome = ReloadOutcome()
    for key in _NEEDS_NEW_COCKPIT:
        before, after = getattr(old.environment, key), getattr(new.environment, key)
        if before != after:
            outcome.rejected = (
                f"environment.{key} changed from {before!r} to {after!r}; "
                "restart stagedeck to switch"
            )
            return outcome
    outcome.added = [n for n in new.services if n not in old.services]
    outcome.removed = [n for n in old.services if n not in new.services]
    for name, after in new.services.items():
        before = old.services.get(name)
        if before is None or before == after:
            continue
        outcome.changed.append(name)
        if manages_processes and before.process_spec() != after.process_spec():
            outcome.needs_restart.append(name)
    for section in ("environment", "seeds", "suites"):
        if getattr(old, section) != getattr(new, section):
            outcome.sections.append(section)
    if old.secrets != new.secrets:
        outcome.sections.append("secrets")
    return outcome
