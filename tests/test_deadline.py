"""Bounded waits keep their cancellations, and an engine always finishes stopping.

CI hung for five minutes in ``Engine.stop()``: on Python 3.11 ``asyncio.wait_for``
returns the result when the awaited thing finishes in the same loop turn as the
cancellation, so a probe loop told to stop went on probing and stop() waited forever
(an environment process in that state ignored SIGTERM).
"""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
from pathlib import Path

import pytest

from stagedeck.deadline import within
from stagedeck.engine import engine as engine_module
from stagedeck.engine.engine import Engine
from stagedeck.engine.events import ProcState
from stagedeck.recipe.model import load_recipe
from support.wait import wait_until


async def test_a_cancellation_landing_as_the_result_does_is_kept() -> None:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[int] = loop.create_future()
    waiter = asyncio.create_task(within(done, 10))
    await asyncio.sleep(0)  # the waiter is now parked on the future
    done.set_result(1)
    waiter.cancel()  # the same loop turn: wait_for on 3.11 returned 1 here
    with pytest.raises(asyncio.CancelledError):
        await waiter


async def test_the_deadline_raises_timeout_and_cancels_the_work() -> None:
    cancelled = asyncio.Event()

    async def slow() -> None:
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    with pytest.raises(TimeoutError):
        await within(slow(), 0.05)
    assert cancelled.is_set()
    assert await within(asyncio.sleep(0, "value"), None) == "value"


async def test_a_timeout_inside_a_task_being_cancelled_does_not_eat_the_cancellation() -> None:
    """The suite runner bounds its clean-up in a ``finally`` while it is being cancelled."""
    reached = asyncio.Event()

    async def runner() -> None:
        try:
            reached.set()
            await asyncio.sleep(30)
        finally:
            with pytest.raises(TimeoutError):
                await within(asyncio.sleep(30), 0.05)

    task = asyncio.create_task(runner())
    await reached.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


async def test_stop_finishes_when_a_task_swallows_its_cancellation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A library can lose our cancellation; stop() goes on without that task, and says so."""
    monkeypatch.setattr(engine_module, "STOP_TASKS_S", 0.3)
    path = tmp_path / "r.toml"
    path.write_text(f'[environment]\nname = "s"\n[services.a]\ncommand = ["{sys.executable}"]\n')
    engine = Engine(load_recipe(path))
    await engine.start(bring_up=False)

    async def stubborn() -> None:
        for _ in range(2):  # deaf to the first cancellation, as a swallowed one looks
            try:
                await asyncio.sleep(30)
            except asyncio.CancelledError:
                continue

    task = engine.spawn(stubborn())
    await asyncio.sleep(0)
    started = time.monotonic()
    await engine.stop()
    assert time.monotonic() - started < 3
    task.cancel()  # the second cancellation (stop's bound sent one) ends it
    await asyncio.gather(task, return_exceptions=True)


async def test_stop_while_the_only_service_waits_on_a_failing_command_check(
    tmp_path: Path,
) -> None:
    """The shape of the environment process that would not exit: one service, still
    starting, its command check failing every 0.1 s. Stopped again and again, it stops."""
    path = tmp_path / "r.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [environment]
            name = "stuck"

            [services.only]
            command = ["{sys.executable}", "-c", "import time; time.sleep(60)"]
            health = {{ command = ["{sys.executable}", "-c", "raise SystemExit(3)"], interval = 0.1 }}
            """
        )
    )
    for _ in range(3):
        engine = Engine(load_recipe(path))
        await engine.start(bring_up=True)
        await wait_until(
            lambda e=engine: "exited 3" in e.statuses["only"].reason,  # type: ignore[misc]
            what="the failing check reported",
        )
        assert engine.statuses["only"].state is ProcState.STARTING
        started = time.monotonic()
        await within(engine.stop(), 15)
        assert time.monotonic() - started < 10
