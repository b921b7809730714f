"""The environment process itself: :func:`serve` one environment until told to stop.

``stagedeck up`` runs it in the background (``stagedeck up RECIPE --foreground``
in a process of its own), or in the terminal with ``--foreground``;
``stagedeck demo`` and ``stagedeck open`` start an *ephemeral* one when none
runs, which stops by itself a grace period after its last viewer left. Only one
runs per environment key: a lock file decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO

from stagedeck.engine.engine import Engine
from stagedeck.engine.events import Event, Notice, StatusChanged
from stagedeck.envproc.paths import (
    ensure_private_dir,
    env_key,
    pids_file,
    sharing_of,
    socket_path,
    state_dir,
)
from stagedeck.envproc.requests import Actions
from stagedeck.envproc.server import EnvServer
from stagedeck.operations import ReadOnly
from stagedeck.recipe.model import Recipe

log = logging.getLogger("stagedeck.envproc")

DEFAULT_GRACE = 5.0
"""How long an ephemeral environment waits for a viewer to come back before stopping."""


def idle_grace_default() -> float:
    raw = os.environ.get("STAGEDECK_IDLE_GRACE", "")
    try:
        return max(0.0, float(raw)) if raw else DEFAULT_GRACE
    except ValueError:
        return DEFAULT_GRACE


class AlreadyRunning(Exception):
    """Another environment process holds this environment's lock."""


def take_lock(key: str) -> IO[str]:
    path = ensure_private_dir(state_dir()) / f"{key}.lock"
    handle = path.open("a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.close()
        raise AlreadyRunning(key) from None
    return handle


def _service_of(pid: int) -> str | None:
    """The STAGEDECK_SERVICE a process was started with (None: not one of ours)."""
    try:
        environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    except OSError:
        return None
    for item in environ:
        if item.startswith(b"STAGEDECK_SERVICE="):
            return item.split(b"=", 1)[1].decode(errors="replace")
    return None


def clear_leftovers(key: str, recipe: Recipe) -> list[str]:
    """Services a previous environment process left running: say so and stop them.

    Its watchdog normally stops them when it dies. If the watchdog died too, they
    may still run, holding their ports; their output pipes belonged to the dead
    process, so we cannot adopt them as our own: we stop their process groups
    (only groups whose leader carries the service's STAGEDECK_SERVICE) and start
    afresh, and tell the viewers which.
    """
    path = pids_file(key)
    try:
        recorded = json.loads(path.read_text())
    except (OSError, ValueError):
        return []
    notes: list[str] = []
    for name, pid in dict(recorded).items():
        if not isinstance(pid, int) or _service_of(pid) != name:
            continue
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and _service_of(pid) == name:
            time.sleep(0.05)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
        if name in recipe.services:
            notes.append(
                f"could not re-adopt {name} (pid {pid}, left by a previous environment process): "
                "stopped it and started it afresh"
            )
    with contextlib.suppress(OSError):
        path.unlink()
    return notes


def pid_recorder(engine: Engine, key: str) -> Callable[[Event], None]:
    """Keep ``<key>.pids.json`` current, so a successor knows what we ran."""
    path = pids_file(key)

    def record(event: Event) -> None:
        if not isinstance(event, StatusChanged):
            return
        if event.before is not None and event.before.pid == event.status.pid:
            return
        pids = {n: s.pid for n, s in engine.statuses.items() if s.pid}
        with contextlib.suppress(OSError):
            tmp = path.with_suffix(".tmp")
            tmp.write_text(json.dumps(pids))
            os.replace(tmp, path)

    return record


async def serve(
    recipe: Recipe,
    *,
    grace: float | None,
    db: str | None = None,
    on_event: Callable[[Event], None] | None = None,
    ready: Callable[[EnvServer], None] | None = None,
) -> str:
    """Run the environment until `down`, a signal, or (ephemeral) nobody watching;
    return why it stopped. ``on_event`` sees every engine event (a printer, say)."""
    from stagedeck.config.userconfig import load_user_config
    from stagedeck.recipe.errors import ConfigError
    from stagedeck.store import Store, default_db_path

    key = env_key(recipe)
    lock = take_lock(key)
    try:
        notes = clear_leftovers(key, recipe) if recipe.environment.target == "local" else []
        try:
            config_ro = load_user_config().read_only
        except ConfigError:
            config_ro = False
        read_only = ReadOnly.from_sources(
            flag=False, recipe=recipe.environment.read_only, config=config_ro
        )
        engine = Engine(recipe)
        server: EnvServer | None = None

        async def on_down(user: str) -> None:
            assert server is not None
            server.request_stop(f"stopped by {user}")

        actions = Actions(engine, lambda: Store.open(default_db_path(db)), read_only, on_down)
        sharing = sharing_of(recipe)
        server = EnvServer(
            engine,
            actions,
            key=key,
            path=socket_path(recipe, sharing),
            sharing=sharing,
            idle_grace=grace,
        )
        if on_event is not None:
            engine.subscribe(on_event)
        engine.subscribe(pid_recorder(engine, key))
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            loop.add_signal_handler(sig, server.request_stop, f"signal {sig.name}")
        await server.start()
        if ready is not None:
            ready(server)
        await engine.start()
        server.watch_start()
        for note in notes:
            engine.bus.publish(Notice(note, "warning"))
        watcher = asyncio.create_task(_watch_recipe(engine))
        await server.stopped.wait()
        engine.bus.publish(Notice(f"environment stopping: {server.stop_reason}", "warning"))
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        try:
            await actions.close(f"the environment process stopped: {server.stop_reason}")
            await engine.stop()
        finally:
            await server.close()
            with contextlib.suppress(OSError):
                pids_file(key).unlink()
        return server.stop_reason
    finally:
        lock.close()


async def _watch_recipe(engine: Engine) -> None:
    """Living recipes: the environment process applies saved edits for every viewer."""
    if not Path(engine.recipe.path).is_file():
        return
    from stagedeck.engine.reload import watch_engine

    with contextlib.suppress(Exception):
        await watch_engine(engine).run()
