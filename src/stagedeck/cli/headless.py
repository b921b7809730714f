"""Headless views on the engine: one-shot status and a foreground runner.

These are the CLI's equivalent of the cockpit: the same engine, printed as
lines instead of drawn as widgets, for scripts, CI and ``ssh host stagedeck``.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TextIO

import httpx

from stagedeck.engine.engine import Engine
from stagedeck.engine.events import ActionProgress, Event, Notice, StatusChanged, TargetConnection
from stagedeck.engine.probes import ProbeResult, run_check
from stagedeck.recipe.model import Recipe


@dataclass(frozen=True)
class OneShot:
    service: str
    healthy: bool | None
    """None when the recipe gives no health check for the service."""
    ms: float | None
    detail: str


async def probe_all(recipe: Recipe) -> list[OneShot]:
    """Probe every service once, concurrently; nothing is started or changed."""
    async with httpx.AsyncClient() as client:

        async def one(name: str) -> OneShot:
            check = recipe.services[name].health
            if check is None:
                return OneShot(name, None, None, "no health check")
            result: ProbeResult = await run_check(client, check)
            return OneShot(name, result.ok, result.ms, result.detail)

        return list(await asyncio.gather(*(one(n) for n in recipe.graph.order())))


def status_of_engine(engine: Engine) -> list[OneShot]:
    """What an engine (an environment process's, through a mirror) knows now, as one-shots."""
    from stagedeck.engine.events import Health

    out: list[OneShot] = []
    for name in engine.recipe.graph.order():
        status = engine.statuses.get(name)
        if status is None:
            continue
        # "exit 0 when all are healthy": degraded is not; unknown (starting) is not known.
        healthy = {Health.HEALTHY: True, Health.DOWN: False, Health.DEGRADED: False}.get(
            status.health
        )
        window = engine.latency.get(name)
        last = window.tail(1) if window is not None else []
        ms = last[0][1] if last else None
        detail = status.reason or f"{status.state.value}, {status.health.value}"
        out.append(OneShot(name, healthy, ms, detail))
    return out


def print_status(recipe: Recipe, results: list[OneShot], as_json: bool, out: TextIO) -> int:
    if as_json:
        json.dump(
            {
                "environment": recipe.name,
                "target": recipe.environment.target,
                "services": [
                    {
                        "name": r.service,
                        "healthy": r.healthy,
                        "latency_ms": None if r.ms is None else round(r.ms, 1),
                        "detail": r.detail,
                    }
                    for r in results
                ],
            },
            out,
            indent=2,
        )
        out.write("\n")
    else:
        width = max((len(r.service) for r in results), default=7)
        out.write(f"{'SERVICE':<{width}}  {'HEALTH':<9}  {'LATENCY':>8}  DETAIL\n")
        for r in results:
            health = {True: "healthy", False: "down", None: "unknown"}[r.healthy]
            ms = "" if r.ms is None else f"{r.ms:.0f} ms"
            out.write(f"{r.service:<{width}}  {health:<9}  {ms:>8}  {r.detail}\n")
    return 0 if all(r.healthy is not False for r in results) and results else 1


def format_event(event: Event) -> str | None:
    stamp = time.strftime("%H:%M:%S", time.localtime(getattr(event, "at", time.time())))
    if isinstance(event, StatusChanged):
        s = event.status
        if event.before is not None and (s.state, s.health) == (
            event.before.state,
            event.before.health,
        ):
            return None
        reason = f"  {s.reason}" if s.reason else ""
        return f"{stamp} {s.name:<12} {s.state.value:<10} {s.health.value:<9}{reason}"
    if isinstance(event, Notice):
        return f"{stamp} [{event.severity}] {event.message}"
    if isinstance(event, TargetConnection):
        word = "connected" if event.connected else "DISCONNECTED"
        return f"{stamp} target {word}: {event.detail}"
    if isinstance(event, ActionProgress) and event.state in ("failed", "skipped"):
        return f"{stamp} {event.action}: {event.step} {event.state} {event.detail}"
    return None


def event_printer(out: TextIO = sys.stdout) -> Callable[[Event], None]:
    """A subscriber that prints each state change worth a line (see ``format_event``)."""

    def printer(event: Event) -> None:
        line = format_event(event)
        if line:
            out.write(line + "\n")
            out.flush()

    return printer


async def run_foreground(engine: Engine, out: TextIO = sys.stdout) -> None:
    """Run the environment, printing every state change, until SIGINT or SIGTERM."""
    printer = event_printer(out)

    engine.subscribe(printer)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await engine.start()
        await stop.wait()
    finally:
        out.write("stopping services...\n")
        out.flush()
        await engine.stop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
