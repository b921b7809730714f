"""Finding, starting and talking to an environment process.

:func:`connect` finds the environment for a recipe (no flag needed: the key
comes from the recipe) and attaches; it returns None when no environment
process runs, and raises :class:`NoAccess` when one runs that we may not
attach to, so a caller never silently starts a second environment beside it.
:func:`ensure` starts an ephemeral one first when none runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from stagedeck.deadline import within
from stagedeck.envproc import wire
from stagedeck.envproc.paths import (
    Announcement,
    ensure_private_dir,
    env_key,
    log_file,
    read_announcement,
    socket_path,
    state_dir,
)
from stagedeck.recipe.model import Recipe, load_recipe

START_TIMEOUT = 30.0
ALREADY_RUNNING = 3
"""The environment process's exit code when another one holds the environment's lock."""


class NoAccess(Exception):
    """An environment process runs for this recipe, and we may not attach to it."""


class EnvGone(Exception):
    """The environment process went away (or refused the request) mid-conversation."""


class StartFailed(Exception):
    """The environment process we started exited before it listened."""


TRACES_PORT = "[traces]"
"""The key of the traces receiver's port among a recipe's ports (it is no service)."""


def ports_of(recipe: Recipe) -> dict[str, int]:
    """Every port the recipe's environment listens on: its services' and its receiver's."""
    ports = {n: s.port for n, s in recipe.services.items() if s.port}
    if recipe.traces is not None:
        ports[TRACES_PORT] = recipe.traces.port
    return ports


def recipe_with_ports(recipe: Recipe, ports: dict[str, int]) -> Recipe:
    """``recipe`` reloaded so its services (and traces receiver) have ``ports``: an
    environment's free ports, so that a viewer's suites talk to the same services."""
    mine = ports_of(recipe)
    if not ports or mine == {n: p for n, p in ports.items() if n in mine}:
        return recipe
    services = {
        n: dataclasses.replace(s, port=ports.get(n, s.port)) for n, s in recipe.services.items()
    }
    traces = recipe.traces
    if traces is not None and TRACES_PORT in ports:
        traces = dataclasses.replace(traces, port=ports[TRACES_PORT])
    previous = dataclasses.replace(recipe, services=services, traces=traces)
    return load_recipe(recipe.path, auto_ports=True, previous=previous)


def locate(recipe: Recipe) -> tuple[Path, Announcement | None] | None:
    """The socket of a live environment process for ``recipe`` (and its announcement)."""
    found = read_announcement(env_key(recipe))
    if found is not None and found.alive():
        return Path(found.socket), found
    own = socket_path(recipe)
    if own.exists():
        return own, None
    return None


class Connection:
    """One attachment: messages in (to ``on_message``), requests out (with replies)."""

    def __init__(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        hello: dict[str, Any],
        path: Path,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.hello = hello
        self.path = path
        self.on_message: Callable[[dict[str, Any]], None] = lambda m: None
        self.on_closed: Callable[[str], None] = lambda why: None
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._task: asyncio.Task[None] | None = None
        self.closing = False
        self.bye = ""

    def start(self) -> None:
        self._task = asyncio.create_task(self._read(), name="envproc-client")

    async def _read(self) -> None:
        why = "environment process gone"
        try:
            while True:
                line = await self.reader.readline()
                if not line:
                    break
                try:
                    message = wire.loads(line)
                except ValueError:
                    continue
                kind = message.get("t")
                if kind == "reply":
                    future = self._pending.pop(int(message.get("id") or 0), None)
                    if future is not None and not future.done():
                        future.set_result(message)
                    continue
                if kind == "bye":
                    self.bye = str(message.get("reason") or "")
                    why = f"environment stopped ({self.bye})" if self.bye else why
                try:
                    self.on_message(message)
                except Exception:  # a broken view must not stop the stream
                    import logging

                    logging.getLogger("stagedeck.envproc").exception("message %r", kind)
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(EnvGone(why))
            self._pending.clear()
            if not self.closing:
                self.on_closed(why)

    async def request(
        self, action: str, args: dict[str, Any] | None = None, *, forced: bool = False
    ) -> dict[str, Any]:
        rid = next(self._ids)
        future: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = future
        self.writer.write(
            wire.dumps(
                {"t": "request", "id": rid, "action": action, "args": args or {}, "forced": forced}
            )
        )
        return await future

    async def close(self) -> None:
        self.closing = True
        with contextlib.suppress(Exception):
            self.writer.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)


def _refusal_for(recipe: Recipe, found: Announcement | None, detail: str = "") -> NoAccess:
    who = f"{found.owner} (pid {found.pid})" if found is not None else "another user"
    share = ""
    if found is not None and found.group:
        share = f"; it is shared {found.mode} with the group {found.group}, which you are not in"
    else:
        share = "; it is private to them"
    text = detail or f"environment {recipe.name!r} is run by {who}{share}"
    return NoAccess(
        f"{text}. Ask them to share it (share_group in the recipe's [environment]) or to "
        "add you to its group; stagedeck does not start a second copy beside it."
    )


async def connect(recipe: Recipe, *, user: str, role: str = "cockpit") -> Connection | None:
    """Attach to the environment process for ``recipe``; None when none runs."""
    where = locate(recipe)
    if where is None:
        return None
    path, found = where
    try:
        reader, writer = await asyncio.open_unix_connection(str(path), limit=wire.MAX_LINE)
    except PermissionError:
        raise _refusal_for(recipe, found) from None
    except (ConnectionRefusedError, FileNotFoundError):
        return None  # a stale socket: the process is gone
    writer.write(wire.dumps({"t": "attach", "user": user, "role": role, "pid": os.getpid()}))
    try:
        first = await within(reader.readline(), 30)
    except (TimeoutError, ConnectionError):
        writer.close()
        return None
    if not first:
        writer.close()
        return None
    hello = wire.loads(first)
    if hello.get("t") == "refused":
        writer.close()
        raise _refusal_for(recipe, found, str(hello.get("detail") or ""))
    if hello.get("t") != "hello" or hello.get("protocol") != wire.PROTOCOL:
        writer.close()
        raise NoAccess(
            f"the environment process at {path} speaks another protocol "
            f"({hello.get('protocol')!r}, this stagedeck speaks {wire.PROTOCOL}): "
            "stop it with the stagedeck that started it"
        )
    return Connection(reader, writer, hello, path)


LOG_ROTATE_BYTES = 5 * 1024 * 1024
"""An environment process's log is kept to about this (and one older file beside it)."""


def _rotated(path: Path) -> Path:
    """``path``, moved to ``path.1`` first when it grew past :data:`LOG_ROTATE_BYTES`:
    an environment restarted every day for months must not fill the disk."""
    with contextlib.suppress(OSError):
        if path.stat().st_size > LOG_ROTATE_BYTES:
            path.replace(path.with_name(path.name + ".1"))
    return path


def spawn(recipe: Recipe, *, ephemeral: bool, db: str | None = None) -> subprocess.Popen[bytes]:
    """Start an environment process for ``recipe`` in its own session, output to a log file."""
    ensure_private_dir(state_dir())
    key = env_key(recipe)
    argv = [sys.executable, "-m", "stagedeck", "up", str(recipe.path), "--foreground"]
    if ephemeral:
        argv.append("--ephemeral")
    if recipe.auto_ports:
        argv.append("--free-ports")
        ports = ",".join(f"{n}={p}" for n, p in ports_of(recipe).items())
        if ports:
            argv += ["--ports", ports]
    if db:
        argv += ["--db", db]
    if not recipe.environment.seed_on_start and recipe.seeds:
        argv.append("--no-seed")  # `demo --no-seed`: the process reads the file again
    out = _rotated(log_file(key)).open("ab")
    try:
        return subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
        )
    finally:
        out.close()


async def ensure(
    recipe: Recipe,
    *,
    user: str,
    role: str = "cockpit",
    ephemeral: bool = True,
    db: str | None = None,
    proc: subprocess.Popen[bytes] | None = None,
) -> Connection:
    """Attach, starting an environment process first when none runs (or ``proc`` starts)."""
    if proc is None:
        conn = await connect(recipe, user=user, role=role)
        if conn is not None:
            return conn
        proc = spawn(recipe, ephemeral=ephemeral, db=db)
    deadline = time.monotonic() + START_TIMEOUT
    delay = 0.02
    while time.monotonic() < deadline:
        await asyncio.sleep(delay)
        delay = min(0.2, delay * 1.5)
        conn = await connect(recipe, user=user, role=role)
        if conn is not None:
            return conn
        code = proc.poll()
        if code is not None and code != ALREADY_RUNNING:
            raise StartFailed(
                f"the environment process exited with code {code}: "
                f"{_tail(log_file(env_key(recipe)))}"
            )
        # ALREADY_RUNNING: another starter won the race; its process is coming up.
    raise StartFailed(f"the environment process did not listen within {START_TIMEOUT:g}s")


def _tail(path: Path, lines: int = 5) -> str:
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return "(no log)"
    return " / ".join(text[-lines:]) + f" (log: {path})"
