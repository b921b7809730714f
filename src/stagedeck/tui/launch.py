"""Open the cockpit with the engine already at work while Textual loads.

Importing Textual and the cockpit's widgets takes 0.2-0.4 s of CPU; connecting
to Docker (or Kubernetes), subscribing to its events, inspecting the containers
and opening their log streams is mostly waiting on someone else. Done one after
the other, the first frame showed an empty log and "not connected". Here the
engine starts first, on the event loop, and the cockpit is imported in a thread
meanwhile, so the first frame is drawn from containers already listed and log
lines already read. Nothing is faked: the frame shows what the engine knows when
it is drawn. Local processes are the exception: starting them is our own CPU
work, so they start after the first frame (see ``StagedeckApp.on_mount``).

This module imports no Textual itself (that is the point); what the engine
publishes before the app subscribes is kept and handed to the app.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import signal
from typing import Any

from stagedeck.engine.engine import Engine
from stagedeck.engine.events import Event
from stagedeck.recipe.model import Recipe
from stagedeck.tui.lifecycle import run_cockpit_async

log = logging.getLogger("stagedeck")


async def launch_cockpit(recipe: Recipe, **options: Any) -> int:
    """Start the engine, import the cockpit alongside, then run it (see the module doc)."""
    engine = Engine(recipe)
    if engine.target.manages_processes:
        # Our own processes: starting them is CPU work that competes with the import on
        # the same cores (500 services gave a 10 s first frame). They start when the
        # cockpit is mounted, as before.
        return int(await run_cockpit_async(recipe, engine=engine, **options))
    early: list[Event] = []
    unsubscribe = engine.subscribe(early.append)
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    for sig in (signal.SIGTERM, signal.SIGHUP):
        loop.add_signal_handler(sig, stop.set)
    # The bring-up plan is imported here, not by the loop while the thread imports the
    # cockpit (which imports it too): one importer per module, no lock to wait on.
    importlib.import_module("stagedeck.engine.actions")
    starting = asyncio.ensure_future(engine.start())
    starting.add_done_callback(_log_failure)
    importing = asyncio.ensure_future(
        asyncio.to_thread(importlib.import_module, "stagedeck.tui.app")
    )
    stopped = asyncio.ensure_future(stop.wait())
    try:
        await asyncio.wait({importing, stopped}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stopped.cancel()
        for sig in (signal.SIGTERM, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        unsubscribe()
    if stop.is_set() or not importing.done():
        # Asked to stop before there was a cockpit: stop what was started and leave.
        starting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await starting
        await engine.stop()
        return 0
    importing.result()  # the cockpit is imported: run_cockpit_async finds it loaded
    return int(
        await run_cockpit_async(recipe, engine=engine, starting=starting, replay=early, **options)
    )


def run_cockpit(recipe: Recipe, **options: Any) -> int:
    """``launch_cockpit`` for callers that have no event loop (the CLI)."""
    return asyncio.run(launch_cockpit(recipe, **options))


def _log_failure(task: asyncio.Future[None]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.error("engine failed to start", exc_info=task.exception())
