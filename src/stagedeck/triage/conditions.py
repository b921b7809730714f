"""Root failure versus down-because-of-a-dependency versus impacted, per service.

The graph view colours by this and headless commands can report it, so it is a
question the core answers: a **root failure** is down while all its
dependencies are healthy (where to look first); a service down only because
something below it is down is **down**; one that is up with a down dependency
is **impacted**. Everything else is its health.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from stagedeck.engine.events import Health, ProcState

if TYPE_CHECKING:
    from stagedeck.engine.engine import Engine
    from stagedeck.engine.graph import DependencyGraph

ROOT, DOWN, IMPACTED = "root", "down", "impacted"


@dataclass(frozen=True, slots=True)
class Condition:
    """What the graph says about one service right now."""

    kind: str
    """``root``, ``down``, ``impacted``, or the health (``healthy``, ``degraded``, ``unknown``)."""
    colour: str
    """Palette name of its colour."""


def health_style_name(health: Health, state: ProcState) -> str:
    """The palette name for a health: a crashed or failed process is down whatever probes said."""
    if state in (ProcState.CRASHED, ProcState.FAILED):
        return "down"
    if health is Health.UNCHECKED:
        return "unknown"  # no theme colour of its own: it is not known to be healthy
    return health.value


def conditions(engine: Engine, graph: DependencyGraph) -> dict[str, Condition]:
    """Root failure versus down-because-of-a-dependency versus impacted, per service."""
    down = engine.down()
    roots = graph.root_failures(down)
    impacted = graph.impacted(down)
    out: dict[str, Condition] = {}
    for name, status in engine.statuses.items():
        if name in roots:
            out[name] = Condition(ROOT, "down")
        elif name in down:
            out[name] = Condition(DOWN, "down")
        elif name in impacted:
            out[name] = Condition(IMPACTED, "impacted")
        else:
            out[name] = Condition(
                status.health.value, health_style_name(status.health, status.state)
            )
    return out
