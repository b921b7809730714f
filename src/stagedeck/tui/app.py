"""The cockpit application: builds the views on an engine and shared state, routes keys,
engine events, reloads and banners to them. Actions run through ``controller``; screens
and widgets draw."""

from __future__ import annotations

import asyncio
import gc
import importlib
import logging
from collections.abc import Callable, Iterable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import on, work
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen
from textual.signal import Signal
from textual.worker import Worker, WorkerState

from stagedeck.config.themes import DEFAULT_THEME, ThemeError
from stagedeck.config.userconfig import UserConfig, key_conflicts
from stagedeck.engine.engine import Engine
from stagedeck.engine.events import Event, Notice, RecipeReloaded
from stagedeck.engine.recipe_diff import ReloadOutcome
from stagedeck.operations.policy import ReadOnly
from stagedeck.recipe.errors import ConfigError
from stagedeck.startup_gc import resume_gc
from stagedeck.store.identity import current_user
from stagedeck.store.shared import FailureView, SharedSnapshot, SharedState
from stagedeck.suites.runner import SuiteRunner
from stagedeck.triage.live import TriageMonitor, monitor_for
from stagedeck.triage.model import Ranking, SuspectsChanged
from stagedeck.tui import messages
from stagedeck.tui.controller import ActionController
from stagedeck.tui.fresh_css import styled_now
from stagedeck.tui.lifecycle import guard_resume_signal, log_file
from stagedeck.tui.messages import ExplainRequested, JumpTo
from stagedeck.tui.palette import SEMANTIC_DEFAULTS
from stagedeck.tui.screens.help import HelpScreen
from stagedeck.tui.screens.main import MainScreen
from stagedeck.tui.theming import register_all, reload_file, theme_dirs
from stagedeck.tui.ticker import Ticker

if TYPE_CHECKING:
    from stagedeck.engine.reload import RecipeWatcher

log = logging.getLogger("stagedeck.tui")

FREEZE_AFTER_SECONDS = 3.0
"""By then the first frame is out and the deferred imports (httpx, plotext) are in."""


class StagedeckApp(App[int]):
    """A view on an engine. The engine is started here and stopped by whoever ran us."""

    CSS_PATH = [Path(__file__).with_name("app.tcss"), Path(__file__).with_name("triage.tcss")]
    TITLE = "stagedeck"
    ENABLE_COMMAND_PALETTE = True
    BINDINGS = [
        Binding(
            "q",
            "quit",
            "Quit",
            tooltip="Quit (an attached cockpit detaches; one on its own stops its services)",
            id="app.quit",
        ),
        Binding("question_mark", "help", "Help", key_display="?", id="app.help"),
        Binding(
            "colon",
            "palette",  # not "command_palette": the footer's ^p entry would give way to it
            "Commands",
            key_display=":",
            show=False,  # ^p palette is in the footer already
            tooltip="The command palette: every keybound action by name (as k9s's ':')",
            id="app.palette",
        ),
        Binding(
            "w",
            "why",
            "Why",
            show=False,
            tooltip="Why: ranked suspects with their evidence (on the selected service)",
            id="triage.why",
        ),
        Binding("tab", "focus_next", "Next panel", show=False, id="app.focus_next"),
        Binding(
            "r",
            "redeploy",
            "Redeploy",
            tooltip="Redeploy the selected service",
            id="action.redeploy",
        ),
        Binding(
            "R",
            "redeploy_all",
            "All",
            tooltip="Bring up / redeploy everything in order",
            id="action.redeploy_all",
        ),
        Binding(
            "s",
            "reseed",
            "Reseed",
            tooltip="Reload test data (the recipe's seeds)",
            id="action.reseed",
        ),
        Binding(
            "L", "lease", "Lease", tooltip="Take, renew or release the lease", id="action.lease"
        ),
        Binding(
            "F",
            "fault",
            "Fault",
            show=False,
            tooltip="Inject a temporary fault into the selected service (or lift faults)",
            id="action.fault",
        ),
        Binding(
            "ctrl+x",
            "stop_environment",
            "Stop env",
            show=False,
            tooltip="Stop the environment process (for everyone watching)",
            id="envproc.stop",
        ),
        Binding(
            "ctrl+r",
            "restart_environment",
            "Restart env",
            show=False,
            tooltip="Start the environment process again after it went away",
            id="envproc.restart",
        ),
        Binding("1", "view('overview')", "Overview", show=False, id="view.overview"),
        Binding("2", "view('logs')", "Logs", show=False, id="view.logs"),
        Binding("3", "view('graph')", "Graph", show=False, id="view.graph"),
        Binding("4", "view('charts')", "Charts", show=False, id="view.charts"),
        Binding("5", "view('suites')", "Suites", show=False, id="view.suites"),
        Binding("6", "view('activity')", "Activity", show=False, id="view.activity"),
        Binding("7", "view('traces')", "Traces", show=False, id="view.traces"),
        Binding("8", "view('gate')", "Gate", show=False, id="view.gate"),
        Binding(
            "X",
            "scenario",
            "Scenario",
            show=False,
            tooltip="Rehearse one of the recipe's failure scenarios",
            id="action.scenario",
        ),
    ]

    VIEWS = ("overview", "logs", "graph", "charts", "suites", "activity", "traces", "gate")
    """Each view is a Textual mode with its own screen stack, so switching keeps state."""
    DEFAULT_MODE = "overview"
    """The overview is the mode the app composes first: no empty default screen, and no
    switch to the overview after mount (that restyled every widget of it a second time)."""

    def __init__(
        self,
        engine: Engine,
        *,
        config: UserConfig | None = None,
        theme: str | None = None,
        read_only: ReadOnly | None = None,
        shared: SharedState | None = None,
        user: str = "",
        suites_workdir: Path | None = None,
        start_engine: bool = True,
        watch_themes: bool = True,
        watch_recipe: bool | None = None,
        theme_folders: list[Path] | None = None,
        replay: Iterable[Event] = (),
    ) -> None:
        super().__init__()
        self.engine = engine
        self.ticker = Ticker()
        """The one clock the views' periodic polls run on (see tui/ticker.py)."""
        self._replay = list(replay)
        """Events the engine published before this app subscribed (it started first)."""
        self.config = config or UserConfig()
        self._start_engine = start_engine
        self._watch_themes = watch_themes
        self._watch_recipe = start_engine if watch_recipe is None else watch_recipe
        self._theme_dirs = theme_folders if theme_folders is not None else theme_dirs()
        self._theme_errors = register_all(self, self._theme_dirs)
        wanted = theme or self.config.theme or DEFAULT_THEME
        self._wanted_theme = wanted
        self.theme = wanted if self.get_theme(wanted) else DEFAULT_THEME
        ascii_graph = self.config.ascii_graph
        self.add_mode("overview", lambda: MainScreen(engine, ascii_graph=ascii_graph))
        self.triage: TriageMonitor = monitor_for(engine)
        """The engine's live triage ranking; the cockpit starts it and listens to it."""
        self.ranking: Ranking = self.triage.ranking
        """The environment's current ranking of suspects (views get it through the signal)."""
        self.suspects_signal: Signal[Ranking] = Signal(self, "suspects")
        """Published with each new ranking, only when triage says the suspects changed."""
        self._unsubscribe = engine.subscribe(self._on_engine_event)
        self._unsubscribe_triage = self.triage.subscribe(self._on_suspects)
        self.read_only = read_only or ReadOnly.from_sources(
            flag=False, recipe=engine.recipe.environment.read_only, config=self.config.read_only
        )
        self.shared = shared
        self.recipe_watcher: RecipeWatcher | None = None
        self.banners: dict[str, str] = {}
        """Problems shown in the banner, by source ('database', 'recipe')."""
        self._help_screens: dict[tuple[str, str, tuple[tuple[str, str], ...]], str] = {}
        """Installed help screens by (screen, focused widget, key map): shown again, not rebuilt."""
        if shared is not None:
            shared.subscribe(self._on_shared)
        self.user = user or current_user(self.config.user or None)
        self.suites = SuiteRunner(engine.recipe, workdir=suites_workdir)
        self.controller = ActionController(
            self, engine, self.read_only, shared, suites=self.suites, user=self.user
        )

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        """Every keybound action is in the command palette too, with its key."""
        yield from super().get_system_commands(screen)
        seen: set[str] = set()
        sources: list[Any] = [self, screen]
        if screen.focused is not None:
            sources.append(screen.focused)
        for node in sources:
            for binding in node.BINDINGS:
                if not isinstance(binding, Binding) or not binding.description:
                    continue
                if binding.action in seen or binding.action in ("quit", "help", "palette"):
                    continue
                seen.add(binding.action)
                key = self.config.keys.get(binding.id or "", binding.key_display or binding.key)
                yield SystemCommand(
                    f"{binding.tooltip or binding.description}",
                    f"key: {key}" + (f" · {binding.id}" if binding.id else ""),
                    partial(self._run_from_palette, node, binding.action),
                )
        for view in self.VIEWS:
            yield SystemCommand(f"View: {view}", "switch view", partial(self.switch_mode, view))

    def action_palette(self) -> None:
        """``:`` as k9s has it: the command palette (also on ^p)."""
        self.action_command_palette()

    def _run_from_palette(self, node: Any, action: str) -> None:
        self.call_later(self.run_action, action, node)

    def unknown_key_ids(self) -> list[str]:
        """Remapped binding ids that no binding has (a typo would otherwise do nothing)."""
        known = all_binding_ids()
        return sorted(set(self.config.keys) - known)

    def add_mode(self, mode: str, base_screen: str | Callable[[], Screen[Any]]) -> None:
        """A view's screen opens without re-parsing every stylesheet (see tui/fresh_css.py)."""
        if callable(base_screen):
            base_screen = styled_now(self, base_screen)
        super().add_mode(mode, base_screen)

    def get_theme_variable_defaults(self) -> dict[str, str]:
        return dict(SEMANTIC_DEFAULTS)

    def on_mount(self) -> None:
        if self.config.keys:
            remaps = dict(self.config.keys)
            refused = key_conflicts(remaps, all_binding_keys())
            for binding_id in refused:
                del remaps[binding_id]
            self.set_keymap(remaps)
            if refused:
                self.notify(
                    f"{self.config.path or 'your config'}: [keys] not applied (quit and help"
                    " must keep a key): " + "; ".join(f"{i}: {why}" for i, why in refused.items()),
                    severity="error",
                    timeout=20,
                    markup=False,
                )
            unknown = self.unknown_key_ids()
            if unknown:
                where = self.config.path or "your config"
                self.notify(
                    f"{where}: [keys] names no binding {', '.join(unknown)}; "
                    "press ? to see every binding id",
                    severity="warning",
                    timeout=10,
                    markup=False,
                )
        engine = self.engine
        ascii_graph = self.config.ascii_graph
        # The overview is DEFAULT_MODE (added in __init__). The other views are imported
        # when first opened: start-up only pays for the overview.
        self.add_mode("graph", lambda: _screens().GraphScreen(engine, ascii_graph=ascii_graph))
        self.add_mode(
            "charts", lambda: _screens().GraphScreen(engine, ascii_graph=ascii_graph, charts=True)
        )
        self.add_mode("logs", lambda: _screens().LogsScreen(engine))
        self.add_mode(
            "suites",
            lambda: _screens().SuitesScreen(engine, self.suites, self.shared, self.user),
        )
        self.add_mode("activity", lambda: _screens().ActivityScreen(engine, self.shared))
        self.add_mode("traces", lambda: _screens().TracesScreen(engine))
        self.add_mode("gate", lambda: _screens().GateScreen(self))
        self.call_after_refresh(resume_gc)  # paused for start-up (stagedeck/startup_gc.py)
        if self.shared is not None:
            # After the first frame: opening the database imports sqlite-utils (0.15 s of
            # CPU in a thread, holding the GIL the first frame is drawn with).
            self.call_after_refresh(self.shared.start)
        for error in self._theme_errors:
            self.show_config_error(error, "theme")
        if self.theme != self._wanted_theme:
            self.notify(
                f"no theme named '{self._wanted_theme}'; using {self.theme}",
                severity="warning",
            )
        if getattr(self.engine, "remote", False):
            from stagedeck.tui.attached import install

            install(self)
        for event in self._replay:
            self._on_engine_event(event)
        self._replay.clear()
        if self._start_engine:
            # After the first frame: the frame is drawn from the recipe, then filled in.
            # Starting local processes keeps the loop busy (500 of them: six seconds with
            # no frame at all); a remote target was already started by tui/launch.py.
            self.call_after_refresh(self._start_engine_now)
        # Triage ranks what the engine sees, whoever started the engine; it recomputes on
        # status changes and new probes or errors, and says when the suspects change.
        # Ranked once now, so the first frame already shows what the engine knows.
        self.triage.recompute()
        self.triage.start()
        # File watching waits for the first frame (importing watchfiles alone was 0.17 s
        # of start-up on the event loop).
        self.call_after_refresh(self._start_watchers)
        guard_resume_signal(lambda: self.is_running)
        self.set_timer(FREEZE_AFTER_SECONDS, self._freeze_startup_objects)

    async def on_unmount(self) -> None:
        """Triage was started with the cockpit and stops with it (its task is on our loop)."""
        self._unsubscribe_triage()
        await self.triage.stop()
        # The engine may outlive this app (tests, a second cockpit on one engine).
        self._unsubscribe()
        # Quitting mid-action: the audit log must not say "running" forever.
        await self.controller.ops.close()

    def _start_engine_now(self) -> None:
        self.run_worker(self.engine.start(), name="starting the environment", exit_on_error=False)

    def _freeze_startup_objects(self) -> None:
        """Exempt what start-up built (modules, classes, widgets: most of the heap) from
        garbage collection. A full collection otherwise walks all of it, which took
        120 ms at a time under a log flood; now it walks only what came since."""
        gc.collect()
        gc.freeze()

    @on(Worker.StateChanged)
    def report_failed_worker(self, event: Worker.StateChanged) -> None:
        """The one place a failed worker is reported. Workers run with
        ``exit_on_error=False`` (a failed action must not close the cockpit) and would
        otherwise fail in silence: the user gets a notification naming the action, the
        log file the traceback. Every worker the app runs (the controller's actions,
        the watchers, screens' ``self.app.run_worker``) reports here."""
        if event.state is not WorkerState.ERROR:
            return
        worker, error = event.worker, event.worker.error
        what = worker.name or worker.group
        log.error(
            "%s failed", what, exc_info=(type(error), error, error.__traceback__) if error else None
        )
        where = log_file()
        hint = ""
        if "Too many open files" in str(error) and "watch" in str(what):
            # inotify instances are per user and few (128 by default); dockerd following
            # many containers' logs, editors and other watchers use them up.
            hint = (
                "\nthe system's file-watch limit is used up: raise it with "
                "`sysctl fs.inotify.max_user_instances=1024`; until a restart, edits are "
                "not picked up"
            )
        self.notify(
            f"{what} failed: {type(error).__name__}: {error}{hint}"
            + (f"\n(traceback in {where})" if where else ""),
            severity="error",
            timeout=12,
            markup=False,
        )

    def show_config_error(self, error: ConfigError, what: str) -> None:
        """One notification per bad file, naming file, line and key."""
        lines = "\n".join(str(p) for p in error.problems)
        self.notify(f"{what} not loaded:\n{lines}", severity="error", timeout=12, markup=False)

    def _start_watchers(self) -> None:
        if self._watch_recipe:
            self.watch_recipe_file()
        if self._watch_themes:
            self.watch_theme_files()

    @work(exclusive=True, group="theme-watch", name="watching theme files", exit_on_error=False)
    async def watch_theme_files(self) -> None:
        """Hot reload: a saved theme file applies at once; a broken one leaves the old in place."""
        awatch = (await asyncio.to_thread(importlib.import_module, "watchfiles")).awatch

        folders = [d for d in self._theme_dirs if d.is_dir()]
        if not folders:
            return
        # step: how often the watcher's thread wakes to look (1 s: ten wake-ups a second
        # fewer at idle; a saved theme applies within about a second).
        async for changes in awatch(*folders, debounce=200, step=1000):
            for _, changed in changes:
                path = Path(changed)
                if path.suffix == ".toml" and path.exists():
                    self.apply_theme_file(path)

    def apply_theme_file(self, path: Path) -> None:
        try:
            name = reload_file(self, path)
        except ThemeError as error:
            self.show_config_error(error, "theme")
            return
        if name == self.theme:
            self.refresh_css(animate=False)
            self.theme_changed_signal.publish(self.current_theme)
        self.notify(f"theme {name} reloaded", timeout=3)

    def _on_shared(self, snapshot: SharedSnapshot) -> None:
        # What other people did to the environment (a redeploy from their cockpit or shell)
        # is evidence for triage. Our own actions it already saw on the engine; entries do
        # not say which session wrote them, so all of this user's are left out (the cost:
        # the same user's redeploy from another shell is not evidence here).
        me = getattr(self, "user", None)  # the first call comes from __init__, before it is set
        others = [e for e in snapshot.audit if e.user != me] if me else []
        if others:
            from stagedeck.triage.snapshot import changes_from_audit

            self.triage.add_changes(changes_from_audit(others))
        if snapshot.problem:
            self.banners["database"] = (
                f"⚠ {snapshot.problem} — the cockpit keeps running; "
                "fix the file or pass --db PATH, then restart to enable annotations."
            )
        else:
            self.banners.pop("database", None)

    @work(exclusive=True, group="recipe-watch", name="watching the recipe", exit_on_error=False)
    async def watch_recipe_file(self) -> None:
        """Living recipes: a valid save applies live; a broken one raises the banner."""
        from stagedeck.engine.reload import watch_engine

        watcher = watch_engine(self.engine, on_outcome=self._on_reload)
        self.recipe_watcher = watcher  # its ``ready`` says when saves are seen
        await watcher.run()

    def _on_reload(self, outcome: ReloadOutcome) -> None:
        self.suites.recipe = self.engine.recipe
        if outcome.rejected:
            self.banners["recipe"] = f"⚠ {outcome.describe()}"
            return
        # describe() already says "recipe reloaded: …"; prefixing it again doubled it.
        self.notify(outcome.describe(), timeout=6, markup=False)
        if outcome.needs_restart:
            self.controller.restart_changed(list(outcome.needs_restart))

    def _on_suspects(self, event: SuspectsChanged) -> None:
        self.ranking = event.ranking
        self.suspects_signal.publish(event.ranking)

    def _on_engine_event(self, event: Event) -> None:
        if isinstance(event, RecipeReloaded):
            self.suites.recipe = self.engine.recipe
            if event.problems:
                self.banners["recipe"] = (
                    "⚠ recipe not reloaded; still running on the last good one:\n  "
                    + "\n  ".join(event.problems)
                )
            else:
                self.banners.pop("recipe", None)
            return
        if isinstance(event, Notice):
            self.notify(event.message, severity=event.severity, timeout=6, markup=False)  # type: ignore[arg-type]

    def action_help(self) -> None:
        sections = [("Global", [b for b in self.BINDINGS if isinstance(b, Binding)])]
        for node in reversed(self.screen.focus_chain if self.focused is None else [self.focused]):
            own = [b for b in node.BINDINGS if isinstance(b, Binding)]
            sections.insert(0, (type(node).__name__, own))
        screen_bindings = [b for b in self.screen.BINDINGS if isinstance(b, Binding)]
        if screen_bindings:
            sections.insert(1, ("Cockpit", screen_bindings))
        keys = self.current_keys()
        # Composing and laying out the help table is most of a key press's cost; the
        # screen is kept (installed) per context, so the second `?` only shows it again.
        context = (
            type(self.screen).__name__,
            type(self.focused).__name__,
            tuple(sorted(keys.items())),
        )
        name = self._help_screens.get(context)
        if name is None:
            name = self._help_screens[context] = f"help-{len(self._help_screens)}"
            self.install_screen(HelpScreen(sections, keys), name)
        self.push_screen(name)

    def selected_service(self) -> str | None:
        """The service the current view has selected (actions apply to it)."""
        return getattr(self.screen, "selected_service", None)

    def action_why(self) -> None:
        self.post_message(ExplainRequested(service=self.selected_service()))

    @on(ExplainRequested)
    def _explain(self, request: ExplainRequested) -> None:
        from stagedeck.tui.navigation import explain_screen

        self.push_screen(explain_screen(self, request))

    @on(JumpTo)
    async def _jump(self, request: JumpTo) -> None:
        from stagedeck.tui.navigation import jump
        from stagedeck.tui.screens.explain import ExplainScreen

        if isinstance(self.screen, ExplainScreen):
            await self.pop_screen()
        await jump(self, request.where)

    def action_redeploy(self) -> None:
        self.controller.redeploy(self.selected_service())

    def action_redeploy_all(self) -> None:
        self.controller.redeploy_all()

    def action_reseed(self) -> None:
        self.controller.reseed()

    def action_lease(self) -> None:
        self.controller.lease()

    def action_fault(self) -> None:
        self.controller.fault(self.selected_service())

    def action_scenario(self) -> None:
        """Choose one of the recipe's scenarios; its fault is confirmed like any other."""
        from stagedeck.tui.screens.scenario import ScenarioScreen

        scenarios = self.engine.recipe.scenarios
        if not scenarios:
            self.notify("the recipe has no [scenarios.NAME]", severity="warning")
            return

        def chosen(name: str | None) -> None:
            if name:
                self.controller.scenario(name)

        self.push_screen(ScenarioScreen(dict(scenarios)), chosen)

    async def on_gate_screen_jump(self, message: Any) -> None:
        """A failed criterion's evidence: its failing tests, its latency chart, its suspect."""
        c = message.criterion
        if c.jump.value == "tests":
            await self.switch_mode("suites")
            show = getattr(self.screen, "show_failure", None)
            if show is not None and c.tests:
                show(c.tests[0])
        elif c.jump.value == "suspect" and c.suspects:
            # The explain view (`w`) on the criterion's own suspects, as the verdict stored them.
            from stagedeck.triage.model import ranking_from_rows
            from stagedeck.tui.screens.explain import ExplainScreen

            ranking = ranking_from_rows(list(c.suspects), subject=c.title)
            run = message.run_id
            title = f"why the gate failed: {c.title}" + (f" (run {run})" if run else "")
            await self.push_screen(ExplainScreen(ranking, live=False, title=title, note=c.summary))
        elif c.jump.value in ("chart", "suspect", "service") and c.service:
            await self.switch_mode("charts" if c.jump.value == "chart" else "graph")
            show = getattr(self.screen, "show_service", None)
            if show is not None:
                show(c.service)

    def run_suites(self, names: list[str]) -> None:
        self.controller.run_suites(names)

    def annotate(self, view: FailureView, edit: Any = None) -> None:
        self.controller.annotate(view, edit)

    def delete_annotation(self, note: Any) -> None:
        self.controller.delete_annotation(note)

    # ---------------------------------------------------------- requests from the views

    @on(messages.RunSuites)
    def _run_suites_requested(self, request: messages.RunSuites) -> None:
        self.run_suites(list(request.names))

    @on(messages.CancelSuite)
    def _cancel_suite_requested(self, request: messages.CancelSuite) -> None:
        if not self.suites.cancel(request.name):
            self.notify(f"{request.name} is not running", severity="warning", markup=False)

    @on(messages.Annotate)
    def _annotate_requested(self, request: messages.Annotate) -> None:
        self.annotate(request.failure, request.edit)

    @on(messages.DeleteAnnotation)
    def _delete_annotation_requested(self, request: messages.DeleteAnnotation) -> None:
        self.delete_annotation(request.note)

    @on(messages.OpenTrace)
    async def _open_trace_requested(self, request: messages.OpenTrace) -> None:
        await self.open_trace(request.trace_id)

    @on(messages.OpenLogs)
    async def _open_logs_requested(self, request: messages.OpenLogs) -> None:
        await self.open_logs_for(request.service)

    @on(messages.OpenSpanLogs)
    async def _open_span_logs_requested(self, request: messages.OpenSpanLogs) -> None:
        await self.open_logs_for_span(
            request.service, request.request_id, request.trace_id, request.at
        )

    def action_view(self, name: str) -> None:
        if name in self.VIEWS:
            self.switch_mode(name)

    async def open_logs_for(self, service: str) -> None:
        # Awaited: the first time, the explorer is composed during the switch.
        await self.switch_mode("logs")
        screen = self.screen
        if isinstance(screen, _screens().LogsScreen):
            screen.show_service(service)

    async def open_trace(self, trace_id: str) -> bool:
        """Show one trace's waterfall over the traces view; False if it is not held."""
        store = self.engine.traces
        trace = store.get(trace_id) if store is not None else None
        if trace is None:
            return False
        await self.switch_mode("traces")
        await self.push_screen(_screens().WaterfallScreen(self.engine, trace))
        return True

    async def open_logs_for_span(self, service: str, rid: str, trace_id: str, at: float) -> None:
        """The log lines of ``service`` for the request a span belongs to, at the span's time."""
        await self.switch_mode("logs")
        screen = self.screen
        if isinstance(screen, _screens().LogsScreen):
            screen.show_span(service, rid, trace_id, at)

    def current_keys(self) -> dict[str, str]:
        """Binding id → key in force now (after the user's remaps), for the help screen."""
        return dict(self.config.keys)

    async def action_quit(self) -> None:
        if getattr(self.engine, "remote", False):
            self.notify("detaching; the environment keeps running for others", timeout=2)
        else:
            self.notify("stopping services…", timeout=2)
        self.exit(0)

    def action_stop_environment(self) -> None:
        from stagedeck.tui.attached import stop_environment

        stop_environment(self)

    def action_restart_environment(self) -> None:
        from stagedeck.tui.attached import restart_environment

        restart_environment(self)


def all_binding_ids() -> set[str]:
    """The id of every binding in the cockpit (for validating a user's key remaps)."""
    return set(all_binding_keys())


def all_binding_keys() -> dict[str, str]:
    """Every binding's id and default key(s) in the cockpit."""
    from textual.widget import Widget

    screens = _screens()
    from stagedeck.tui.screens.confirm import ConfirmScreen
    from stagedeck.tui.screens.explain import ExplainScreen
    from stagedeck.tui.screens.help import HelpScreen
    from stagedeck.tui.widgets.charts import ChartsPanel
    from stagedeck.tui.widgets.graph import GraphView
    from stagedeck.tui.widgets.logview import LogView
    from stagedeck.tui.widgets.services import ServicesTable
    from stagedeck.tui.widgets.table import KeyTable

    classes: list[type[Any]] = [
        StagedeckApp,
        MainScreen,
        screens.LogsScreen,
        screens.SuitesScreen,
        screens.ActivityScreen,
        screens.GraphScreen,
        screens.TracesScreen,
        screens.WaterfallScreen,
        screens.GateScreen,
        ConfirmScreen,
        ExplainScreen,
        HelpScreen,
        ChartsPanel,
        GraphView,
        LogView,
        KeyTable,
        ServicesTable,
        Widget,
    ]
    return {
        b.id: b.key
        for cls in classes
        for b in getattr(cls, "BINDINGS", [])
        if isinstance(b, Binding) and b.id
    }


def _screens() -> Any:
    """The views other than the overview, imported on first use."""
    from types import SimpleNamespace

    from stagedeck.tui.screens.activity import ActivityScreen
    from stagedeck.tui.screens.gate import GateScreen
    from stagedeck.tui.screens.graph import GraphScreen
    from stagedeck.tui.screens.logs import LogsScreen
    from stagedeck.tui.screens.suites import SuitesScreen
    from stagedeck.tui.screens.traces import TracesScreen, WaterfallScreen

    return SimpleNamespace(
        ActivityScreen=ActivityScreen,
        GateScreen=GateScreen,
        GraphScreen=GraphScreen,
        LogsScreen=LogsScreen,
        SuitesScreen=SuitesScreen,
        TracesScreen=TracesScreen,
        WaterfallScreen=WaterfallScreen,
    )
