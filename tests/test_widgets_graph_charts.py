"""The graph view and the latency charts, driven with Pilot on an engine that is never started.

Statuses are set the way a target would (``process_state``), latency samples and
log lines get fixed timestamps, and every clock is fixed, so the snapshots are
the same on every run and machine (the time zone is pinned to UTC).
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.color import Color
from textual.geometry import Region
from textual.pilot import Pilot
from textual.widget import Widget

from stagedeck.config.themes import builtin_dir
from stagedeck.engine.engine import Engine
from stagedeck.engine.events import ProcState
from stagedeck.recipe.model import load_recipe
from stagedeck.triage.conditions import IMPACTED, ROOT
from stagedeck.tui.palette import SEMANTIC_DEFAULTS, colour
from stagedeck.tui.theming import register_all
from stagedeck.tui.widgets.charts import (
    ChartColours,
    ChartsPanel,
    LatencyChart,
    build_chart,
    plot_colour,
)
from stagedeck.tui.widgets.graph import (
    GraphDetails,
    GraphPanel,
    GraphView,
)

T0 = 1_700_000_000.0
"""2023-11-14 22:13:20 UTC."""
NOW = T0 + 600

DEMO_RECIPE = """
[environment]
name = "demo"

[services.ledger]
command = ["true"]

[services.inventory]
command = ["true"]

[services.payments]
command = ["true"]
slo_ms = 250

[services.orders]
command = ["true"]
depends_on = ["inventory", "payments", "ledger"]
slo_ms = 300

[services.gateway]
command = ["true"]
depends_on = ["orders", "inventory"]

[services.worker]
command = ["true"]
depends_on = ["orders", "ledger"]
"""


@pytest.fixture(autouse=True)
def utc(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def make_engine(tmp_path: Path, text: str = DEMO_RECIPE) -> tuple[Engine, list[float]]:
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    now = [T0]
    engine = Engine(load_recipe(path), clock=lambda: now[0])
    for pid, name in enumerate(engine.recipe.services, start=100):
        engine.process_state(name, ProcState.STARTING, pid=pid)
    return engine, now


@pytest.fixture
def outage(tmp_path: Path) -> Engine:
    """payments crashed (the root failure); orders, gateway and worker are impacted."""
    engine, now = make_engine(tmp_path)
    rnd = random.Random(7)
    for k in range(0, 600, 2):
        spike = 160.0 if 300 <= k < 360 else 0.0
        for _ in range(3):
            ms = 60 + 30 * math.sin(k / 60) + rnd.expovariate(1 / 20) + spike
            ok = rnd.random() > 0.01 and not 420 <= k < 450
            engine.latency["payments"].add(ms, ok, at=T0 + k)
        engine.latency["orders"].add(90 + rnd.expovariate(1 / 10), True, at=T0 + k)
    engine.log("payments", "INFO charging card", ts=T0 + 530)
    engine.log("payments", "ERROR [bold]card processor[/bold] timed out after 5000ms", ts=T0 + 535)
    engine.log("payments", "INFO shutting down", ts=T0 + 538)
    now[0] = T0 + 540
    engine.process_state("payments", ProcState.CRASHED, reason="exited with code 1", exit_code=1)
    now[0] = NOW
    return engine


class Host(App[None]):
    """A bare app with stagedeck's themes and semantic colours, hosting one widget."""

    def __init__(self, make: Callable[[], Widget], theme: str = "stagedeck-dark") -> None:
        super().__init__()
        self._make = make
        register_all(self, [builtin_dir()])
        self.theme = theme
        self.selected: list[str | None] = []

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(SEMANTIC_DEFAULTS)

    def compose(self) -> ComposeResult:
        yield self._make()

    def on_graph_view_selected(self, event: GraphView.Selected) -> None:
        self.selected.append(event.service)


def clocked() -> float:
    return NOW


def graph_app(engine: Engine) -> Host:
    return Host(lambda: GraphPanel(engine, clock=clocked))


def lines(widget: Widget) -> list[str]:
    strips = widget.render_lines(Region(0, 0, widget.size.width, widget.size.height))
    return ["".join(seg.text for seg in strip) for strip in strips]


def style_at(view: GraphView, text: str) -> Style:
    """The style of the first screen cell where ``text`` starts."""
    for y in range(view.size.height):
        strip = view.render_line(y)
        x = 0
        for seg in strip:
            found = seg.text.find(text)
            if found >= 0:
                return seg.style or Style()
            x += len(seg.text)
    raise AssertionError(f"{text!r} not on screen")


# --------------------------------------------------------------------------- graph


async def test_root_failure_is_marked_apart_from_impacted(outage: Engine) -> None:
    app = graph_app(outage)
    async with app.run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        view = app.query_one(GraphView)
        kinds = {name: c.kind for name, c in view._conditions.items()}
        assert kinds == {
            "ledger": "no check",  # running, and the recipe gives them no health check
            "inventory": "no check",
            "payments": ROOT,
            "orders": IMPACTED,
            "gateway": IMPACTED,
            "worker": IMPACTED,
        }
        text = "\n".join(lines(view))
        assert "✖ payments" in text
        for name in ("orders", "gateway", "worker"):
            assert f"⚠ {name}" in text
        assert "◌ ledger" in text
        root = style_at(view, "payments")
        assert root.reverse and root.bold
        impacted = style_at(view, "orders")
        assert not impacted.reverse
        assert impacted.color is not None
        assert impacted.color.triplet == Color.parse(colour(app, "impacted")).rich_color.triplet
        details = "\n".join(lines(app.query_one(GraphDetails)))
        assert "root failure: payments" in details
        assert "impacted: gateway, orders, worker" in details


async def test_keys_select_in_dependency_order_and_highlight_neighbours(outage: Engine) -> None:
    app = graph_app(outage)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(GraphView)
        view.focus()
        await pilot.press("j")
        assert view.selected == "ledger"
        await pilot.press("j", "j", "j")
        assert view.selected == "orders"
        assert view._related == {"ledger", "payments", "inventory", "gateway", "worker"}
        assert view._lit == {
            ("ledger", "orders"),
            ("payments", "orders"),
            ("inventory", "orders"),
            ("orders", "gateway"),
            ("orders", "worker"),
        }
        text = "\n".join(lines(view))
        assert "┃ ⚠ orders ┣" in text, "the selected box is drawn heavy"
        await pilot.press("l")
        assert view.selected == "worker"
        await pilot.press("j")
        assert view.selected == "gateway"
        assert view._lit == {
            ("ledger", "orders"),
            ("payments", "orders"),
            ("inventory", "orders"),
            ("orders", "gateway"),
            ("inventory", "gateway"),
        }
        await pilot.press("h")
        assert view.selected == "orders"
        await pilot.press("k")
        assert view.selected == "inventory"
        await pilot.press("escape")
        assert view.selected is None and not view._lit
        await pilot.pause()
        assert app.selected == [
            "ledger",
            "payments",
            "inventory",
            "orders",
            "worker",
            "gateway",
            "orders",
            "inventory",
            None,
        ]
        # A selection made elsewhere is followed without being echoed back.
        app.query_one(GraphPanel).select("payments")
        await pilot.pause()
        assert view.selected == "payments"
        assert app.selected[-1] is None


async def test_click_selects_a_service(outage: Engine) -> None:
    app = graph_app(outage)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(GraphView)
        assert view.graph_layout is not None
        box = view.graph_layout.nodes["worker"]
        await pilot.click(GraphView, offset=(box.x + 4, box.centre_row))
        assert view.selected == "worker"
        assert app.selected == ["worker"]


async def test_details_show_state_change_latency_and_last_error(outage: Engine) -> None:
    app = graph_app(outage)
    async with app.run_test(size=(100, 24)) as pilot:
        view = app.query_one(GraphView)
        view.focus()
        await pilot.press("j", "j")
        await pilot.pause()
        details = lines(app.query_one(GraphDetails))
        text = "\n".join(details)
        assert "✖ payments  down · crashed  ROOT FAILURE · exited with code 1" in text
        assert "last change 22:22:20 (1m ago): running/no check → crashed/down" in text
        assert "p95 " in text and "SLO 250 ms" in text
        # Log text is data: its [bold] is shown, not applied.
        assert "last error 22:22:15 ERROR [bold]card processor[/bold] timed out" in text
        assert "needs nothing · needed by orders" in text
        await pilot.press("j", "j")  # inventory, then orders: impacted
        await pilot.pause()
        text = "\n".join(lines(app.query_one(GraphDetails)))
        assert "⚠ orders  no check · running  impacted by payments" in text
        assert "last error none" in text


async def test_restyles_only_on_change_and_not_while_hidden(outage: Engine) -> None:
    app = graph_app(outage)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(GraphView)
        await pilot.pause()
        before = view.restyles
        view.poll()
        view.poll()
        assert view.restyles == before
        outage.process_state("ledger", ProcState.CRASHED, reason="killed")
        view.poll()
        assert view.restyles == before + 1
        assert view._conditions["ledger"].kind == ROOT
        assert view._conditions["worker"].kind == IMPACTED
        view.select("orders")
        assert view.restyles == before + 2
        app.query_one(GraphPanel).display = False
        await pilot.pause()
        outage.process_state("ledger", ProcState.STARTING, pid=7)
        view.poll()
        assert view.restyles == before + 2


async def test_new_recipe_is_laid_out_again(outage: Engine, tmp_path: Path) -> None:
    app = graph_app(outage)
    async with app.run_test(size=(80, 24)) as pilot:
        view = app.query_one(GraphView)
        view.select("worker")
        extra = DEMO_RECIPE + '\n[services.audit]\ncommand = ["true"]\ndepends_on = ["worker"]\n'
        (tmp_path / "new.toml").write_text(extra)
        outage.recipe = load_recipe(tmp_path / "new.toml")
        view.poll()
        await pilot.pause()
        assert view.graph_layout is not None and "audit" in view.graph_layout.nodes
        assert view.selected == "worker"
        assert "audit" in "\n".join(lines(view))


async def test_large_graph_lays_out_in_a_thread_and_scrolls(tmp_path: Path) -> None:
    parts = ['[environment]\nname = "big"\n']
    for i in range(48):
        deps = [f"s{j:02}" for j in (i - 1, i - 5, i - 11) if j >= 0 and i % 3]
        parts.append(f'[services.s{i:02}]\ncommand = ["true"]\ndepends_on = {deps!r}\n')
    engine, _ = make_engine(tmp_path, "\n".join(parts).replace("'", '"'))
    app = graph_app(engine)
    async with app.run_test(size=(80, 24)) as pilot:
        await app.workers.wait_for_complete()
        await pilot.pause()
        view = app.query_one(GraphView)
        assert view.graph_layout is not None and len(view.graph_layout.nodes) == 48
        assert view.virtual_size.height > view.size.height
        view.focus()
        await pilot.press("G")
        last = view.graph_layout.order[-1]
        assert view.selected == last
        box = view.graph_layout.nodes[last]
        assert view.scroll_offset.y <= box.y < view.scroll_offset.y + view.size.height
        assert view.scroll_offset != (0, 0)


# --------------------------------------------------------------------------- charts


def chart_app(engine: Engine, service: str = "payments") -> Host:
    return Host(lambda: ChartsPanel(engine, service, clock=clocked))


def test_plot_colours_follow_ansi_or_rgb() -> None:
    assert plot_colour("ansi_bright_red", 0) == 9
    assert plot_colour("ansi_green", 0) == 2
    assert plot_colour("ansi_default", 0) == "default"
    assert plot_colour("#4C9AFF", 0) == (76, 154, 255)
    assert plot_colour("not a colour", 5) == 5


def test_build_chart_draws_the_slo_line() -> None:
    from stagedeck.engine.latency import LatencyWindow

    window = LatencyWindow()
    for k in range(600):
        window.add(100 + k % 50, at=T0 + k)
    chart = build_chart(
        window.series(10, 600, now=T0 + 600),
        width=60,
        height=12,
        now=T0 + 600,
        slo_ms=200,
        colours=ChartColours(slo=1),
    )
    rows = Text.from_ansi(chart).plain.splitlines()
    assert len(rows) == 12 and all(len(r) == 60 for r in rows)
    assert any(r.count("─") > 40 and "┌" not in r and "└" not in r for r in rows)
    assert "\x1b[38;5;1m───" in chart, "the SLO line in the given colour"
    assert rows[-1].strip().startswith("-10m") and rows[-1].strip().endswith("now")


async def test_latency_chart_has_legend_and_slo_line(outage: Engine) -> None:
    app = chart_app(outage)
    async with app.run_test(size=(90, 24)) as pilot:
        await pilot.pause()
        chart = app.query_one(LatencyChart)
        rendered = chart.render()
        assert isinstance(rendered, Text)
        plain = rendered.plain.splitlines()
        assert plain[0].startswith("payments  ━ p50 ━ p95 ━ p99 ─ SLO 250 ms ━ errors % (right)")
        down = Color.parse(colour(app, "down")).rich_color
        slo_cells = sum(
            span.end - span.start
            for span in rendered.spans
            if isinstance(span.style, Style)
            and span.style.color == down
            and set(rendered.plain[span.start : span.end]) == {"─"}
        )
        assert slo_cells > 40, "a long horizontal line in the theme's down colour"


async def test_chart_rebuilds_only_for_a_new_bucket_or_size(outage: Engine) -> None:
    """Completed buckets only: a sample changes the picture when its bucket closes, so an
    idle cockpit redraws its chart every ten seconds, not every probe."""
    now = [NOW]
    app = Host(lambda: LatencyChart(outage, "payments", clock=lambda: now[0]))
    async with app.run_test(size=(90, 24)) as pilot:
        await pilot.pause()
        chart = app.query_one(LatencyChart)
        builds = chart.builds
        chart.redraw()
        now[0] += 3  # same ten-second bucket, no new sample
        chart.redraw()
        assert chart.builds == builds
        outage.latency["payments"].add(120.0, True, at=now[0])
        chart.redraw()
        assert chart.builds == builds  # its bucket is still open
        now[0] += 10  # the bucket closes; the time axis moves on
        chart.redraw()
        assert chart.builds == builds + 1
        chart.display = False
        await pilot.pause()
        now[0] += 10
        chart.redraw()
        assert chart.builds == builds + 1  # hidden: no work at all


async def test_chart_without_samples_and_panel_grid(outage: Engine) -> None:
    app = chart_app(outage, "ledger")
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        panel = app.query_one(ChartsPanel)
        chart = app.query_one(LatencyChart)
        assert "ledger: no latency samples yet" in str(chart.render())
        panel.select("orders")
        await pilot.pause()
        assert chart.service == "orders"
        assert str(chart.render()).startswith("orders")
        panel.focus()
        await pilot.press("a")
        await pilot.pause()
        charts = list(app.query(LatencyChart))
        assert [c.service for c in charts] == list(outage.recipe.services)
        await pilot.press("a")
        await pilot.pause()
        assert [c.service for c in app.query(LatencyChart)] == ["orders"]


# --------------------------------------------------------------------------- snapshots


def test_snapshot_graph_root_failure_and_impacted(snap_compare: Any, outage: Engine) -> None:
    assert snap_compare(graph_app(outage), terminal_size=(80, 24))


def test_snapshot_graph_selection(snap_compare: Any, outage: Engine) -> None:
    async def select(pilot: Pilot[None]) -> None:
        pilot.app.query_one(GraphView).focus()
        await pilot.press("j", "j", "j", "j")

    assert snap_compare(graph_app(outage), terminal_size=(80, 24), run_before=select)


def test_snapshot_latency_chart_with_slo(snap_compare: Any, outage: Engine) -> None:
    assert snap_compare(chart_app(outage), terminal_size=(90, 24))
