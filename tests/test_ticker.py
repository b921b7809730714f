"""The cockpit's one clock: periods kept, failures contained, owners that leave dropped."""

from __future__ import annotations

import asyncio

from textual.app import App, ComposeResult
from textual.widgets import Static

from stagedeck.tui.ticker import ATTACHED_CHECK_EVERY, Ticker, every


class Harness(App[None]):
    def __init__(self) -> None:
        super().__init__()
        self.ticker = Ticker()

    def compose(self) -> ComposeResult:
        yield Static(id="a")
        yield Static(id="b")


async def test_one_clock_calls_each_at_its_period_and_survives_a_failure() -> None:
    app = Harness()
    calls = {"fast": 0, "slow": 0, "broken": 0}

    def broken() -> None:
        calls["broken"] += 1
        raise RuntimeError("a poll with a bug")

    async with app.run_test() as pilot:
        a = app.query_one("#a")
        every(a, 0.05, lambda: calls.__setitem__("fast", calls["fast"] + 1))
        every(a, 0.25, lambda: calls.__setitem__("slow", calls["slow"] + 1))
        every(a, 0.05, broken)
        await asyncio.sleep(1.05)
        await pilot.pause()
    # 21 periods in 1.05 s; the first call lands on the next grid point (maybe at once)
    # and the final pause adds a moment: up to 23. A burst after a stall would be more.
    assert 12 <= calls["fast"] <= 24
    assert 3 <= calls["slow"] <= 5
    assert calls["broken"] >= 12  # raising did not unregister it, nor stop the others
    # One wake serves every registration that is due: far fewer than one per callback.
    assert app.ticker.wakeups <= calls["fast"] + 3


async def test_an_owner_that_leaves_the_dom_is_no_longer_called() -> None:
    app = Harness()
    calls = []
    async with app.run_test() as pilot:
        b = app.query_one("#b")
        every(b, 0.02, lambda: calls.append(1))
        await asyncio.sleep(0.2)
        await b.remove()
        # Owners are checked every ATTACHED_CHECK_EVERY wakes (a DOM walk): wait that out.
        await asyncio.sleep(0.02 * ATTACHED_CHECK_EVERY * 2)
        seen = len(calls)
        await asyncio.sleep(0.6)
        await pilot.pause()
    assert seen > 0
    assert len(calls) == seen


async def test_without_a_ticker_a_widget_gets_a_textual_timer() -> None:
    class Plain(App[None]):
        def compose(self) -> ComposeResult:
            yield Static(id="a")

    app = Plain()
    calls = []
    async with app.run_test() as pilot:
        every(app.query_one("#a"), 0.05, lambda: calls.append(1))
        await asyncio.sleep(0.4)
        await pilot.pause()
    assert len(calls) >= 4
