"""`:` opens the command palette (k9s users press it first); its commands are the keys' actions.

And `:` typed into a text box stays a colon (the log filter is written `service:api`).
"""

from __future__ import annotations

from pathlib import Path

from textual.command import CommandPalette
from textual.widgets import Input

from stagedeck.tui.app import StagedeckApp
from stagedeck.tui.screens.confirm import ConfirmScreen
from stagedeck.tui.screens.logs import LogsScreen
from support.apps import offline_engine
from support.wait import wait_until


async def test_colon_opens_the_palette_and_runs_what_the_key_runs(tmp_path: Path) -> None:
    app = StagedeckApp(offline_engine(tmp_path), start_engine=False, watch_themes=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.pause()
        # By key: "r" (redeploy the selected service) says what it will touch and asks first.
        await pilot.press("r")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot)
        by_key = app.screen
        assert isinstance(by_key, ConfirmScreen)
        asked = (by_key.title_text, by_key.body)
        await pilot.press("n")
        await wait_until(lambda: not isinstance(app.screen, ConfirmScreen), pilot=pilot)

        # By name, from ':': the same question, from the same action.
        await pilot.press("colon")
        await wait_until(lambda: isinstance(app.screen, CommandPalette), pilot=pilot)
        await pilot.press(*"redeploy the selected")
        await pilot.pause(0.5)
        await pilot.press("enter")
        await wait_until(lambda: isinstance(app.screen, ConfirmScreen), pilot=pilot)
        by_name = app.screen
        assert isinstance(by_name, ConfirmScreen)
        assert (by_name.title_text, by_name.body) == asked
        await pilot.press("n")


async def test_a_colon_typed_in_a_text_box_is_a_colon(tmp_path: Path) -> None:
    app = StagedeckApp(offline_engine(tmp_path), start_engine=False, watch_themes=False)
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        assert isinstance(app.screen, LogsScreen)
        await pilot.press("f")  # the filter box
        await pilot.pause()
        box = app.screen.query_one("#log-query", Input)
        assert box.has_focus
        box.value = ""
        await pilot.press(*"service:api")
        await pilot.pause()
        assert box.value == "service:api"
        assert not isinstance(app.screen, CommandPalette)
