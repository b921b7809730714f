"""The gate in the cockpit: the status bar's gate state, the gate view, its jumps (Pilot, snapshots).

The verdict is computed by the core from a real store (as ``stagedeck gate``
would) and reaches the cockpit the way every shared record does: the shared
snapshot. The engine is never started; the clock is frozen for snapshots.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from stagedeck.gate.gather import judge
from stagedeck.recipe.model import load_recipe
from stagedeck.store import Store, TestResult
from stagedeck.store.shared import SharedState
from stagedeck.tui.app import StagedeckApp
from stagedeck.tui.widgets.statusbar import StatusBar
from support.apps import DEMO_LIKE, offline_engine

NOW = 1_763_780_000.0

GATE = """
[gate]
waive = ["known"]
"""

MESSAGE = (
    'AssertionError: POST /api/orders -> 502 {"error": "payment failed: payments unavailable: '
    'timed out after 3s", "rid": "r-7f3a9c"}'
)


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(time, "time", lambda: NOW)


def no_go_store(tmp_path: Path, recipe_path: Path) -> Store:
    """Run 1: payments over its SLO, one checkout failure blamed on payments, one waived."""
    store = Store.open(tmp_path / "shared.db", clock=lambda: NOW)
    run = store.start_run("shop", "alice")
    sid = store.start_suite_run(run, "flows")
    ids = store.add_test_results(
        sid,
        [
            TestResult("test_flows::test_checkout_pays", "failed", message=MESSAGE),
            TestResult("test_flows::test_refund", "failed", message="expected 201, got 409"),
            *(TestResult(f"test_flows::test_ok_{i}", "passed") for i in range(6)),
        ],
    )
    store.update_suite_run(sid, state="failed", passed=6, failed=2, total=8)
    store.add_failure_suspects(
        ids[0],
        [
            {
                "kind": "service",
                "name": "payments",
                "score": 0.93,
                "fault": "slow",
                "verdict": "slow: p95 412 ms over its 120 ms SLO; orders, gateway impacted",
                "evidence": [],
            }
        ],
    )
    refund = store.test_results(sid)[1]
    assert refund.signature
    store.add_annotation(
        refund.signature, refund.test_id, "shop", "bob", "known", "sandbox refunds race, PAY-7"
    )
    stats = {"count": 40, "errors": 0, "p50": 12.0, "p95": 30.0, "max": 40.0}
    store.set_run_window(
        run,
        {
            "started": NOW - 120,
            "ended": NOW,
            "services": {
                "ledger": stats,
                "payments": {**stats, "p95": 412.0, "p50": 380.0, "max": 530.0},
            },
            "restarts": [],
        },
    )
    store.finish_run(run, "failed")
    judge(store, load_recipe(recipe_path), run, user="ci")
    return store


def recipe_file(tmp_path: Path) -> Path:
    offline_engine(tmp_path, DEMO_LIKE + GATE)  # writes recipe.toml
    return tmp_path / "recipe.toml"


def make(tmp_path: Path) -> tuple[StagedeckApp, SharedState]:
    path = recipe_file(tmp_path)
    store = no_go_store(tmp_path, path)
    engine = offline_engine(tmp_path, DEMO_LIKE + GATE)
    engine.connection(True, "local processes")
    shared = SharedState(store, "shop", "alice", clock=lambda: NOW)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False, shared=shared, user="alice")
    return app, shared


def test_demo_like_recipe_has_the_services_the_fixture_assumes(tmp_path: Path) -> None:
    recipe = load_recipe(recipe_file(tmp_path))
    assert {"payments", "flows"} <= set(recipe.services) | set(recipe.suites)
    assert recipe.services["payments"].slo_ms is not None


async def test_status_bar_and_gate_view_show_the_verdict_and_jump(tmp_path: Path) -> None:
    app, shared = make(tmp_path)
    async with app.run_test(size=(100, 30)) as pilot:
        await shared.refresh(force=True)
        await pilot.pause()
        bar = app.screen.query_one(StatusBar)
        assert "gate NO-GO 3✗" in bar._drawn
        await pilot.press("8")
        await pilot.pause()
        screen = app.screen
        assert type(screen).__name__ == "GateScreen"
        keys = [c.key for c in screen.verdict.criteria]
        assert keys[:3] == ["suites", "new-failures", "slo"]
        detail = screen.detail_text().plain
        assert "FAILED flows test_flows::test_checkout_pays" in detail
        assert "suspect 1. payments" in detail
        assert "test_flows::test_refund [" in detail and "waived: known by bob" in detail
        # enter on the failed suites criterion: the failing test in the suites view
        await pilot.press("enter")
        await pilot.pause()
        assert app.current_mode == "suites"
        assert (
            app.screen.selected_failure.failure.result.test_id == "test_flows::test_checkout_pays"
        )
        # the SLO criterion: the latency chart of payments
        await pilot.press("8", "down", "down", "enter")
        await pilot.pause()
        assert app.current_mode == "charts"
        assert app.screen.selected_service == "payments"


async def test_gate_is_pending_while_a_run_is_open_and_go_after(tmp_path: Path) -> None:
    path = recipe_file(tmp_path)
    store = Store.open(tmp_path / "shared.db", clock=lambda: NOW)
    engine = offline_engine(tmp_path, DEMO_LIKE + GATE)
    shared = SharedState(store, "shop", "alice", clock=lambda: NOW)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False, shared=shared)
    async with app.run_test(size=(100, 30)) as pilot:
        await shared.refresh(force=True)
        await pilot.pause()
        bar = app.screen.query_one(StatusBar)
        assert "gate" not in bar._drawn  # no run yet: nothing to say
        run = store.start_run("shop", "alice")
        await shared.refresh(force=True)
        await pilot.pause()
        assert f"gate pending (run {run})" in bar._drawn
        for suite in ("api", "flows"):
            sid = store.start_suite_run(run, suite)
            store.update_suite_run(sid, state="passed", passed=3, total=3)
        stats = {"count": 10, "errors": 0, "p95": 20.0}
        store.set_run_window(run, {"services": {"payments": stats}, "restarts": []})
        store.finish_run(run, "passed")
        judge(store, load_recipe(path), run)
        await shared.refresh(force=True)
        await pilot.pause()
        assert "gate GO" in bar._drawn


def test_gate_view_no_go_100x30(snap_compare: Any, tmp_path: Path) -> None:
    app, shared = make(tmp_path)

    async def open_gate(pilot: Any) -> None:
        await shared.refresh(force=True)
        await pilot.press("8")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(100, 30), run_before=open_gate)


def test_gate_view_slo_selected_80x24(snap_compare: Any, tmp_path: Path) -> None:
    app, shared = make(tmp_path)

    async def open_gate(pilot: Any) -> None:
        await shared.refresh(force=True)
        await pilot.press("8", "down", "down")
        await pilot.pause(0.3)

    assert snap_compare(app, terminal_size=(80, 24), run_before=open_gate)


async def test_e_in_the_gate_view_judges_the_latest_run(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "shared.db", clock=lambda: NOW)
    engine = offline_engine(tmp_path, DEMO_LIKE + GATE)
    run = store.start_run("shop", "alice")
    for suite in ("api", "flows"):
        sid = store.start_suite_run(run, suite)
        store.update_suite_run(sid, state="passed", passed=2, total=2)
    store.set_run_window(run, {"services": {}, "restarts": []})
    store.finish_run(run, "passed")
    shared = SharedState(store, "shop", "alice", clock=lambda: NOW)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False, shared=shared, user="bob")
    async with app.run_test(size=(100, 30)) as pilot:
        await shared.refresh(force=True)
        await pilot.press("8")
        await pilot.pause()
        assert "No verdict on the latest run yet" in app.screen.detail_text().plain
        await pilot.press("e")
        await app.workers.wait_for_complete()
        await pilot.pause()
        assert app.screen.verdict is not None and app.screen.verdict.go
        stored = store.gate_verdict(run)
        assert stored is not None and stored["evaluated_by"] == "bob"
        assert "gate GO" in app.screen.query_one(StatusBar)._drawn


async def test_a_restart_suspect_jump_opens_the_explain_view_on_the_verdict_s_suspects(
    tmp_path: Path,
) -> None:
    path = recipe_file(tmp_path)
    store = Store.open(tmp_path / "shared.db", clock=lambda: NOW)
    run = store.start_run("shop", "alice")
    for suite in ("api", "flows"):
        sid = store.start_suite_run(run, suite)
        store.update_suite_run(sid, state="passed", passed=2, total=2)
    crash = {
        "service": "orders",
        "at": NOW - 30,
        "state": "crashed",
        "reason": "exited with code 137: Killed (OOM) rid=r-42",
    }
    store.set_run_window(run, {"services": {}, "restarts": [crash]})
    store.finish_run(run, "passed")
    judge(store, load_recipe(path), run)
    engine = offline_engine(tmp_path, DEMO_LIKE + GATE)
    shared = SharedState(store, "shop", "alice", clock=lambda: NOW)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False, shared=shared)
    async with app.run_test(size=(100, 30)) as pilot:
        await shared.refresh(force=True)
        await pilot.press("8")
        await pilot.pause()
        keys = [c.key for c in app.screen.verdict.criteria]
        row = keys.index("restarts")
        await pilot.press(*["down"] * row)
        await pilot.pause()
        assert "orders — restarted: 1 time(s)" in app.screen.detail_text().plain
        await pilot.press("enter")
        await pilot.pause()
        screen = app.screen
        assert type(screen).__name__ == "ExplainScreen"
        assert screen.ranking.top is not None and screen.ranking.top.name == "orders"
        assert "Killed (OOM)" in screen.ranking.top.evidence[0].text
