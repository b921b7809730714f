"""The demo's suites from the engine into the store, with failure context.

With payments' chaos knob turned, the flows suite fails, and each failure's
stored context holds payments' error lines and its health changes from that moment.
"""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import pytest

from stagedeck.demo import recipe_path
from stagedeck.engine.actions import bring_up
from stagedeck.engine.engine import Engine
from stagedeck.engine.seeding import reseed
from stagedeck.recipe.model import load_recipe
from stagedeck.store import Store
from stagedeck.store.signature import failure_signature
from stagedeck.suites.recording import run_and_record
from stagedeck.suites.report import build_report, render
from stagedeck.suites.runner import SuiteRunner, SuiteState

pytestmark = pytest.mark.slow


@pytest.fixture
async def demo(tmp_path: Path):  # type: ignore[no-untyped-def]
    engine = Engine(load_recipe(recipe_path(), auto_ports=True))
    await engine.start(bring_up=False)
    try:
        outcome = await bring_up(engine)
        assert outcome.ok, outcome.describe()
        seeded = await reseed(engine)
        assert seeded.ok, seeded.describe()
        yield engine
    finally:
        await engine.stop()


async def test_passing_run_is_recorded(demo: Engine, tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.sqlite")
    runner = SuiteRunner(demo.recipe, workdir=tmp_path / "work")
    record = await run_and_record(demo, runner, ["api"], store, "alice")
    assert record.ok, [p.describe() for p in record.suites]
    (suite_run,) = store.suite_runs(record.run_id or 0)
    assert suite_run.state == "passed" and suite_run.total == suite_run.passed > 10
    assert store.failures("demo", record.run_id) == []


async def test_chaos_failure_context_holds_payments_errors(demo: Engine, tmp_path: Path) -> None:
    payments = demo.service("payments").url
    async with httpx.AsyncClient() as client:
        response = await client.post(
            f"{payments}/admin/chaos", json={"error_rate": 1.0, "unhealthy": True}
        )
        assert response.status_code == 200
    # Let the probes see it: payments goes down, and its dependents are impacted.
    for _ in range(100):
        if "payments" in demo.down():
            break
        await asyncio.sleep(0.05)
    store = Store.open(tmp_path / "db.sqlite")
    runner = SuiteRunner(demo.recipe, workdir=tmp_path / "work")
    record = await run_and_record(demo, runner, ["flows"], store, "alice")
    (progress,) = record.suites
    assert progress.state is SuiteState.FAILED
    failures = store.failures("demo", record.run_id)
    assert failures
    found_error_line = found_health = False
    for failure in failures:
        result = failure.result
        # Recomputable from the stored row (what the signature migration relies on).
        assert result.signature == failure_signature(
            result.test_id, result.message, result.traceback
        )
        assert result.id is not None
        context = store.failure_context(result.id)
        for item in context:
            if item.service == "payments" and item.kind == "log" and "ERROR" in str(item.content):
                found_error_line = True
            if item.service == "payments" and item.kind == "health":
                assert isinstance(item.content, dict)
                if item.content.get("health") in ("down", "degraded"):
                    found_health = True
    assert found_error_line, "no payments ERROR line in any failure's context"
    assert found_health, "payments' health change is not in the failure context"

    # The report carries the failures with their context.
    text = render(build_report(store, record.run_id or 0), "md")
    assert "## Failures" in text and "payments" in text
    junit = render(build_report(store, record.run_id or 0), "junit")
    assert "<failure" in junit
