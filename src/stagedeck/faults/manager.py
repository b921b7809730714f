"""Active faults of one process: inject, lift when due, lift all on the way out.

:meth:`FaultManager.inject` applies a fault and returns a :class:`FaultHandle`
whose fault is lifted automatically when its duration expires; ``lift()``
ends it early and ``lift_all()`` ends every one (a cockpit quitting). The
keeper process (``keeper.py``) is told about each fault, so that a SIGKILL of
this process still lifts it. This is the API scenarios and gates call::

    handle = await faults.inject(FaultSpec("payments", FaultKind.PAUSE, 10))
    ...                      # run suites while payments is frozen
    await handle.lift()      # or: await handle.wait() until it expires
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from stagedeck.engine.events import FaultsChanged, Notice
from stagedeck.faults.apply import Applied, inject, planned_undo
from stagedeck.faults.model import FaultSpec

if TYPE_CHECKING:
    from stagedeck.engine.engine import Engine

_ids = itertools.count(1)


class FaultHandle:
    """One injected fault; lifted exactly once, however it ends."""

    def __init__(
        self, fault_id: str, spec: FaultSpec, applied: Applied, started: float, owner: FaultManager
    ) -> None:
        self.id = fault_id
        self.spec = spec
        self.applied = applied
        self.started = started
        self.expires = started + spec.duration
        self.ended_by = ""
        """Why it was lifted: 'expired', 'lifted early', 'the cockpit quit'..."""
        self.lift_detail = ""
        self.lifted_at: float | None = None
        self._owner = owner
        self._lifted = asyncio.Event()
        self._lifting: asyncio.Task[str] | None = None
        self._timer: asyncio.Task[None] | None = None
        self._callbacks: list[Callable[[FaultHandle], Awaitable[None]]] = []

    @property
    def active(self) -> bool:
        return not self._lifted.is_set()

    def remaining(self, now: float | None = None) -> float:
        return max(0.0, self.expires - (time.time() if now is None else now))

    def on_lifted(self, callback: Callable[[FaultHandle], Awaitable[None]]) -> None:
        """Call ``callback`` once the fault is lifted (the audit entry is finished so)."""
        self._callbacks.append(callback)

    async def wait(self) -> None:
        """Until the fault is lifted (it expires on its own)."""
        await self._lifted.wait()

    async def lift(self, why: str = "lifted early") -> str:
        """End the fault now; a second call waits for the first and returns its detail."""
        if self._lifting is None:
            self._lifting = asyncio.ensure_future(self._lift(why))
        return await asyncio.shield(self._lifting)

    async def _lift(self, why: str) -> str:
        current = asyncio.current_task()
        if self._timer is not None and self._timer is not current:
            self._timer.cancel()
        try:
            detail = await self.applied.lift()
        except Exception as exc:  # say so; the keeper still has the undo
            detail = f"could not lift: {exc}"
        self.ended_by, self.lift_detail, self.lifted_at = why, detail, time.time()
        self._owner._forget(self)
        # Health says so at once rather than at the next probe interval.
        probe_now = getattr(self._owner.engine, "probe_now", None)
        if probe_now is not None:
            probe_now(self.spec.service)
        self._lifted.set()
        for callback in self._callbacks:
            with contextlib.suppress(Exception):
                await callback(self)
        self._owner.engine.bus.publish(FaultsChanged())
        return detail

    def describe(self) -> str:
        if self.active:
            return f"{self.spec.label()} ({self.remaining():.0f}s left)"
        return f"{self.spec.label()}: {self.ended_by}; {self.lift_detail}"


class FaultManager:
    """The faults one process injected, and the keeper that outlives it."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.active: dict[str, FaultHandle] = {}
        self._keeper: subprocess.Popen[bytes] | None = None

    async def inject(self, spec: FaultSpec, *, audit: dict[str, Any] | None = None) -> FaultHandle:
        """Apply ``spec`` and schedule its lifting; raises TargetError when it cannot apply."""
        # The keeper hears of the fault before it is applied: no moment where a SIGKILL
        # could leave it in force unknown to anyone. Its undo is harmless if applying fails.
        self._start_keeper()
        fault_id, started = f"f{_ids.__next__()}", time.time()
        planned = planned_undo(self.engine, spec)
        message = {"op": "add", "id": fault_id, "deadline": started + spec.duration}
        self._tell({**message, "undo": planned, "audit": audit})
        try:
            applied = await inject(self.engine, spec)
        except BaseException:
            self._tell({"op": "done", "id": fault_id})
            raise
        if applied.undo != planned:  # learnt while applying (a chaos endpoint's old values)
            self._tell({**message, "undo": applied.undo, "audit": audit})
        handle = FaultHandle(fault_id, spec, applied, started, self)
        self.active[handle.id] = handle
        handle._timer = asyncio.ensure_future(self._expire(handle))
        self.engine.bus.publish(Notice(f"fault: {spec.label()} ({applied.detail})", "warning"))
        # No FaultsChanged here: the environment process's action desk announces a new
        # fault once it has recorded whose it is; a lifting announces itself (below).
        return handle

    async def _expire(self, handle: FaultHandle) -> None:
        await asyncio.sleep(handle.spec.duration)
        await handle.lift("expired")

    def _forget(self, handle: FaultHandle) -> None:
        self.active.pop(handle.id, None)
        self._tell({"op": "done", "id": handle.id})
        self.engine.bus.publish(
            Notice(f"fault lifted: {handle.spec.label()} ({handle.ended_by})", "information")
        )

    async def lift_all(self, why: str) -> None:
        await asyncio.gather(
            *(h.lift(why) for h in list(self.active.values())), return_exceptions=True
        )

    async def close(self, why: str = "its owner quit") -> None:
        await self.lift_all(why)
        keeper, self._keeper = self._keeper, None
        if keeper is not None and keeper.stdin is not None:
            keeper.stdin.close()
            with contextlib.suppress(subprocess.TimeoutExpired):
                await asyncio.to_thread(keeper.wait, 5)

    # ------------------------------------------------------------------ the keeper

    def _start_keeper(self) -> None:
        if self._keeper is not None and self._keeper.poll() is None:
            return
        self._keeper = subprocess.Popen(
            [sys.executable, "-m", "stagedeck.faults.keeper"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def _tell(self, message: dict[str, Any]) -> None:
        keeper = self._keeper
        if keeper is None or keeper.stdin is None or keeper.poll() is not None:
            return
        with contextlib.suppress(OSError):
            keeper.stdin.write(json.dumps(message).encode() + b"\n")
            keeper.stdin.flush()

    @property
    def keeper_pid(self) -> int | None:
        return self._keeper.pid if self._keeper is not None else None
