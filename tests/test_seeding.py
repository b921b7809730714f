"""Reseed on real processes: order, health gate, verify, skip after a failure."""

from __future__ import annotations

import textwrap
from pathlib import Path

from stagedeck.engine.actions import bring_up
from stagedeck.engine.engine import Engine
from stagedeck.engine.seeding import reseed, seed_order
from stagedeck.recipe.model import load_recipe

SERVICE = Path(__file__).parent / "support" / "services.py"


def recipe(tmp_path: Path, verify_ok: bool) -> Path:
    log = tmp_path / "order.log"
    write = "import sys; open(sys.argv[1], 'a').write(sys.argv[2] + chr(10))"
    check = "import sys; sys.exit(0 if open(sys.argv[1]).read().split() == ['base', 'users', 'orders'] else 1)"
    text = textwrap.dedent(f"""
        [environment]
        name = "seeded"
        probe_interval = 0.2

        [services.db]
        command = ["{{python}}", "{SERVICE}", "{{self.port}}"]
        port = "auto"
        health = "/"

        [services.api]
        command = ["{{python}}", "{SERVICE}", "{{self.port}}"]
        port = "auto"
        health = "/"
        depends_on = ["db"]

        [seeds.orders]
        service = "api"
        command = ["{{python}}", "-c", "{write}", "{log}", "orders"]
        depends_on = ["users"]
        verify = {{ command = ["{{python}}", "-c", "{check if verify_ok else "import sys; sys.exit(3)"}", "{log}"] }}

        [seeds.users]
        service = "api"
        command = ["{{python}}", "-c", "{write}", "{log}", "users"]
        depends_on = ["base"]

        [seeds.base]
        service = "db"
        command = ["{{python}}", "-c", "{write}", "{log}", "base"]

        [seeds.audit]
        service = "db"
        command = ["{{python}}", "-c", "print('audit')"]
        depends_on = ["orders"]
        """)
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return path


def test_seed_order_pulls_in_dependencies(tmp_path: Path) -> None:
    r = load_recipe(recipe(tmp_path, True))
    assert seed_order(dict(r.seeds)) == [["base"], ["users"], ["orders"], ["audit"]]
    assert seed_order(dict(r.seeds), ["users"]) == [["base"], ["users"]]


async def test_reseed_runs_in_order_and_verifies(tmp_path: Path) -> None:
    engine = Engine(load_recipe(recipe(tmp_path, True)))
    await engine.start(bring_up=False)
    try:
        assert (await bring_up(engine)).ok
        first = await reseed(engine)
        assert first.ok, first.describe()
        assert [s.seed for s in first.steps] == ["base", "users", "orders", "audit"]
        assert next(s for s in first.steps if s.seed == "orders").verified is True
        # Seed output lands in its service's log, marked as such.
        assert any("[seed audit] audit" in ln.text for ln in engine.logs.last("db", 20))
    finally:
        await engine.stop()


async def test_failed_verify_fails_the_seed_and_skips_the_rest(tmp_path: Path) -> None:
    engine = Engine(load_recipe(recipe(tmp_path, False)))
    await engine.start(bring_up=False)
    try:
        assert (await bring_up(engine)).ok
        outcome = await reseed(engine)
        assert not outcome.ok
        failed = next(s for s in outcome.steps if not s.ok)
        assert failed.seed == "orders" and failed.verified is False
        assert "verify failed" in failed.detail and "exited 3" in failed.detail
        assert outcome.skipped == ["audit"]
    finally:
        await engine.stop()


async def test_seed_waits_for_its_service_and_gives_up_when_down(tmp_path: Path) -> None:
    engine = Engine(load_recipe(recipe(tmp_path, True)))
    await engine.start(bring_up=False)  # nothing started: db never becomes healthy
    try:
        outcome = await reseed(engine, ["base"], health_timeout=1.0)
        assert not outcome.ok
        assert "db is not healthy" in outcome.steps[0].detail
    finally:
        await engine.stop()
