"""The explain view (``w``): ranked suspects, each with the evidence that says so.

Every row leads somewhere: ``enter`` on a suspect opens the graph on it; on an
evidence line, the view that holds it (the log explorer at that line and its
request, the graph, the latency chart, the activity log, the failed test). The
screen only posts :class:`~stagedeck.tui.messages.JumpTo`; the app goes there.

For the environment it follows the live ranking (new rankings arrive with
``SuspectsChanged``, nothing polls); for a failed test it shows the ranking
stored when the test failed, which does not change.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from stagedeck.triage.model import Evidence, Fault, Ranking, SubjectKind, Suspect, View, Where
from stagedeck.tui.messages import JumpTo
from stagedeck.tui.palette import style
from stagedeck.tui.widgets.footer import QuietFooter
from stagedeck.tui.widgets.suspects import SUSPECT_MARK, follow_ranking

SUSPECTS_SHOWN = 10
EVIDENCE_SHOWN = 8

DESTINATION = {
    View.LOGS: "logs",
    View.GRAPH: "graph",
    View.CHART: "chart",
    View.AUDIT: "activity",
    View.SERVICE: "services",
    View.TEST: "failure",
    View.TRACES: "traces",
}
"""What ``enter`` opens, as the short word shown at the end of each row."""

FAULT_COLOUR = {
    Fault.CRASHED: "down",
    Fault.HUNG: "down",
    Fault.CRASH_LOOP: "down",
    Fault.UNREACHABLE: "down",
    Fault.FAILING: "degraded",
    Fault.UNHEALTHY: "degraded",
    Fault.SLOW: "degraded",
    Fault.ERRORS: "degraded",
    Fault.NOT_READY: "degraded",
    Fault.FLAKY: "flaky",
}


def clock(at: float | None) -> str:
    return time.strftime("%H:%M:%S", time.localtime(at)) if at is not None else "        "


def suspect_where(suspect: Suspect) -> Where | None:
    """Where ``enter`` on a suspect's own row goes: a service's place in the graph, a
    test's failure, otherwise wherever its strongest evidence lives."""
    if suspect.kind is SubjectKind.SERVICE:
        return Where(View.GRAPH, service=suspect.name)
    if suspect.kind is SubjectKind.TEST:
        return Where(View.TEST, test_id=suspect.name)
    return suspect.evidence[0].where if suspect.evidence else None


def evidence_where(evidence: Evidence) -> Where:
    """The evidence's own pointer, with its service and moment filled in when it left them out."""
    where = evidence.where
    if not where.service and evidence.service and where.view is not View.TEST:
        where = replace(where, service=evidence.service)
    if where.at is None and evidence.at is not None:
        where = replace(where, at=evidence.at)
    return where


def describe_where(where: Where) -> str:
    """What ``enter`` will do, in words, for the detail line."""
    if where.view is View.LOGS:
        parts = ["open the log explorer"]
        if where.request_id:
            parts.append(f"on request {where.request_id} across services")
        elif where.service:
            parts.append(f"on {where.service}")
        if where.at is not None:
            parts.append(f"at {clock(where.at)}")
        return " ".join(parts)
    if where.view is View.GRAPH:
        return f"open the graph with {where.service or 'it'} selected"
    if where.view is View.CHART:
        return f"open the latency chart of {where.service or 'the service'}"
    if where.view is View.AUDIT:
        return "open the activity log" + (f" at entry #{where.audit_id}" if where.audit_id else "")
    if where.view is View.TRACES:
        what = f"of {where.test_id}" if where.test_id else f"through {where.service or 'it'}"
        return f"open the traces {what}"
    if where.view is View.TEST:
        return f"open the failure {where.test_id}" if where.test_id else "open the failures"
    return f"select {where.service} in the services table" if where.service else "overview"


class ExplainScreen(Screen[None]):
    """Why is it broken: the ranking of one question, one row per suspect or evidence line."""

    BINDINGS = [
        Binding("escape,q,w", "close", "Close", id="explain.close"),
        Binding("enter", "go", "Go to evidence", id="explain.go"),
    ]

    def __init__(
        self,
        ranking: Ranking,
        *,
        live: bool = True,
        service: str | None = None,
        title: str = "",
        note: str = "",
    ) -> None:
        """``live``: follow the environment's ranking as it changes; otherwise ``ranking``
        is a stored one (a failed test's). ``service``: the service ``w`` was pressed on."""
        super().__init__()
        self.ranking = ranking
        self.live = live
        self.service = service
        self.title_text = title
        self.fixed_note = note
        self.rows: dict[str, tuple[str, Where | None]] = {}
        """Option id → (the row's full plain text, where enter goes)."""
        self._drawn: tuple[Any, ...] | None = None

    def compose(self) -> ComposeResult:
        with Vertical(id="explain-panel") as panel:
            panel.border_title = "why"
            yield Static(id="explain-head", markup=False)
            yield OptionList(id="explain-list", markup=False)
        yield Static(id="explain-detail", markup=False)
        yield QuietFooter()

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()
        if self.live:
            follow_ranking(self, self.show_ranking)
        self.show_ranking(self.ranking)

    # ------------------------------------------------------------------ data

    def show_ranking(self, ranking: Ranking) -> None:
        """Draw ``ranking``; skipped when suspects, verdicts and evidence are unchanged."""
        shown = ranking.suspects[:SUSPECTS_SHOWN]
        key = tuple(
            (s.key, s.fault, s.verdict, s.impacted, tuple(e.text for e in s.evidence))
            for s in shown
        )
        if key == self._drawn:
            return
        self._drawn = key
        self.ranking = ranking
        options = self.query_one(OptionList)
        before = options.highlighted_option.id if options.highlighted_option else None
        self.rows.clear()
        prompts: list[Option | None] = []
        for i, suspect in enumerate(shown):
            if i:
                prompts.append(None)
            sid = f"s{i}"
            self.rows[sid] = (suspect.line(), suspect_where(suspect))
            prompts.append(Option(self._suspect_prompt(i, suspect), id=sid))
            for j, evidence in enumerate(suspect.evidence[:EVIDENCE_SHOWN]):
                eid = f"s{i}e{j}"
                where = evidence_where(evidence)
                self.rows[eid] = (f"{clock(evidence.at)}  {evidence.text}", where)
                prompts.append(Option(self._evidence_prompt(evidence, where), id=eid))
        options.clear_options()
        options.add_options(prompts)
        self._show_head()
        if self.rows:
            target = before if before in self.rows else self._first_row()
            options.highlighted = options.get_option_index(target)
        self._show_detail()

    def _first_row(self) -> str:
        """The suspect row of the service ``w`` was pressed on, else the top suspect."""
        for i, suspect in enumerate(self.ranking.suspects[:SUSPECTS_SHOWN]):
            if suspect.kind is SubjectKind.SERVICE and suspect.name == self.service:
                return f"s{i}"
        return "s0"

    def _show_head(self) -> None:
        ranking = self.ranking
        head = Text(no_wrap=True, overflow="ellipsis")
        head.append(self.title_text or "the environment now", style="bold")
        head.append(f" · ranked {clock(ranking.at)}" if ranking.at else "", style="dim")
        note = self.fixed_note or self._service_note()
        if note:
            head.append("\n")
            head.append(note)
        elif not ranking.suspects:
            head.append("\n")
            head.append(
                "Nothing abnormal: no service, test data or test points at a fault.",
                style=style(self.app, "healthy"),
            )
        self.query_one("#explain-head", Static).update(head)

    def _service_note(self) -> str:
        """What the ranking says about the service ``w`` was pressed on."""
        name = self.service
        ranking = self.ranking
        if not name or not ranking.suspects:
            return ""
        for rank, suspect in enumerate(ranking.suspects, 1):
            if suspect.kind is SubjectKind.SERVICE and suspect.name == name:
                return f"{name} is suspect #{rank}: {suspect.verdict}"
        causes = [s.label for s in ranking.suspects if name in s.impacted]
        if causes:
            return f"{name} is impacted by {', '.join(causes)}"
        return ""  # a healthy bystander (the overview always has a row selected): no note

    def _suspect_prompt(self, index: int, suspect: Suspect) -> Text:
        app = self.app
        top = index == 0
        text = Text(no_wrap=True, overflow="ellipsis")
        # Colour sits on a reversed badge, the name is plain bold: both stay readable
        # under the cursor's own background on every theme.
        colour = "suspect" if top else FAULT_COLOUR.get(suspect.fault, "unknown")
        badge = style(app, colour, bold=True) + Style(reverse=True)
        text.append(f"{index + 1}. ", style="bold")
        text.append(f"{SUSPECT_MARK if top else '●'}", style=badge)
        text.append(" ")
        text.append(suspect.label, style="bold")
        text.append(f"  {suspect.score:.2f}  ", style="dim")
        text.append(suspect.verdict)
        return text

    def _evidence_prompt(self, evidence: Evidence, where: Where) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"     {clock(evidence.at)} ", style=style(self.app, "log-time"))
        text.append(f"{evidence.kind.value:<8} ", style="dim")
        text.append(f"→{DESTINATION.get(where.view, 'view'):<8} ", style="dim")
        text.append(evidence.text)  # sanitised on the way in; plain text, never markup
        return text

    # ------------------------------------------------------------------ moving

    @on(OptionList.OptionHighlighted)
    def _highlighted(self) -> None:
        self._show_detail()

    def _show_detail(self) -> None:
        option = self.query_one(OptionList).highlighted_option
        detail = self.query_one("#explain-detail", Static)
        row = self.rows.get(option.id or "") if option is not None else None
        if row is None:
            detail.update(Text("esc: back", style="dim"))
            return
        full, where = row
        text = Text()
        text.append(full)
        text.append("\n")
        text.append(f"enter: {describe_where(where)}" if where else "", style="dim")
        text.append("  ·  esc: back", style="dim")
        detail.update(text)

    @on(OptionList.OptionSelected)
    def _selected(self, event: OptionList.OptionSelected) -> None:
        event.stop()
        self._go(event.option_id)

    def action_go(self) -> None:
        option = self.query_one(OptionList).highlighted_option
        self._go(option.id if option is not None else None)

    def _go(self, option_id: str | None) -> None:
        row = self.rows.get(option_id or "")
        if row is None or row[1] is None:
            self.notify("nothing to open for this line", severity="warning", timeout=3)
            return
        self.post_message(JumpTo(row[1]))

    def action_close(self) -> None:
        self.dismiss(None)
