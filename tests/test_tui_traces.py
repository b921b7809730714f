"""The traces view and the waterfall: Pilot behaviour and 80x24 snapshots.

The engine is never started; traces are fed through the same decoder the
receiver uses, with realistic names, ids, JSON bodies and hostile text.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from textual.widgets import DataTable, Static

from stagedeck.engine.engine import Engine
from stagedeck.engine.logquery import LogFilter
from stagedeck.store import Store, TestResult
from stagedeck.store.shared import SharedState
from stagedeck.tui.app import StagedeckApp
from stagedeck.tui.screens.logs import LogsScreen
from stagedeck.tui.screens.suites import SuitesScreen
from stagedeck.tui.screens.traces import TracesScreen, WaterfallScreen
from support.apps import DEMO_LIKE, feed_logs, offline_engine
from support.traces import checkout
from support.wait import wait_until

NOW = 1_763_780_000.0
TEST_ID = "test_flows.py::test_checkout_pays"


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    monkeypatch.setattr(time, "time", lambda: NOW)


def traced_engine(tmp_path: Path) -> tuple[Engine, dict[str, str]]:
    engine = offline_engine(tmp_path, DEMO_LIKE + "\n[traces]\nport = 47299\n")
    store = engine.traces
    assert store is not None
    ids = {
        "ok": checkout(store, base=NOW - 50, rid="req-0002"),
        "slow": checkout(store, base=NOW - 40, payments_ms=420, rid="req-0003"),
        "failed": checkout(store, base=NOW - 30, fail=True, rid="req-0001", test=TEST_ID),
    }
    for n in range(4):
        checkout(store, base=NOW - 120 + n, rid=f"req-01{n}")
    feed_logs(engine, start=NOW - 31)
    engine.logs.append("payments", "INFO  payments rid=req-0003 warming card cache", ts=NOW - 41)
    engine.logs.append("payments", "WARN  payments rid=req-0003 bank slow: 412ms", ts=NOW - 39.5)
    engine.logs.append("payments", "INFO  payments rid=req-0003 settled", ts=NOW - 20)
    return engine, ids


def listed(app: Any, rows: int) -> bool:
    """The traces view is up and lists ``rows`` traces."""
    screen = app.screen
    return isinstance(screen, TracesScreen) and screen.query_one("#traces").row_count == rows


def waterfall_drawn(app: Any) -> bool:
    screen = app.screen
    return isinstance(screen, WaterfallScreen) and screen.query_one("#waterfall").row_count > 0


def make(tmp_path: Path, theme: str = "stagedeck-dark", **kwargs: Any) -> StagedeckApp:
    engine, _ = traced_engine(tmp_path)
    return StagedeckApp(engine, start_engine=False, watch_themes=False, theme=theme, **kwargs)


def test_traces_view_80x24(snap_compare: Any, tmp_path: Path) -> None:
    async def open_traces(pilot: Any) -> None:
        await pilot.press("7")
        await wait_until(lambda: listed(pilot.app, 7), pilot=pilot)

    assert snap_compare(make(tmp_path), terminal_size=(80, 24), run_before=open_traces)


def test_waterfall_of_a_failed_checkout_80x24_sixteen_colours(
    snap_compare: Any, tmp_path: Path
) -> None:
    async def open_failed(pilot: Any) -> None:
        await pilot.press("7", "e")  # errors only: the failed checkout is the one row
        await wait_until(lambda: listed(pilot.app, 1), pilot=pilot)
        await pilot.press("enter")
        await wait_until(lambda: waterfall_drawn(pilot.app), pilot=pilot)

    app = make(tmp_path, theme="stagedeck-16")
    assert snap_compare(app, terminal_size=(80, 24), run_before=open_failed)


def test_waterfall_of_a_slow_checkout_80x24(snap_compare: Any, tmp_path: Path) -> None:
    async def open_slow(pilot: Any) -> None:
        await pilot.press("7", "f", *"min:300ms", "enter")
        await wait_until(lambda: listed(pilot.app, 1), pilot=pilot)
        await pilot.press("enter")
        await wait_until(lambda: waterfall_drawn(pilot.app), pilot=pilot)

    assert snap_compare(make(tmp_path), terminal_size=(80, 24), run_before=open_slow)


async def test_list_filters_open_a_waterfall_and_jump_to_the_span_logs(tmp_path: Path) -> None:
    engine, ids = traced_engine(tmp_path)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, TracesScreen)
        table = screen.query_one("#traces", DataTable)
        assert table.row_count == 7
        assert screen.selected_trace_id == ids["failed"]  # newest first
        await pilot.press("f", *"service:payments min:400ms", "enter")
        await pilot.pause()
        assert table.row_count == 1 and screen.selected_trace_id == ids["slow"]
        await pilot.press("enter")
        await pilot.pause()
        waterfall = app.screen
        assert isinstance(waterfall, WaterfallScreen)
        rows = [r.span.service for r in waterfall._rows if r.critical]
        assert "payments" in rows
        head = str(waterfall.query_one("#waterfall-head", Static).render())
        assert "took the time: payments" in head
        # down to the payments span, then its logs
        target = next(i for i, r in enumerate(waterfall._rows) if r.span.service == "payments")
        waterfall.query_one("#waterfall", DataTable).move_cursor(row=target)
        await pilot.press("l")
        await wait_until(
            lambda: isinstance(app.screen, LogsScreen) and app.screen.view.selected_line,
            pilot=pilot,
        )
        logs = app.screen
        assert isinstance(logs, LogsScreen)
        assert logs.view.filter == LogFilter(
            services=frozenset({"payments"}), request_id="req-0003"
        )
        selected = logs.view.selected_line  # the first line at the span's time, not the newest
        assert selected is not None and "bank slow" in selected.text and not logs.view.follow


async def test_span_text_is_shown_as_text_not_markup_or_escapes(tmp_path: Path) -> None:
    engine, ids = traced_engine(tmp_path)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False)
    async with app.run_test(size=(100, 30)) as pilot:
        assert await app.open_trace(ids["failed"])
        await pilot.pause()
        waterfall = app.screen
        assert isinstance(waterfall, WaterfallScreen)
        origin = [r for r in waterfall._rows if r.error_origin]
        assert [r.span.service for r in origin] == ["payments"]
        assert origin[0].span.name == "POST /payments [card=4000…0002] declined"
        table = waterfall.query_one("#waterfall", DataTable)
        cell = table.get_row_at([r.error_origin for r in waterfall._rows].index(True))[0]
        assert "POST /payments [card=" in cell.plain and "\x1b" not in cell.plain
        head = str(waterfall.query_one("#waterfall-head", Static).render())
        assert "failed first: payments" in head
        await pilot.press("escape")
        assert isinstance(app.screen, TracesScreen)


async def test_from_a_log_line_open_its_trace(tmp_path: Path) -> None:
    engine, ids = traced_engine(tmp_path)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("2")
        await pilot.pause()
        logs = app.screen
        assert isinstance(logs, LogsScreen)
        await pilot.press("f", *"rid:req-0001 service:payments", "enter")
        await wait_until(lambda: logs.view.filter.request_id == "req-0001", pilot=pilot)
        line = logs.view.selected_line
        assert line is not None and line.rid == "req-0001"
        await pilot.press("v")
        await wait_until(lambda: isinstance(app.screen, WaterfallScreen), pilot=pilot)
        assert app.screen.trace.trace_id == ids["failed"]


async def test_from_a_failed_test_open_its_trace(tmp_path: Path) -> None:
    engine, ids = traced_engine(tmp_path)
    store = Store.open(tmp_path / "shared.db", clock=lambda: NOW)
    run = store.start_run("shop", "alice")
    suite = store.start_suite_run(run, "flows")
    store.update_suite_run(suite, state="failed", passed=0, failed=1, total=1)
    store.add_test_results(
        suite,
        [
            TestResult(
                "test_flows::test_checkout_pays",
                "failed",
                "test_checkout_pays",
                0.4,
                'AssertionError: {"error": "payments unavailable: HTTP 500"}',
                started=NOW - 31,
                ended=NOW - 29,
            )
        ],
    )
    shared = SharedState(store, "shop", "alice", clock=lambda: NOW)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False, shared=shared, user="alice")
    async with app.run_test(size=(80, 24)) as pilot:
        await shared.refresh(force=True)
        await pilot.press("5")
        await wait_until(
            lambda: isinstance(app.screen, SuitesScreen) and app.screen.selected_failure,
            pilot=pilot,
        )
        app.screen.query_one("#failures", DataTable).focus()
        await pilot.press("v")
        await wait_until(lambda: isinstance(app.screen, WaterfallScreen), pilot=pilot)
        assert app.screen.trace.trace_id == ids["failed"]


async def test_no_traces_section_says_how_to_turn_them_on(tmp_path: Path) -> None:
    engine = offline_engine(tmp_path)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        await pilot.pause()
        assert "[traces]" in str(app.screen.query_one("#traces-off", Static).render())


async def test_spans_from_the_official_sdk_render_in_the_view_and_waterfall(
    tmp_path: Path,
) -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from opentelemetry.trace import Status, StatusCode

    from stagedeck.traces.otlp_proto import decode_proto

    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "orders"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("interop")
    with (
        tracer.start_as_current_span("POST /orders [b]bold[/b]"),
        tracer.start_as_current_span("charge \x1b]0;TITLE\x07card") as child,
    ):
        child.set_status(Status(StatusCode.ERROR, "declined"))
    engine = offline_engine(tmp_path, DEMO_LIKE + "\n[traces]\nport = 47299\n")
    assert engine.traces is not None
    engine.traces.add(
        decode_proto(encode_spans(memory.get_finished_spans()).SerializeToString(), 10)
    )
    app = StagedeckApp(engine, start_engine=False, watch_themes=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        await pilot.pause()
        table = app.screen.query_one("#traces", DataTable)
        root = table.get_row_at(0)[3]
        assert root.plain == "orders POST /orders [b]bold[/b]"  # markup shown as text
        await pilot.press("enter")
        await pilot.pause()
        waterfall = app.screen
        assert isinstance(waterfall, WaterfallScreen)
        names = [r.span.name for r in waterfall._rows]
        assert names == ["POST /orders [b]bold[/b]", "charge card"]
        assert [r.error_origin for r in waterfall._rows] == [False, True]


async def test_drops_and_refusals_are_shown(tmp_path: Path) -> None:
    engine = offline_engine(
        tmp_path, DEMO_LIKE + "\n[traces]\nport = 47299\nmax_traces = 3\nmax_spans = 100\n"
    )
    store = engine.traces
    assert store is not None
    for n in range(5):
        checkout(store, base=NOW - 60 + n, rid=f"req-{n}")
    store.refused("HTTP 400: not JSON")
    app = StagedeckApp(engine, start_engine=False, watch_themes=False)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.press("7")
        await pilot.pause()
        line = str(app.screen.query_one("#traces-line", Static).render())
        assert "3 traces · 24 spans · 2 dropped (cap 3/100) · 1 refused" in line
