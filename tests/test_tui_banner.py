"""Every view shows the banner: a broken database or recipe is seen wherever the user is."""

from __future__ import annotations

from pathlib import Path

from stagedeck.tui.app import StagedeckApp
from stagedeck.tui.widgets.banner import Banner
from support.apps import offline_engine
from support.wait import wait_until


async def test_every_view_shows_the_banner(tmp_path: Path) -> None:
    engine = offline_engine(tmp_path)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False)
    message = "⚠ shared database /srv/x.db: database is locked (retrying)"
    async with app.run_test(size=(100, 30)) as pilot:
        app.banners["test"] = message
        for view in app.VIEWS:
            await app.switch_mode(view)
            await wait_until(lambda: bool(app.screen.query(Banner)), what=view, pilot=pilot)
            banner = app.screen.query_one(Banner)

            def shown(banner: Banner = banner) -> bool:
                return bool(banner.display) and message in str(banner.render())

            await wait_until(shown, what=view, pilot=pilot)
            # The banner is docked at the top of the view, not inside a panel.
            assert banner.region.y == 0, view
