"""Pilot: the suspect line, the explain view (``w``) and its jumps, the graph's suspect
mark and the failures list's inline suspect, on a real engine fed real inputs.

The engine is not started (no processes): probes and state changes are fed to it
exactly as the probe loop and the target would, and its own triage monitor ranks
them and publishes ``SuspectsChanged``; the cockpit only listens.
"""

from __future__ import annotations

import time
from pathlib import Path

from textual.css.query import NoMatches

from stagedeck.engine.engine import Engine
from stagedeck.engine.events import ProcState
from stagedeck.engine.probes import ProbeResult
from stagedeck.store import Store, TestResult
from stagedeck.store.shared import SharedState
from stagedeck.triage.model import (
    Evidence,
    EvidenceKind,
    Fault,
    SubjectKind,
    Suspect,
    View,
    Where,
)
from stagedeck.tui.app import StagedeckApp
from stagedeck.tui.screens.activity import ActivityScreen
from stagedeck.tui.screens.explain import ExplainScreen
from stagedeck.tui.screens.graph import GraphScreen
from stagedeck.tui.screens.help import HelpScreen
from stagedeck.tui.screens.logs import LogsScreen
from stagedeck.tui.screens.main import MainScreen
from stagedeck.tui.screens.suites import SuitesScreen
from stagedeck.tui.screens.traces import TracesScreen
from stagedeck.tui.widgets.charts import ChartsPanel
from stagedeck.tui.widgets.graph import GraphView
from stagedeck.tui.widgets.logview import LogView
from stagedeck.tui.widgets.services import ServicesTable
from stagedeck.tui.widgets.suspects import SuspectLine
from support.apps import offline_engine
from support.wait import wait_until

TIMEOUT = ProbeResult(False, 1000.0, "GET /health: timed out after 1s", "timeout")


def healthy(engine: Engine) -> None:
    engine.connection(True, "local processes")
    for i, name in enumerate(engine.recipe.services):
        engine.process_state(name, ProcState.STARTING, pid=1000 + i)
        engine.process_state(name, ProcState.RUNNING)
        engine.record_probe(name, ProbeResult(True, 5.0, "HTTP 200"))


def hang(engine: Engine, service: str, probes: int = 2) -> None:
    """What the probe loop records while ``service`` is SIGSTOPped: checks time out."""
    for _ in range(probes):
        engine.record_probe(service, TIMEOUT)


def line_text(app: StagedeckApp) -> str:
    line = app.screen.query_one(SuspectLine)
    return str(line.render()) if line.display else ""


async def wait_for(pilot, predicate, timeout: float = 3.0) -> None:  # type: ignore[no-untyped-def]
    """The shared wait, where a view still being composed counts as not yet."""

    def holds() -> object:
        try:
            return predicate()
        except NoMatches:
            return False

    await wait_until(holds, timeout, pilot=pilot)


async def test_suspect_line_appears_on_a_hang_and_goes_when_it_clears(tmp_path: Path) -> None:
    engine = offline_engine(tmp_path)
    healthy(engine)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause(0.2)
        assert line_text(app) == ""
        hang(engine, "payments")
        await wait_for(pilot, lambda: "payments" in line_text(app))
        text = line_text(app)
        assert "likely cause: payments" in text and "hung" in text
        # The graph marks it as the top suspect, apart from root failures and impacted.
        graph = app.screen.query_one(GraphView)
        assert graph.suspect == "payments"
        # It clears: a good answer again, and the line goes away.
        engine.record_probe("payments", ProbeResult(True, 5.0, "HTTP 200"))
        await wait_for(pilot, lambda: line_text(app) == "", timeout=5)
        assert graph.suspect is None


async def test_explain_view_opens_from_the_overview_on_the_selected_service(
    tmp_path: Path,
) -> None:
    engine = offline_engine(tmp_path)
    healthy(engine)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False)
    async with app.run_test(size=(120, 40)) as pilot:
        hang(engine, "payments")
        await wait_for(pilot, lambda: "payments" in line_text(app))
        await pilot.press("j", "j", "j")  # orders: impacted by payments
        assert app.screen.query_one(ServicesTable).selected == "orders"
        await pilot.press("w")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ExplainScreen)
        head = str(screen.query_one("#explain-head").render())
        assert "the environment now" in head
        assert "orders is impacted by payments" in head or "orders is suspect" in head
        full, where = screen.rows["s0"]
        assert full.startswith("payments — hung")
        assert where == Where(View.GRAPH, service="payments")
        evidence = [r for k, r in screen.rows.items() if k.startswith("s0e")]
        assert evidence, "the top suspect comes with its evidence"
        assert any("timed out" in text for text, _ in evidence)
        await pilot.press("escape")
        await pilot.pause()
        assert isinstance(app.screen, MainScreen)


async def test_explain_view_opens_from_any_view_and_follows_the_ranking(tmp_path: Path) -> None:
    engine = offline_engine(tmp_path)
    healthy(engine)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("2")  # the log explorer: w is "why" here too
        await pilot.pause()
        await pilot.press("w")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, ExplainScreen)
        assert "Nothing abnormal" in str(screen.query_one("#explain-head").render())
        assert screen.rows == {}
        hang(engine, "ledger")  # while the view is open: it follows
        await wait_for(pilot, lambda: "s0" in screen.rows)
        assert screen.rows["s0"][0].startswith("ledger")


async def test_evidence_jumps_to_the_graph_chart_and_log_line(tmp_path: Path) -> None:
    engine = offline_engine(tmp_path)
    healthy(engine)
    t0 = time.time() - 30
    for i in range(40):
        engine.logs.append("gateway", f"INFO  gateway rid=req-{i:04d} GET /api/orders", ts=t0 + i)
    engine.logs.append(
        "orders", "ERROR orders rid=req-0007 payments timed out after 1s", ts=t0 + 7.5
    )
    target = next(ln for ln in engine.logs.since(0) if "req-0007 payments" in ln.text)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False)
    async with app.run_test(size=(120, 40)) as pilot:
        hang(engine, "payments")
        await wait_for(pilot, lambda: "payments" in line_text(app))
        await pilot.press("w")
        await pilot.pause()
        explain = app.screen
        assert isinstance(explain, ExplainScreen)
        # A log line: the explorer, on that request across services, cursor on that line.
        where = Where(View.LOGS, "orders", target.ts, request_id="req-0007", log_seq=target.seq)
        explain.rows["test-log"] = ("", where)
        explain._go("test-log")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
        view = app.screen.query_one(LogView)
        await wait_for(pilot, lambda: view.filter.request_id == "req-0007")
        assert view.selected_line is not None and view.selected_line.seq == target.seq
        assert not view.follow
        # Without a request id or sequence: the service's lines, at that moment.
        await pilot.press("w")
        await pilot.pause()
        explain = app.screen
        assert isinstance(explain, ExplainScreen)
        explain.rows["t2"] = ("", Where(View.LOGS, "gateway", t0 + 20.2))
        explain._go("t2")
        await wait_for(pilot, lambda: view.filter.services == {"gateway"})
        assert view.selected_line is not None and "req-0020" in view.selected_line.text
        # The suspect's own row: the graph with it selected.
        await pilot.press("w")
        await pilot.pause()
        await pilot.press("enter")  # s0, the top suspect: payments
        await wait_for(pilot, lambda: isinstance(app.screen, GraphScreen))
        await wait_for(pilot, lambda: app.screen.query_one(GraphView).selected == "payments")
        assert app.screen.selected_service == "payments"
        # A latency number: the chart of that service.
        await pilot.press("w")
        await pilot.pause()
        explain = app.screen
        assert isinstance(explain, ExplainScreen)
        explain.rows["t3"] = ("", Where(View.CHART, "ledger"))
        explain._go("t3")
        await wait_for(
            pilot, lambda: isinstance(app.screen, GraphScreen) and app.screen.charts_first
        )
        await wait_for(pilot, lambda: app.screen.query_one(ChartsPanel).service == "ledger")


async def test_real_evidence_rows_lead_where_they_say(tmp_path: Path) -> None:
    """Every evidence row the ranking produced for a hang opens a view that shows it."""
    engine = offline_engine(tmp_path)
    healthy(engine)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False)
    async with app.run_test(size=(120, 40)) as pilot:
        hang(engine, "payments", probes=3)
        await wait_for(pilot, lambda: "payments" in line_text(app))
        await pilot.press("w")
        await pilot.pause()
        explain = app.screen
        assert isinstance(explain, ExplainScreen)
        rows = [(k, w) for k, (_, w) in explain.rows.items() if k.startswith("s0e") and w]
        assert rows
        key, where = rows[0]
        await pilot.press("down")  # the first evidence row under the top suspect
        await pilot.pause()
        assert explain.query_one("OptionList").highlighted_option.id == key
        await pilot.press("enter")
        await wait_for(pilot, lambda: not isinstance(app.screen, ExplainScreen))
        await pilot.pause(0.2)
        screen = app.screen
        if where.view in (View.GRAPH, View.CHART):
            assert screen.selected_service == where.service
        elif where.view is View.SERVICE:
            assert screen.query_one(ServicesTable).selected == where.service
        elif where.view is View.LOGS:
            assert isinstance(screen, LogsScreen)


def stored_failure(tmp_path: Path) -> tuple[Store, SharedState]:
    store = Store.open(tmp_path / "shared.db")
    run = store.start_run("shop", "alice")
    suite = store.start_suite_run(run, "flows")
    store.update_suite_run(suite, state="failed", passed=0, failed=1, total=1)
    now = time.time()
    ids = store.add_test_results(
        suite,
        [
            TestResult(
                "test_flows::test_checkout_pays",
                "failed",
                "test_checkout_pays",
                1.2,
                'payments returned 504 {"rid": "t478bdbbc3"}',
                started=now - 5,
                ended=now - 4,
            )
        ],
    )
    suspect = Suspect(
        SubjectKind.SERVICE,
        "payments",
        0.93,
        Fault.HUNG,
        "hung: 2 health checks timed out since 16:02:11; orders, gateway impacted",
        ("orders", "gateway"),
        (
            Evidence(
                EvidenceKind.REQUEST,
                "request t478bdbbc3: gateway → orders → payments (timed out)",
                now - 4.5,
                "payments",
                Where(View.LOGS, "payments", now - 4.5, request_id="t478bdbbc3"),
                0.5,
            ),
            Evidence(
                EvidenceKind.PROBE,
                "2 health checks timed out (GET /health, 1s)",
                now - 6,
                "payments",
                Where(View.GRAPH, "payments"),
                0.4,
            ),
        ),
        now - 6,
    )
    store.add_failure_suspects(ids[0], [suspect.to_dict()])
    return store, SharedState(store, "shop", "alice")


async def test_failed_test_shows_its_suspect_inline_and_explains_why(tmp_path: Path) -> None:
    store, shared = stored_failure(tmp_path)
    engine = offline_engine(tmp_path)
    healthy(engine)
    engine.logs.append("gateway", "INFO  gateway rid=t478bdbbc3 POST /api/orders")
    app = StagedeckApp(engine, start_engine=False, watch_themes=False, shared=shared, user="alice")
    async with app.run_test(size=(120, 40)) as pilot:
        await shared.refresh(force=True)
        await pilot.press("5")
        await pilot.pause(0.3)
        screen = app.screen
        assert isinstance(screen, SuitesScreen)
        table = screen.query_one("#failures")
        row = [str(c) for c in table.get_row_at(0)]
        assert "◆ payments" in row[-1] and "hung" in row[-1]
        detail = str(screen.query_one("#failure-detail").render())
        assert "likely cause: payments — hung" in detail
        table.focus()
        await pilot.press("w")
        await pilot.pause()
        explain = app.screen
        assert isinstance(explain, ExplainScreen)
        assert not explain.live
        assert "test_checkout_pays" in str(explain.query_one("#explain-head").render())
        assert explain.rows["s0"][0].startswith("payments — hung")
        # The request path leads to the log explorer on that request.
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, LogsScreen))
        logs = app.screen
        await wait_for(pilot, lambda: logs.query_one(LogView).filter.request_id == "t478bdbbc3")
        assert "t478bdbbc3" in logs.query_one(LogView).selected_line.text  # type: ignore[union-attr]
    store.close()


async def test_jumps_to_a_change_a_failure_and_a_service_row(tmp_path: Path) -> None:
    store, shared = stored_failure(tmp_path)
    first = store.audit_start("shop", "bob", "redeploy", ["ledger"])
    change = store.audit_start("shop", "bob", "reseed", ["inventory"])
    store.audit_start("shop", "carol", "redeploy", ["orders"])
    engine = offline_engine(tmp_path)
    healthy(engine)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False, shared=shared, user="alice")
    async with app.run_test(size=(120, 40)) as pilot:
        await shared.refresh(force=True)

        async def jump(where: Where, lands_on: type) -> None:
            await pilot.press("w")
            await wait_for(pilot, lambda: isinstance(app.screen, ExplainScreen))
            explain = app.screen
            assert isinstance(explain, ExplainScreen)
            explain.rows["x"] = ("", where)
            explain._go("x")
            await wait_for(pilot, lambda: isinstance(app.screen, lands_on))
            await pilot.pause(0.1)

        # A change (a redeploy, a reseed): the activity log, on that entry.
        await jump(Where(View.AUDIT, audit_id=change), ActivityScreen)
        table = app.screen.query_one("#activity")
        await wait_for(pilot, lambda: table.row_count == 3)
        key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        assert key.value == str(change) and key.value != str(first)
        # A failed test: the suites view, on that failure.
        await jump(Where(View.TEST, test_id="test_flows::test_checkout_pays"), SuitesScreen)
        assert isinstance(app.screen, SuitesScreen)
        failure = app.screen.selected_failure
        assert failure is not None
        assert failure.failure.result.test_id == "test_flows::test_checkout_pays"
        assert app.screen.query_one("#failures").has_focus
        # A failed test's spans: the traces view, filtered to that test (or to a service).
        await jump(Where(View.TRACES, "payments", test_id="test_checkout_pays"), TracesScreen)
        await wait_for(pilot, lambda: app.screen.filter.test == "test_checkout_pays")
        assert app.screen.filter.service == ""
        await jump(Where(View.TRACES, "payments"), TracesScreen)
        await wait_for(pilot, lambda: app.screen.filter.service == "payments")
        # A service's status: the overview's table, on that row.
        await jump(Where(View.SERVICE, service="gateway"), MainScreen)
        assert isinstance(app.screen, MainScreen)
        assert app.screen.query_one(ServicesTable).selected == "gateway"
    store.close()


async def test_why_is_a_remappable_binding_listed_in_help(tmp_path: Path) -> None:
    from stagedeck.config.userconfig import UserConfig
    from stagedeck.tui.app import all_binding_ids

    assert {"triage.why", "suites.why", "explain.close", "explain.go"} <= all_binding_ids()
    engine = offline_engine(tmp_path)
    healthy(engine)
    config = UserConfig(keys={"triage.why": "y"})
    app = StagedeckApp(engine, start_engine=False, watch_themes=False, config=config)
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, ExplainScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, MainScreen))
        await pilot.press("question_mark")
        await pilot.pause(0.2)
        help_screen = app.screen
        assert isinstance(help_screen, HelpScreen)
        ids = {b.id for _, bindings in help_screen.sections for b in bindings}
        assert "triage.why" in ids and help_screen.remapped["triage.why"] == "y"
        titles = {c.title for c in app.get_system_commands(app.screen)}
        assert any(t.startswith("Why: ranked suspects") for t in titles)


async def test_a_change_made_elsewhere_is_evidence_against_the_service(tmp_path: Path) -> None:
    """Someone redeploys payments from another shell; payments then hangs: the explain
    view lists that redeploy, and its row opens the activity log on it."""
    store, shared = stored_failure(tmp_path)
    engine = offline_engine(tmp_path)
    healthy(engine)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False, shared=shared, user="alice")
    async with app.run_test(size=(120, 40)) as pilot:
        audit_id = store.audit_start("shop", "bob", "redeploy", ["payments"])
        store.audit_finish(audit_id, "ok")
        await shared.refresh(force=True)
        hang(engine, "payments")
        await wait_for(pilot, lambda: "payments" in line_text(app))
        await pilot.press("w")
        await wait_for(pilot, lambda: isinstance(app.screen, ExplainScreen))
        explain = app.screen
        assert isinstance(explain, ExplainScreen)
        changes = [
            (key, where)
            for key, (text, where) in explain.rows.items()
            if "redeploy by bob" in text and where is not None
        ]
        assert changes, explain.rows
        key, where = changes[0]
        assert where.view is View.AUDIT and where.audit_id == audit_id
        explain._go(key)
        await wait_for(pilot, lambda: isinstance(app.screen, ActivityScreen))
        table = app.screen.query_one("#activity")
        await wait_for(pilot, lambda: table.row_count >= 1)
        await pilot.pause(0.1)
        row_key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        assert row_key.value == str(audit_id)
    store.close()


async def test_the_line_says_so_when_everything_is_down_at_once(tmp_path: Path) -> None:
    """The core's own words reach the line: all refusing at once asks whether it runs."""
    engine = offline_engine(tmp_path)
    healthy(engine)
    app = StagedeckApp(engine, start_engine=False, watch_themes=False)
    async with app.run_test(size=(160, 40)) as pilot:
        for name in engine.recipe.services:
            engine.process_state(name, ProcState.CRASHED, exit_code=1, reason="exited with code 1")
        await wait_for(pilot, lambda: "down at once" in line_text(app), timeout=5)
        assert line_text(app).startswith("◆ likely cause: ")
        assert app.screen.query_one(GraphView).suspect == app.ranking.top.name  # type: ignore[union-attr]
