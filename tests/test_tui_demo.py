"""Pilot: the cockpit on the real demo (real processes) shows every service healthy."""

from __future__ import annotations

from pathlib import Path

from stagedeck.demo import recipe_path
from stagedeck.engine.engine import Engine
from stagedeck.recipe.model import load_recipe
from stagedeck.tui.app import StagedeckApp
from support.procs import new_marker, wait_until_gone
from support.wait import wait_until


async def test_every_demo_service_shows_healthy(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    marker = new_marker()
    monkeypatch.setenv("STAGEDECK_TEST_MARKER", marker)
    engine = Engine(load_recipe(recipe_path(), auto_ports=True))
    app = StagedeckApp(engine, watch_themes=False, watch_recipe=False)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            table = app.screen.query_one("ServicesTable")

            def rows() -> list[list[str]]:
                return [[str(c) for c in table.get_row(key)] for key in table.rows]

            await wait_until(
                lambda: len(rows()) == 6 and all("● healthy" in row[2] for row in rows()),
                timeout=30,
                what=lambda: f"not all healthy: {rows()}",
                pilot=pilot,
            )
            assert {row[0] for row in rows()} == {
                "ledger",
                "inventory",
                "payments",
                "orders",
                "gateway",
                "worker",
            }
            assert all(row[1] == "running" for row in rows())
    finally:
        await engine.stop()
    assert wait_until_gone(marker) == []
