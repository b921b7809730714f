"""The gate view: every criterion of the latest run's verdict, with the evidence behind it.

Data comes down from the shared snapshot (the verdict is stored with the run,
so every cockpit sharing the file shows the same one); ``enter`` on a failed
criterion posts :class:`GateScreen.Jump` up to the app, which opens the view
holding its evidence: the failing tests, the latency chart, or the suspect.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Static

from stagedeck.gate.model import Criterion, Verdict
from stagedeck.gate.report import scenario_lines
from stagedeck.store.shared import SharedSnapshot
from stagedeck.triage.model import Suspect
from stagedeck.triage.render import evidence_line
from stagedeck.tui.palette import style
from stagedeck.tui.widgets.banner import Banner
from stagedeck.tui.widgets.footer import QuietFooter
from stagedeck.tui.widgets.statusbar import StatusBar, gate_segment
from stagedeck.tui.widgets.table import KeyTable

if TYPE_CHECKING:
    from stagedeck.tui.app import StagedeckApp


class GateScreen(Screen[None]):
    BINDINGS = [
        Binding("enter", "jump", "Evidence", tooltip="Open what a ✗ is about", id="gate.jump"),
        Binding(
            "e", "evaluate", "Evaluate", tooltip="Judge the latest run now", id="gate.evaluate"
        ),
        Binding(
            "x", "scenario", "Scenario", tooltip="Rehearse a failure scenario", id="gate.scenario"
        ),
    ]

    @dataclass
    class Jump(Message):
        """Open the evidence of ``criterion`` (tests, chart or suspect)."""

        criterion: Criterion
        run_id: int | None = None

    def __init__(self, app_ref: StagedeckApp) -> None:
        super().__init__()
        self.cockpit = app_ref
        self._unsubscribe: Callable[[], None] = lambda: None
        self._shown: tuple[int | None, Mapping[str, Any] | None, bool] | None = None
        self.verdict: Verdict | None = None

    def compose(self) -> ComposeResult:
        yield Banner()
        with Vertical(id="gate-panel") as panel:
            panel.border_title = "gate"
            yield KeyTable(id="gate", cursor_type="row")
        with VerticalScroll(id="gate-detail-panel") as detail:
            detail.border_title = "evidence"
            yield Static(id="gate-detail")
        yield StatusBar(self.cockpit.engine)
        yield QuietFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        table.add_column("", key="mark", width=1)
        table.add_column("CRITERION", key="title", width=26)
        table.add_column("NUMBERS", key="summary")
        table.focus()
        if self.cockpit.shared is not None:
            self._unsubscribe = self.cockpit.shared.subscribe(self._on_shared)
        else:
            self._show_detail()

    def on_unmount(self) -> None:
        self._unsubscribe()

    def _on_shared(self, snapshot: SharedSnapshot) -> None:
        key = (snapshot.last_run_id, snapshot.gate, snapshot.last_run_open)
        if key == self._shown:
            return
        self._shown = key
        self.show(snapshot)

    def show(self, snapshot: SharedSnapshot) -> None:
        self.verdict = Verdict.from_dict(snapshot.gate) if snapshot.gate else None
        table = self.query_one(DataTable)
        row = table.cursor_coordinate.row
        table.clear()
        segment = gate_segment(snapshot)
        panel = self.query_one("#gate-panel")
        if segment is None:
            panel.border_title = "gate · no run recorded yet: run the suites (5, then T)"
        else:
            state = segment[0].removeprefix("gate ")
            run = "" if state.startswith("pending") else f"run {snapshot.last_run_id} · "
            panel.border_title = f"gate · {run}{state}"
        if self.verdict is not None:
            for i, c in enumerate(self.verdict.criteria):
                mark = Text(c.mark, style=style(self.app, "healthy" if c.ok else "down", bold=True))
                table.add_row(mark, Text(c.title), Text(c.summary), key=str(i))
            if table.row_count:
                table.move_cursor(row=min(row, table.row_count - 1))
        self._show_detail()

    @property
    def selected(self) -> Criterion | None:
        verdict = self.verdict
        table = self.query_one(DataTable)
        if verdict is None or not table.row_count:
            return None
        row = table.cursor_coordinate.row
        return verdict.criteria[row] if row < len(verdict.criteria) else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_jump()

    def _show_detail(self) -> None:
        detail = self.query_one("#gate-detail", Static)
        detail.update(self.detail_text())

    def detail_text(self) -> Text:
        text = Text()
        c = self.selected
        if c is None:
            text.append("No verdict on the latest run yet. ", style="dim")
            text.append("e judges it now; a run from this cockpit is judged when it ends.\n")
        else:
            head = "holds" if c.ok else "FAILS"
            text.append(
                f"{c.mark} {c.title} {head}\n",
                style=style(self.app, "healthy" if c.ok else "down", bold=True),
            )
            text.append(f"{c.summary}\n")
            for line in c.details[:12]:
                text.append(f"  {line}\n")
            for i, raw in enumerate(c.suspects, 1):
                suspect = Suspect.from_dict(raw)
                text.append(f"suspect {i}. ", style="bold")
                text.append(f"{suspect.line()}\n")
                for e in suspect.evidence[:3]:
                    text.append(f"    {evidence_line(e)}\n", style="dim")
            if not c.ok and c.jump.value:
                of = f" of {c.service}" if c.service else ""
                text.append(f"enter: open the {c.jump.value}{of}\n", style="dim")
        verdict = self.verdict
        if verdict is not None and verdict.waivers:
            text.append(f"waivers ({len(verdict.waivers)}):\n", style="bold")
            for w in verdict.waivers:
                text.append(f"  {w.line()}\n")
        scenario = getattr(self.cockpit.controller, "last_scenario", None)
        if scenario:
            text.append("\n")
            for line in scenario_lines(scenario):
                text.append(f"{line}\n")
        return text

    def action_jump(self) -> None:
        c = self.selected
        if c is None or c.ok or not c.jump.value:
            return
        self.post_message(self.Jump(c, self.verdict.run_id if self.verdict else None))

    def action_evaluate(self) -> None:
        self.cockpit.controller.judge_latest()

    def action_scenario(self) -> None:
        self.cockpit.action_scenario()
