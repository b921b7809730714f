"""Suites and failures: run suites, watch them, and see what is known about each failure."""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.screen import ModalScreen, Screen
from textual.widgets import DataTable, Input, Log, Static

from stagedeck.engine.engine import Engine
from stagedeck.store import Annotation
from stagedeck.store.shared import FailureView, SharedSnapshot, SharedState
from stagedeck.suites.report import seen_text
from stagedeck.suites.runner import SuiteProgress, SuiteRunner, SuiteState
from stagedeck.triage.model import Ranking, Suspect
from stagedeck.tui.messages import (
    Annotate,
    CancelSuite,
    DeleteAnnotation,
    ExplainRequested,
    OpenTrace,
    RunSuites,
)
from stagedeck.tui.palette import style
from stagedeck.tui.widgets.banner import Banner
from stagedeck.tui.widgets.footer import QuietFooter
from stagedeck.tui.widgets.statusbar import StatusBar
from stagedeck.tui.widgets.suspects import SUSPECT_MARK, SuspectLine, follow_ranking
from stagedeck.tui.widgets.table import KeyTable

STATE_STYLE = {
    SuiteState.PASSED: "healthy",
    SuiteState.FAILED: "down",
    SuiteState.ERROR: "down",
    SuiteState.RUNNING: "degraded",
    SuiteState.WAITING: "unknown",
    SuiteState.QUEUED: "unknown",
    SuiteState.CANCELLED: "unknown",
}


class OutputScreen(ModalScreen[None]):
    """A suite's output. ``Log`` holds plain strings: output is never parsed as markup."""

    DEFAULT_CSS = """
    OutputScreen { align: center middle; }
    OutputScreen > Vertical {
        width: 95%; height: 90%; border: round $primary; background: $surface;
    }
    """
    BINDINGS = [Binding("escape,q,o", "dismiss", "Close", id="output.close")]

    def __init__(self, progress: SuiteProgress) -> None:
        super().__init__()
        self.progress = progress

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = f"{self.progress.suite} output · {self.progress.describe()}"
            if self.progress.output_path:
                box.border_subtitle = str(self.progress.output_path)
            yield Log(max_lines=5000, id="suite-output")

    def on_mount(self) -> None:
        log = self.query_one(Log)
        log.write_lines(list(self.progress.output))
        log.focus()


class SuitesScreen(Screen[None]):
    BINDINGS = [
        Binding("t", "run_selected", "Run suite", id="suites.run"),
        Binding("T", "run_all", "Run all", id="suites.run_all"),
        Binding("c", "cancel", "Cancel", id="suites.cancel"),
        Binding("o", "output", "Output", id="suites.output"),
        Binding("a", "annotate", "Annotate", id="suites.annotate"),
        Binding("e", "edit_annotation", "Edit note", show=False, id="suites.edit"),
        Binding("x", "delete_annotation", "Delete note", show=False, id="suites.delete"),
        Binding(
            "w",
            "why",
            "Why",
            show=False,  # the failure's detail says "w: why"; the footer is full at 80 columns
            tooltip="Why did the selected failure fail (its ranked suspects)",
            id="suites.why",
        ),
        Binding("v", "open_trace", "Trace", id="suites.trace"),
        Binding(
            "slash",
            "search",
            "Search",
            key_display="/",
            show=False,  # the footer is full at 80 columns; the panel's subtitle says "/"
            tooltip="Search every run's failures: message, traceback, test id (full text)",
            id="suites.search",
        ),
        Binding("escape", "clear_search", "Clear search", show=False, id="suites.clear_search"),
    ]

    def __init__(
        self, engine: Engine, suites: SuiteRunner, shared: SharedState | None, user: str
    ) -> None:
        """Given what it shows: the suites' progress, the shared failures and notes, and
        who is looking (people edit their own notes). Requests go up as messages."""
        super().__init__()
        self.engine = engine
        self.suites = suites
        self.shared = shared
        self.user = user
        self._unsubscribe: Callable[[], None] = lambda: None
        self._drawn: dict[str, tuple[object, ...]] = {}
        self._failures: tuple[FailureView, ...] = ()
        """What the failures table shows: the latest run's, or the search's matches."""
        self._latest: SharedSnapshot | None = None
        self._search = ""
        """The search in force ('' : the latest run's failures are shown)."""

    def compose(self) -> ComposeResult:
        yield Banner()
        with Vertical(id="suites-panel") as panel:
            panel.border_title = "suites"
            yield KeyTable(id="suites", cursor_type="row")
        with Vertical(id="failures-panel") as panel:
            panel.border_title = "failures of the latest run"
            panel.border_subtitle = "/ search"
            yield Input(id="failure-query", placeholder="")
            yield KeyTable(id="failures", cursor_type="row")
        with VerticalScroll(id="failure-detail-panel"):
            yield Static(id="failure-detail")
        yield SuspectLine()
        yield StatusBar(self.engine)
        yield QuietFooter()

    def on_mount(self) -> None:
        suites = self.query_one("#suites", DataTable)
        suites.add_column("SUITE", key="suite", width=14)
        suites.add_column("STATE", key="state", width=10)
        suites.add_column("PROGRESS", key="progress")
        for name in self.engine.recipe.suites:
            suites.add_row(name, "–", "never run here", key=name)
        failures = self.query_one("#failures", DataTable)
        failures.add_column("SUITE", key="suite", width=10)
        failures.add_column("TEST", key="test", width=40)
        failures.add_column("SEEN", key="seen", width=5)
        failures.add_column("KNOWN", key="known")
        self.query_one("#failure-query", Input).display = False
        suites.focus()
        self.set_interval(0.25, self.refresh_suites)
        if self.shared is not None:
            self._unsubscribe = self.shared.subscribe(self._on_shared)
        follow_ranking(self, self.show_ranking)

    def show_ranking(self, ranking: Ranking) -> None:
        self.query_one(SuspectLine).show(ranking)

    def on_unmount(self) -> None:
        self._unsubscribe()

    # ------------------------------------------------------------------ suites

    @property
    def selected_suite(self) -> str | None:
        table = self.query_one("#suites", DataTable)
        if not table.row_count:
            return None
        key, _ = table.coordinate_to_cell_key(table.cursor_coordinate)
        return str(key.value)

    def refresh_suites(self) -> None:
        table = self.query_one("#suites", DataTable)
        for name, progress in self.suites.progress.items():
            key = (progress.version, progress.state)
            if self._drawn.get(name) == key or name not in table.rows:
                continue
            self._drawn[name] = key
            state = Text(progress.state.value, style=style(self.app, STATE_STYLE[progress.state]))
            table.update_cell(name, "state", state)
            table.update_cell(name, "progress", Text(progress.describe()))

    def action_run_selected(self) -> None:
        name = self.selected_suite
        if name:
            self.post_message(RunSuites((name,)))

    def action_run_all(self) -> None:
        self.post_message(RunSuites(tuple(self.engine.recipe.suites)))

    def action_cancel(self) -> None:
        name = self.selected_suite
        if name:
            self.post_message(CancelSuite(name))

    def action_output(self) -> None:
        name = self.selected_suite
        progress = self.suites.progress.get(name or "")
        if progress is None:
            self.notify("this suite has not run in this cockpit yet", severity="warning")
            return
        self.app.push_screen(OutputScreen(progress))

    # ------------------------------------------------------------------ failures

    def _on_shared(self, snapshot: SharedSnapshot) -> None:
        before, self._latest = self._latest, snapshot
        if self._search:
            if before is None or before.version != snapshot.version:
                self._run_search(self._search)  # a note added meanwhile shows up in the matches
            return
        if snapshot.failures == self._failures:
            return
        run = f"run {snapshot.last_run_id}" if snapshot.last_run_id else "no run yet"
        self._draw(snapshot.failures, f"failures · {run} · {len(snapshot.failures)}")

    def _draw(self, failures: tuple[FailureView, ...], title: str, *, runs: bool = False) -> None:
        """Fill the failures table; ``runs``: the rows come from several runs (a search)."""
        selected = self.selected_failure
        self._failures = failures
        table = self.query_one("#failures", DataTable)
        table.clear()
        for index, view in enumerate(failures):
            known = Text()
            top = top_suspect(view)
            if top is not None:
                # The stored ranking's head first: where to look, before what anyone wrote.
                known.append(
                    f"{SUSPECT_MARK} {top.label}", style=style(self.app, "suspect", bold=True)
                )
                known.append(f" {top.fault.value} · ")
            if view.annotations:
                note = view.annotations[-1]
                known.append(
                    f"[{note.tag}] ",
                    style=style(self.app, "flaky") if note.tag == "flaky" else "bold",
                )
                known.append(f"{note.author}: {note.note}")
            else:
                known.append(
                    view.failure.result.message.splitlines()[0][:120]
                    if view.failure.result.message
                    else ""
                )
            suite = view.failure.suite
            table.add_row(
                f"{view.failure.run_id}·{suite}" if runs else suite,
                view.failure.result.test_id.rpartition("::")[2] or view.failure.result.test_id,
                str(view.seen),
                known,
                key=str(index),
            )
        panel = self.query_one("#failures-panel")
        panel.border_title = title
        if selected is not None:
            for index, view in enumerate(failures):
                if view.failure.result.id == selected.failure.result.id:
                    table.move_cursor(row=index)
        self._show_detail()

    # ------------------------------------------------------------------ search

    def action_search(self) -> None:
        box = self.query_one("#failure-query", Input)
        box.placeholder = 'words in every run\'s failures ("a phrase", prefix*) — enter; esc'
        box.value = self._search
        box.display = True
        box.focus()

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if event.input.id != "failure-query":
            return
        event.stop()
        text = event.value.strip()
        self._close_query()
        if text:
            self._run_search(text)
        else:
            self.action_clear_search()

    def _close_query(self) -> None:
        box = self.query_one("#failure-query", Input)
        box.display = False
        self.query_one("#failures", DataTable).focus()

    def _run_search(self, text: str) -> None:
        if self.shared is None:
            self.notify("no shared database: nothing to search", severity="warning")
            return
        self._search = text
        self.run_worker(self._search_worker(text), group="failure-search", exclusive=True)

    async def _search_worker(self, text: str) -> None:
        """The store is read in a thread (``SharedState.search``); the table is drawn here."""
        from stagedeck.store import StoreError
        from stagedeck.text import clean

        assert self.shared is not None
        try:
            found = await self.shared.search(text)
        except StoreError as exc:
            self.notify(f"search failed: {exc}", severity="error", markup=False)
            return
        if self._search != text:
            return  # cleared or replaced meanwhile
        shown = clean(text)[:40]
        self._draw(
            found, f"failures matching {shown!r} · {len(found)} · esc: latest run", runs=True
        )

    def action_clear_search(self) -> None:
        if self.query_one("#failure-query", Input).display:
            self._close_query()
            return
        if not self._search:
            return
        self._search = ""
        snapshot = self._latest
        if snapshot is not None:
            self._failures = ()  # force the redraw
            self._on_shared(snapshot)

    @property
    def selected_failure(self) -> FailureView | None:
        table = self.query_one("#failures", DataTable)
        if not table.row_count or not self._failures:
            return None
        row = table.cursor_coordinate.row
        return self._failures[row] if row < len(self._failures) else None

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "failures":
            self._show_detail()

    def _show_detail(self) -> None:
        view = self.selected_failure
        detail = self.query_one("#failure-detail", Static)
        if view is None:
            empty = (
                "No failure matches the search."
                if self._search
                else "No failures in the latest run."
            )
            detail.update(Text(empty, style="dim"))
            return
        r = view.failure.result
        text = Text()
        text.append(f"{view.failure.suite} · {r.test_id}\n", style="bold")
        # What people already know comes first; the raw message can be long.
        seen = seen_text(view.seen, view.first_seen, time.time())
        if seen:
            text.append(f"{seen}\n", style=style(self.app, "flaky"))
        for note in view.annotations:
            when = time.strftime("%a %H:%M", time.localtime(note.updated))
            text.append(f"  #{note.id} {note.author} [{note.tag}] {when}: ", style="bold")
            text.append(note.note)
            if note.link:
                text.append(f" ({note.link})", style="underline")
            text.append("\n")
        if not view.annotations:
            text.append("Nothing written about it yet: press a to annotate.\n", style="dim")
        top = top_suspect(view)
        if top is not None:
            text.append(
                f"{SUSPECT_MARK} likely cause: ", style=style(self.app, "suspect", bold=True)
            )
            text.append(top.line())
            text.append("  (w: why, with the evidence)\n", style="dim")
            for evidence in [e for e in top.evidence if e.text][:2]:
                # One line each: the full evidence is one key away.
                line = evidence.text if len(evidence.text) <= 110 else evidence.text[:109] + "…"
                text.append(f"    {line}\n", style="dim")
        message = r.message.splitlines()
        text.append(f"{r.outcome}: {message[0] if message else ''}\n")
        for line in message[1:8]:
            text.append(f"  {line}\n", style="dim")
        detail.update(text)

    def action_why(self) -> None:
        """On the failures list: why the selected failure failed; elsewhere: the environment."""
        failures = self.query_one("#failures", DataTable)
        view = self.selected_failure
        if failures.has_focus and view is not None:
            self.post_message(ExplainRequested(failure=view))
        else:
            self.post_message(ExplainRequested())

    def show_failure(self, test_id: str) -> None:
        """Select the failure of ``test_id`` in the latest run (a jump from explain or gate)."""
        if self._search:
            self.action_clear_search()  # the jump is to the latest run's failure
        table = self.query_one("#failures", DataTable)
        for index, view in enumerate(self._failures):
            if view.failure.result.test_id == test_id:
                table.move_cursor(row=index)
                table.focus()
                return
        self.notify(f"{test_id} is not among the latest run's failures", timeout=4)

    def action_open_trace(self) -> None:
        """The selected failure's trace: the one its spans name, else one in its time window."""
        from stagedeck.traces.query import traces_for_test

        view = self.selected_failure
        store = self.engine.traces
        if view is None or store is None:
            self.notify(
                "select a failure first (and give the recipe a [traces] section)",
                severity="warning",
            )
            return
        r = view.failure.result
        window = (r.started, r.ended) if r.started and r.ended else None
        found = traces_for_test(store, r.test_id, window)
        if not found:
            self.notify(
                "no trace of this test is held (only traces received since the "
                "cockpit started are)",
                severity="warning",
                timeout=5,
            )
            return
        # The failing one if there is one, else the slowest.
        trace = max(found, key=lambda t: (t.error, t.duration))
        self.post_message(OpenTrace(trace.trace_id))

    def action_annotate(self) -> None:
        view = self.selected_failure
        if view is None:
            self.notify("select a failure first", severity="warning")
            return
        self.post_message(Annotate(view))

    def _my_note(self) -> tuple[FailureView, Annotation] | None:
        view = self.selected_failure
        mine = [a for a in (view.annotations if view else ()) if a.author == self.user]
        if view is None or not mine:
            self.notify(
                "you have no note on this failure (people edit their own only)", severity="warning"
            )
            return None
        return view, mine[-1]

    def action_edit_annotation(self) -> None:
        found = self._my_note()
        if found:
            self.post_message(Annotate(found[0], edit=found[1]))

    def action_delete_annotation(self) -> None:
        found = self._my_note()
        if found:
            self.post_message(DeleteAnnotation(found[1]))


def top_suspect(view: FailureView) -> Suspect | None:
    """The head of the ranking stored with a failure, if one was."""
    return Suspect.from_dict(view.suspects[0]) if view.suspects else None
