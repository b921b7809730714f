"""Dependency-ordered, health-gated plans: bring-up and redeploy.

A plan walks the dependency graph layer by layer. Services within a layer
go in parallel; the next layer waits until the whole layer is healthy. The
first failure stops the plan and leaves everything after it untouched,
because starting ``orders`` on top of a dead ``ledger`` only produces a
second, misleading failure.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from stagedeck.engine.events import ActionProgress, EventBus, Notice

if TYPE_CHECKING:
    from stagedeck.engine.graph import DependencyGraph
    from stagedeck.engine.logs import LogHub
    from stagedeck.recipe.model import Service
    from stagedeck.targets.base import Target


class Engine(Protocol):
    """What a plan needs from the engine it acts on (``engine.Engine`` is the one there is).

    Plans name this rather than the engine class, because the engine starts
    plans of its own (services a reload added), and a module pair that imports
    each other is one module in two files.
    """

    @property
    def bus(self) -> EventBus: ...
    @property
    def claims(self) -> dict[str, str]: ...
    @property
    def graph(self) -> DependencyGraph: ...
    @property
    def logs(self) -> LogHub: ...
    @property
    def target(self) -> Target: ...

    def clock(self) -> float: ...
    def service(self, name: str) -> Service: ...
    async def wait_healthy(
        self, name: str, timeout: float, *, give_up_when_down: bool = False
    ) -> tuple[bool, str]: ...


@dataclass(frozen=True)
class StepOutcome:
    service: str
    ok: bool
    started: float
    finished: float
    detail: str = ""
    last_lines: tuple[str, ...] = ()

    @property
    def seconds(self) -> float:
        return self.finished - self.started


@dataclass
class PlanOutcome:
    action: str
    steps: list[StepOutcome] = field(default_factory=list)
    untouched: list[str] = field(default_factory=list)
    """Services the plan did not reach because an earlier step failed."""
    started: float = field(default_factory=time.time)
    finished: float = 0.0

    @property
    def ok(self) -> bool:
        return all(s.ok for s in self.steps)

    @property
    def failure(self) -> StepOutcome | None:
        return next((s for s in self.steps if not s.ok), None)

    def describe(self) -> str:
        took = f"{self.finished - self.started:.1f}s"
        failure = self.failure
        if failure is None:
            names = ", ".join(s.service for s in self.steps) or "nothing"
            return f"{self.action}: {names} healthy in {took}"
        text = f"{self.action} stopped at {failure.service}: {failure.detail}"
        if failure.last_lines:
            text += "\n  last lines:\n" + "\n".join(f"    {ln}" for ln in failure.last_lines)
        if self.untouched:
            text += f"\n  left untouched: {', '.join(self.untouched)}"
        return text


Step = Callable[["Service"], Awaitable[None]]


class ActionBusy(Exception):
    """Another action is already working on one of these services: never interleave two."""


def claim(engine: Engine, action: str, names: Iterable[str]) -> list[str]:
    """Mark ``names`` as being acted on; raise ActionBusy naming who holds any of them."""
    names = list(names)
    held = {n: engine.claims[n] for n in names if n in engine.claims}
    if held:
        busy = ", ".join(f"{n} ({a})" for n, a in held.items())
        raise ActionBusy(f"{action} refused: already in progress on {busy}")
    for n in names:
        engine.claims[n] = action
    return names


def release(engine: Engine, names: Iterable[str]) -> None:
    for n in names:
        engine.claims.pop(n, None)


async def run_layers(
    engine: Engine,
    action: str,
    names: Iterable[str],
    step: Step,
) -> PlanOutcome:
    """Run ``step`` then wait for health on ``names``, layer by layer in dependency order."""
    wanted = set(names)
    layers = [[n for n in layer if n in wanted] for layer in engine.graph.layers()]
    layers = [layer for layer in layers if layer]
    claimed = claim(engine, action, wanted)
    try:
        return await _run(engine, action, layers, step)
    finally:
        release(engine, claimed)


async def _run(
    engine: Engine, action: str, layers: list[list[str]], step: Step, *, announce: bool = True
) -> PlanOutcome:
    outcome = PlanOutcome(action, started=engine.clock())

    async def one(name: str) -> StepOutcome:
        svc = engine.service(name)
        started = engine.clock()
        engine.bus.publish(ActionProgress(action, name, "running"))
        try:
            await step(svc)
        except Exception as exc:
            ok, detail = False, str(exc) or type(exc).__name__
        else:
            ok, detail = await engine.wait_healthy(name, svc.ready_timeout)
        finished = engine.clock()
        lines = () if ok else tuple(ln.text for ln in engine.logs.last(name, 5))
        engine.bus.publish(
            ActionProgress(
                action, name, "ok" if ok else "failed", detail or f"{finished - started:.1f}s"
            )
        )
        return StepOutcome(name, ok, started, finished, detail, lines)

    for index, layer in enumerate(layers):
        results = await asyncio.gather(*(one(n) for n in layer))
        outcome.steps.extend(results)
        if not all(r.ok for r in results):
            outcome.untouched = [n for later in layers[index + 1 :] for n in later]
            for name in outcome.untouched:
                engine.bus.publish(ActionProgress(action, name, "skipped"))
            break
    outcome.finished = engine.clock()
    if announce:
        _announce(engine, outcome)
    return outcome


def _announce(engine: Engine, outcome: PlanOutcome) -> None:
    engine.bus.publish(
        Notice(outcome.describe().splitlines()[0], "information" if outcome.ok else "error")
    )


async def bring_up(engine: Engine, names: Iterable[str] | None = None) -> PlanOutcome:
    """Start every service (or ``names``) in dependency order, each gated on its dependencies."""
    return await run_layers(
        engine, "bring-up", names if names is not None else engine.graph.nodes, engine.target.start
    )


async def redeploy_all(engine: Engine) -> PlanOutcome:
    """Redeploy everything in dependency order (``R``)."""
    return await run_layers(engine, "redeploy all", engine.graph.nodes, engine.target.redeploy)


async def redeploy(engine: Engine, name: str, *, with_dependents: bool = False) -> PlanOutcome:
    """Redeploy one service, then (optionally) its transitive dependents in order."""
    action = f"redeploy {name}"
    dependents = engine.graph.dependents(name) if with_dependents else []
    # Claim everything up front so nobody slips in between the service and its dependents.
    claimed = claim(engine, action, [name, *dependents])
    try:
        first = await _run(engine, action, [[name]], engine.target.redeploy)
        if not dependents or not first.ok:
            return first
        layers = [[n for n in layer if n in dependents] for layer in engine.graph.layers()]
        rest = await _run(
            engine, action, [layer for layer in layers if layer], engine.target.redeploy
        )
    finally:
        release(engine, claimed)
    rest.steps[:0] = first.steps
    rest.started = first.started
    return rest
