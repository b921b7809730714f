"""SVG snapshots of the cockpit (top-level snapshots/ folder).

Deterministic: the wall clock is frozen, the timezone is UTC, the engine is
never started (state is fed in), and no file watcher runs.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from stagedeck.engine.engine import Engine
from stagedeck.engine.events import ProcState
from stagedeck.engine.probes import ProbeResult
from stagedeck.store import ContextItem, Store, TestResult
from stagedeck.store.shared import SharedState
from stagedeck.tui.app import StagedeckApp
from stagedeck.tui.screens.suites import SuitesScreen
from support.apps import feed_logs, offline_engine
from support.wait import wait_until

NOW = 1_763_780_000.0  # a fixed moment


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(time, "time", lambda: NOW)


def populate(engine: Engine, *, broken: bool = False) -> None:
    engine.connection(True, "local processes")
    for i, name in enumerate(engine.recipe.services):
        engine.process_state(name, ProcState.STARTING, pid=1000 + i)
        engine.process_state(name, ProcState.RUNNING)
        engine.record_probe(name, ProbeResult(True, 5.0, "HTTP 200"))
        for k in range(30):
            engine.latency[name].add(5.0 + i * 3 + (k % 7), True, at=NOW - 300 + k * 10)
    if broken:
        engine.process_state(
            "payments", ProcState.CRASHED, exit_code=3, reason="exited with code 3"
        )
    feed_logs(engine, start=NOW - 60)


def make(
    tmp_path: Path, *, theme: str = "stagedeck-dark", broken: bool = False, **kwargs: Any
) -> StagedeckApp:
    engine = offline_engine(tmp_path)
    populate(engine, broken=broken)
    return StagedeckApp(engine, start_engine=False, watch_themes=False, theme=theme, **kwargs)


def test_main_80x24_dark(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make(tmp_path), terminal_size=(80, 24))


def test_main_80x24_light(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make(tmp_path, theme="stagedeck-light"), terminal_size=(80, 24))


def test_main_160x48_dark_root_failure(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make(tmp_path, broken=True), terminal_size=(160, 48))


def test_main_160x48_sixteen_colours(snap_compare: Any, tmp_path: Path) -> None:
    assert snap_compare(make(tmp_path, theme="stagedeck-16", broken=True), terminal_size=(160, 48))


def test_log_explorer_filter_and_search(snap_compare: Any, tmp_path: Path) -> None:
    async def search(pilot: Any) -> None:
        await pilot.press("2", "f", *"level:info service:orders,inventory,payments", "enter")
        await pilot.press("slash", *"SKU-1", "enter")

    assert snap_compare(make(tmp_path), terminal_size=(100, 24), run_before=search)


def test_failures_list_with_annotations(snap_compare: Any, tmp_path: Path) -> None:
    store = Store.open(tmp_path / "shared.db", clock=lambda: NOW)
    run = store.start_run("shop", "alice")
    suite = store.start_suite_run(run, "flows")
    store.update_suite_run(suite, state="failed", passed=7, failed=2, total=9)
    ids = store.add_test_results(
        suite,
        [
            TestResult(
                "test_flows::test_checkout_pays",
                "failed",
                "test_checkout_pays",
                1.2,
                "payments returned 502 for order o-00042",
            ),
            TestResult(
                "test_flows::test_worker_ships",
                "failed",
                "test_worker_ships",
                10.0,
                "order o-00043 not fulfilled within 10 s",
            ),
            TestResult("test_flows::test_browse", "passed", "test_browse", 0.1),
        ],
    )
    store.add_failure_context(
        ids[0], [ContextItem("payments", "log", NOW, "ERROR payments card declined")]
    )
    first = store.test_results(suite)[0]
    assert first.signature
    store.add_annotation(
        first.signature,
        first.test_id,
        "shop",
        "bob",
        "environment",
        "payments sandbox times out under load",
        "https://tracker/PAY-12",
    )
    shared = SharedState(store, "shop", "alice", clock=lambda: NOW)

    async def open_suites(pilot: Any) -> None:
        await shared.refresh(force=True)
        await pilot.press("5")
        await wait_until(
            lambda: (
                isinstance(pilot.app.screen, SuitesScreen)
                and pilot.app.screen.query_one("#failures").row_count > 0
            ),
            pilot=pilot,
        )

    app = make(tmp_path, shared=shared, user="alice")
    assert snap_compare(app, terminal_size=(120, 32), run_before=open_suites)
