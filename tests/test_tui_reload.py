"""Living recipes in the running cockpit: changes apply, broken saves raise a banner."""

from __future__ import annotations

from pathlib import Path

from stagedeck.engine.engine import Engine
from stagedeck.recipe.model import load_recipe
from stagedeck.tui.app import StagedeckApp
from stagedeck.tui.widgets.services import ServicesTable
from support.procs import new_marker, wait_until_gone
from support.wait import wait_until


def service(name: str, marker: str, deps: str = "[]") -> str:
    return (
        f'[services.{name}]\ncommand = ["sleep", "60"]\ndepends_on = {deps}\n'
        f'env = {{ STAGEDECK_TEST_MARKER = "{marker}" }}\n'
    )


async def test_recipe_changes_apply_live_and_broken_saves_show_a_banner(tmp_path: Path) -> None:
    marker = new_marker()
    path = tmp_path / "recipe.toml"
    head = '[environment]\nname = "living"\n\n'
    path.write_text(head + service("db", marker) + service("api", marker, '["db"]'))
    engine = Engine(load_recipe(path))
    app = StagedeckApp(engine, watch_themes=False)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            table = app.screen.query_one(ServicesTable)
            await wait_until(lambda: all(s.ok for s in engine.statuses.values()), pilot=pilot)
            await wait_until(
                lambda: app.recipe_watcher is not None and app.recipe_watcher.ready.is_set(),
                what="the recipe watcher in place",
                pilot=pilot,
            )

            # A new service appears, is started, and shows in the table.
            path.write_text(path.read_text() + service("cache", marker))
            await wait_until(
                lambda: "cache" in engine.statuses and engine.statuses["cache"].ok, pilot=pilot
            )
            await wait_until(lambda: "cache" in table.rows, pilot=pilot)
            said = [n.message for n in app._notifications]
            assert "recipe reloaded: added cache" in said, said
            assert not any("reloaded: recipe reloaded" in m for m in said), said
            pid_db = engine.statuses["db"].pid

            # A broken save: banner with file, line and hint; the last good recipe stays.
            good = path.read_text()
            path.write_text(good.replace('depends_on = ["db"]', 'depend_on = ["db"]'))
            banner = app.screen.query_one("Banner")
            await wait_until(
                lambda: banner.display and "depend_on" in str(banner.render()), pilot=pilot
            )
            text = str(banner.render())
            line = good.splitlines().index('depends_on = ["db"]') + 1
            assert f"{path}:{line}: services.api.depend_on: unknown key" in text
            assert "did you mean 'depends_on'?" in text
            assert set(engine.statuses) == {"db", "api", "cache"}

            # Fixed, with one service removed: the banner goes, cache goes, db was never restarted.
            path.write_text(head + service("db", marker) + service("api", marker, '["db"]'))
            await wait_until(lambda: not banner.display, pilot=pilot)
            await wait_until(
                lambda: "cache" not in engine.statuses and "cache" not in table.rows, pilot=pilot
            )
            assert engine.statuses["db"].pid == pid_db
    finally:
        await engine.stop()
    assert wait_until_gone(marker) == []
