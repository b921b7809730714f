"""The dependency graph: every service as a box coloured by health, edges between layers.

Three things are told apart at a glance: the **root failure** (down while all
its dependencies are healthy: where to look first) is drawn reversed and bold
with ``✖``; a service that is down only because something below it is down
keeps ``✖`` without the emphasis; a service that is up but has a down
dependency is **impacted** (``⚠``, the theme's ``$impacted``), and so are the
edges the failure travels along; so is a service the triage ranking names as
impacted by a suspect that is not down yet (a hang shows as degraded first).
The **top suspect** of the live triage ranking (what most likely broke, which
may be degraded rather than down) is drawn reversed in the theme's
``$suspect`` with ``◆`` (``S`` in ASCII) in place of its health mark.

Selecting a service (``j``/``k`` in dependency order, ``h``/``l`` across
layers, or a click) highlights what it needs and what needs it, edges too, and
posts :class:`GraphView.Selected`.

The layout (core: :mod:`stagedeck.engine.graph_layout`) is computed once per recipe;
the view restyles its rows only when ``engine.version``, the selection or the
theme changed, checked four times a second and not at all while hidden, and
renders only the rows on screen (Line API).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip
from textual.widgets import Static

from stagedeck.engine.clock import wall
from stagedeck.engine.engine import Engine, Transition
from stagedeck.engine.events import Health
from stagedeck.engine.graph import DependencyGraph
from stagedeck.engine.graph_layout import Edge, GraphLayout, Role, layout_graph
from stagedeck.recipe.model import Recipe
from stagedeck.triage.conditions import DOWN, IMPACTED, ROOT, Condition, conditions
from stagedeck.triage.model import Ranking, SubjectKind, Suspect
from stagedeck.tui.palette import HEALTH_SYMBOL, style
from stagedeck.tui.ticker import every
from stagedeck.tui.widgets.suspects import SUSPECT_LABEL, SUSPECT_MARK, SUSPECT_MARK_ASCII

POLL_SECONDS = 0.25
SYNC_LAYOUT_NODES = 40
"""Graphs up to this size are laid out at once; larger ones in a thread (about 1 s at 150)."""

MARKERS = {
    ROOT: "✖",
    DOWN: "✖",
    IMPACTED: "⚠",
    **{h.value: s for h, s in HEALTH_SYMBOL.items()},
}
ASCII_MARKERS = {
    ROOT: "X",
    DOWN: "x",
    IMPACTED: "!",
    Health.HEALTHY.value: "*",
    Health.DEGRADED.value: "~",
    Health.DOWN.value: "x",
    Health.UNKNOWN.value: "?",
    Health.UNCHECKED.value: "-",
}
SELECTED_BOX = str.maketrans("╭╮╰╯─│├", "┏┓┗┛━┃┣")
"""The selected service's box is redrawn heavy: visible without colour."""
SELECTED_BOX_ASCII = str.maketrans("+-|", "#=#")


class GraphView(ScrollView, can_focus=True):
    """The dependency DAG of an engine's recipe, live."""

    DEFAULT_CSS = """
    GraphView {
        background: $surface;
        scrollbar-size-vertical: 1;
        scrollbar-size-horizontal: 1;
    }
    GraphView > .graph--edge { color: $foreground 45%; }
    GraphView > .graph--edge-selected { color: $primary; text-style: bold; }
    GraphView > .graph--selected { text-style: bold underline; }
    GraphView > .graph--related { text-style: bold; }
    """

    COMPONENT_CLASSES = {
        "graph--edge",
        "graph--edge-selected",
        "graph--selected",
        "graph--related",
    }

    BINDINGS = [
        Binding("j,down", "next", "Next service", show=False, id="graph.next"),
        Binding("k,up", "previous", "Previous service", show=False, id="graph.previous"),
        Binding("l,right", "layer(1)", "Layer right", show=False, id="graph.right"),
        Binding("h,left", "layer(-1)", "Layer left", show=False, id="graph.left"),
        Binding("g,home", "first", "First service", show=False, id="graph.first"),
        Binding("G,end", "last", "Last service", show=False, id="graph.last"),
        Binding("escape", "clear", "Clear selection", show=False, id="graph.clear"),
    ]

    class Selected(Message):
        """The user picked a service in the graph (None: cleared the selection)."""

        def __init__(self, service: str | None) -> None:
            super().__init__()
            self.service = service

    def __init__(
        self,
        engine: Engine,
        *,
        ascii: bool = False,
        selected: str | None = None,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.engine = engine
        self.ascii = ascii
        self.selected: str | None = selected
        self.suspect: str | None = None
        """The service the triage ranking suspects most (set by the screen)."""
        self.impacted: frozenset[str] = frozenset()
        """Services the triage ranking says are impacted by a suspect (up, but suffering:
        a hung dependency is not *down* yet, so the health-only rule misses them)."""
        self.graph_layout: GraphLayout | None = None
        self.graph: DependencyGraph | None = None
        self._recipe: Recipe | None = None
        self._pending: Recipe | None = None
        self._drawn: tuple[object, ...] | None = None
        self._strips: dict[int, Strip] = {}
        self._styles: dict[Role, Style] = {}
        self._conditions: dict[str, Condition] = {}
        self._related: set[str] = set()
        self._lit: set[Edge] = set()
        self._alarm: set[Edge] = set()
        self.restyles = 0
        """How many times the rows were restyled (tests check that idle views do not)."""
        self._waiting_first_frame = False

    # ------------------------------------------------------------------ lifecycle

    def on_mount(self) -> None:
        if len(self.engine.recipe.graph.nodes) <= SYNC_LAYOUT_NODES:
            self.poll(force=True)
        else:
            # A big graph is laid out in a thread, which holds the GIL for seconds at 500
            # services: it starts after the first frame instead of slowing it down.
            self._waiting_first_frame = True
            self.call_after_refresh(self._after_first_frame)
        every(self, POLL_SECONDS, self.poll)

    def _after_first_frame(self) -> None:
        self._waiting_first_frame = False
        self.poll(force=True)
        self.app.theme_changed_signal.subscribe(self, lambda _: self.poll(force=True))

    def on_show(self) -> None:
        self.poll()

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._drawn = None

    def _paint_key(self) -> tuple[object, ...]:
        """Everything the drawn graph depends on: the same key decides both early exits."""
        return (
            self.engine.version,
            self.selected,
            self.suspect,
            self.impacted,
            self.app.theme,
            id(self.graph_layout),
        )

    def poll(self, force: bool = False) -> None:
        """Re-lay out on a new recipe; restyle when status, selection or theme changed."""
        if self._waiting_first_frame:
            return
        recipe = self.engine.recipe
        if (
            not force
            and recipe is self._recipe
            and self.graph_layout is not None
            and self._paint_key() == self._drawn
        ):
            return  # nothing changed: no need to ask whether we are on screen
        if not force and not self.is_on_screen:
            return
        if recipe is not self._recipe and recipe is not self._pending:
            self._relayout(recipe)
        if self.graph_layout is None:
            return
        key = self._paint_key()
        if force or key != self._drawn:
            self._drawn = key
            self._restyle()
            self.refresh()

    def show_suspect(self, service: str | None, impacted: frozenset[str] = frozenset()) -> None:
        """Mark ``service`` as the top suspect (None: nothing suspected) and ``impacted`` as
        impacted. Restyled when next shown, not before."""
        if (service, impacted) == (self.suspect, self.impacted):
            return
        self.suspect, self.impacted = service, impacted
        self.poll()

    def _relayout(self, recipe: Recipe) -> None:
        graph = recipe.graph
        if len(graph.nodes) <= SYNC_LAYOUT_NODES:
            self._apply_layout(recipe, graph, layout_graph(graph, ascii=self.ascii))
            return
        self._pending = recipe

        def work() -> None:
            result = layout_graph(graph, ascii=self.ascii)
            self.app.call_from_thread(self._apply_layout, recipe, graph, result)

        self.run_worker(work, thread=True, exclusive=True, group="graph-layout")

    def _apply_layout(self, recipe: Recipe, graph: DependencyGraph, layout: GraphLayout) -> None:
        self._recipe, self._pending = recipe, None
        self.graph, self.graph_layout = graph, layout
        if self.selected not in layout.nodes:
            self.selected = None
        self.virtual_size = Size(layout.width, layout.height)
        self._drawn = None
        self.poll(force=True)

    # ------------------------------------------------------------------ state

    def _restyle(self) -> None:
        assert self.graph is not None and self.graph_layout is not None
        graph = self.graph
        self.restyles += 1
        self._conditions = conditions(self.engine, graph)
        for name in self.impacted:
            cond = self._conditions.get(name)
            if cond is not None and cond.kind not in (ROOT, DOWN):
                self._conditions[name] = Condition(IMPACTED, "impacted")
        self._styles.clear()
        self._strips.clear()
        troubled = {n for n, c in self._conditions.items() if c.kind in (ROOT, DOWN, IMPACTED)}
        if self.suspect is not None:
            troubled.add(self.suspect)  # the trouble travels from the suspect too
        edges = self.graph_layout.edges
        self._alarm = {(a, b) for a, b in edges if a in troubled and b in troubled}
        self._related = set()
        self._lit = set()
        sel = self.selected
        if sel is None:
            return
        needs = set(graph.ancestors(sel))
        needed_by = set(graph.dependents(sel))
        self._related = needs | needed_by
        for a, b in self.graph_layout.edges:
            if (a in needs and (b == sel or b in needs)) or (
                b in needed_by and (a == sel or a in needed_by)
            ):
                self._lit.add((a, b))

    def _style(self, role: Role) -> Style:
        cached = self._styles.get(role)
        if cached is not None:
            return cached
        app = self.app
        result = Style()
        if role.node is not None:
            cond = self._conditions.get(role.node)
            colour = cond.colour if cond else "unknown"
            root = cond is not None and cond.kind == ROOT
            suspect = role.node == self.suspect
            if suspect:
                colour = "suspect"
            result = style(app, colour, bold=root or suspect)
            if (root or suspect) and role.part in ("label", "marker"):
                result += Style(reverse=True)
            if role.part == "label":
                if role.node == self.selected:
                    result += self.get_component_rich_style("graph--selected", partial=True)
                elif role.node in self._related:
                    result += self.get_component_rich_style("graph--related", partial=True)
            elif role.node == self.selected:
                result += Style(bold=True)
        elif role.edges:
            if role.edges & self._lit:
                result = self.get_component_rich_style("graph--edge-selected", partial=True)
            elif role.edges & self._alarm:
                result = style(app, "impacted")
            else:
                result = self.get_component_rich_style("graph--edge", partial=True)
        self._styles[role] = result
        return result

    def _row(self, y: int) -> Strip:
        strip = self._strips.get(y)
        if strip is not None:
            return strip
        assert self.graph_layout is not None
        markers = ASCII_MARKERS if self.ascii else MARKERS
        heavy = SELECTED_BOX_ASCII if self.ascii else SELECTED_BOX
        segments: list[Segment] = []
        for _, text, role in self.graph_layout.runs(y):
            if role.node is not None:
                if role.part == "marker" and role.node == self.suspect:
                    text = SUSPECT_MARK_ASCII if self.ascii else SUSPECT_MARK
                elif role.part == "marker":
                    cond = self._conditions.get(role.node)
                    text = markers.get(cond.kind if cond else "unknown", "?")
                elif role.part == "border" and role.node == self.selected:
                    text = text.translate(heavy)
            segments.append(Segment(text, self._style(role)))
        strip = Strip(segments, self.graph_layout.width)
        self._strips[y] = strip
        return strip

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.scrollable_content_region.width
        base = self.rich_style
        if self.graph_layout is None or not 0 <= row < self.graph_layout.height:
            if self.graph_layout is None and y == 0:
                return Strip([Segment(" laying out…", Style(dim=True))]).extend_cell_length(
                    width, base
                )
            return Strip.blank(width, base)
        strip = self._row(row).crop(scroll_x, scroll_x + width)
        return strip.extend_cell_length(width).apply_style(base)

    # ------------------------------------------------------------------ selection

    def select(self, service: str | None, *, notify: bool = False) -> None:
        """Select ``service`` (None clears); ``notify`` posts :class:`Selected` (user action)."""
        layout = self.graph_layout
        if layout is not None and service is not None and service not in layout.nodes:
            return
        if service == self.selected:
            return
        self.selected = service
        self.poll(force=True)
        if service is not None and self.graph_layout is not None:
            box = self.graph_layout.nodes[service]
            self.scroll_to_region(
                Region(box.x, box.y, box.width, box.height), animate=False, immediate=True
            )
        if notify:
            self.post_message(self.Selected(service))

    def _move_to(self, index: int) -> None:
        if self.graph_layout is None or not self.graph_layout.order:
            return
        order = self.graph_layout.order
        self.select(order[max(0, min(len(order) - 1, index))], notify=True)

    def _index(self) -> int | None:
        if self.graph_layout is None or self.selected is None:
            return None
        return self.graph_layout.order.index(self.selected)

    def action_next(self) -> None:
        index = self._index()
        self._move_to(0 if index is None else index + 1)

    def action_previous(self) -> None:
        index = self._index()
        self._move_to(0 if index is None else index - 1)

    def action_first(self) -> None:
        self._move_to(0)

    def action_last(self) -> None:
        if self.graph_layout is not None:
            self._move_to(len(self.graph_layout.order) - 1)

    def action_clear(self) -> None:
        self.select(None, notify=True)

    def action_layer(self, step: int) -> None:
        """Move to the nearest service (by row) in the next layer left or right."""
        layout = self.graph_layout
        if layout is None or not layout.order:
            return
        if self.selected is None:
            self._move_to(0)
            return
        here = layout.nodes[self.selected]
        layers = sorted({b.layer for b in layout.nodes.values()})
        target_layer = here.layer + step
        if target_layer not in layers:
            return
        candidates = [b for b in layout.nodes.values() if b.layer == target_layer]
        best = min(candidates, key=lambda b: (abs(b.centre_row - here.centre_row), b.y))
        self.select(best.name, notify=True)

    def on_click(self, event: events.Click) -> None:
        layout = self.graph_layout
        if layout is None:
            return
        offset = event.get_content_offset(self)
        if offset is None:
            return
        x = offset.x + self.scroll_offset.x
        y = offset.y + self.scroll_offset.y
        if 0 <= y < layout.height and 0 <= x < layout.width:
            role = layout.roles[y][x]
            if role.node is not None:
                self.select(role.node, notify=True)


# --------------------------------------------------------------------------- details


def _clock_time(at: float, now: float) -> str:
    stamp = time.strftime("%H:%M:%S", time.localtime(at))
    return f"{stamp} ({_ago(now - at)} ago)"


def _ago(seconds: float) -> str:
    """Coarse like the services table's ages: each change of the text repaints the panel."""
    seconds = max(0.0, seconds)
    if seconds < 10:
        return f"{int(seconds)}s"
    if seconds < 60:
        return "<1m"
    if seconds < 3600:
        return f"{int(seconds // 60)}m"
    if seconds < 86400:
        return f"{int(seconds // 3600)}h"
    return f"{int(seconds // 86400)}d"


def _ms(value: float | None) -> str:
    return "–" if value is None else f"{value:.0f} ms"


def last_transitions(engine: Engine, service: str) -> tuple[Transition | None, Transition | None]:
    """The newest recorded transition of ``service`` and the one before it."""
    newest: Transition | None = None
    for t in reversed(engine.transitions):
        if t.service != service:
            continue
        if newest is None:
            newest = t
        else:
            return newest, t
    return newest, None


class LastError:
    """Remembers the newest error line per service, reading only lines added since."""

    def __init__(self) -> None:
        self._seen: dict[str, int] = {}
        self._found: dict[str, tuple[float, str]] = {}

    def get(self, engine: Engine, service: str) -> tuple[float, str] | None:
        ring = engine.logs.ring(service)
        start = max(ring.start, self._seen.get(service, ring.start))
        for index in range(ring.end - 1, start - 1, -1):
            line = ring[index]
            if line.level == "error":
                self._found[service] = (line.ts, line.text)
                break
        self._seen[service] = ring.end
        return self._found.get(service)


class GraphDetails(Static):
    """What the selected service is doing: state, last change, latency, last error, links."""

    DEFAULT_CSS = """
    GraphDetails {
        height: auto;
        min-height: 5;
        padding: 0 1;
        background: $panel;
        text-wrap: nowrap;
        text-overflow: ellipsis;
    }
    """

    def __init__(
        self,
        engine: Engine,
        *,
        clock: Callable[[], float] = wall,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__("", name=name, id=id, classes=classes)
        self.engine = engine
        self.clock = clock
        self.service: str | None = None
        self.suspect: Suspect | None = None
        """The triage ranking's top suspect (set by the panel)."""
        self._errors = LastError()
        self._drawn: tuple[object, ...] | None = None
        self._lines = -1

    def on_mount(self) -> None:
        self.tick(force=True)
        # The services table's clock: a new 10 s slot is drawn in the same frame as the
        # table's slow columns and the chart's new bucket.
        every(self, 0.25, self.tick)

    def show(self, service: str | None) -> None:
        self.service = service
        self.tick(force=True)

    def show_suspect(self, suspect: Suspect | None) -> None:
        if suspect != self.suspect:
            self.suspect = suspect
            self.tick(force=True)

    def tick(self, force: bool = False) -> None:
        """Redraw when status, latency, this service's log or the (coarse) time changed."""
        engine, service = self.engine, self.service
        known = service is not None and service in engine.statuses
        now = self.clock()
        errors = engine.logs.errors(service) if known and service else 0
        suspect = self.suspect.line() if self.suspect else ""
        key = (service, engine.version, errors, int(now // 10), self.app.theme, suspect)
        if not force and key == self._drawn:
            return
        if not force and not self.is_on_screen:
            return
        self._drawn = key
        text = self.describe(now)
        lines = text.plain.count("\n")
        self.update(text, layout=lines != self._lines)
        self._lines = lines

    def describe(self, now: float) -> Text:
        engine, service = self.engine, self.service
        graph = engine.graph
        conds = conditions(engine, graph)
        app = self.app
        if service is None or service not in engine.statuses:
            down = engine.down()
            roots = sorted(graph.root_failures(down))
            impacted = sorted(graph.impacted(down))
            text = Text(f"{len(engine.statuses)} services", style="bold")
            if roots:
                text.append(" · root failure: ")
                text.append(", ".join(roots), style=style(app, "down", bold=True))
            if impacted:
                text.append(" · impacted: ")
                text.append(", ".join(impacted), style=style(app, "impacted"))
            if not roots and not impacted:
                text.append(" · nothing down")
            if self.suspect is not None:
                text.append("\n")
                text.append(
                    f"{SUSPECT_MARK} {SUSPECT_LABEL}: {self.suspect.label}",
                    style=style(app, "suspect", bold=True),
                )
                text.append(f" — {self.suspect.verdict}")
            text.append("\nj/k: select a service · h/l: across layers · esc: clear", style="dim")
            return text
        status = engine.statuses[service]
        cond = conds[service]
        marker = MARKERS.get(cond.kind, "?")
        text = Text()
        text.append(f"{marker} {service}", style=style(app, cond.colour, bold=True))
        text.append(f"  {status.health.value} · {status.state.value}")
        top = self.suspect
        if top is not None and top.kind is SubjectKind.SERVICE and top.name == service:
            mark = style(app, "suspect", bold=True) + Style(reverse=True)
            text.append(f"  {SUSPECT_MARK} {SUSPECT_LABEL.upper()}", style=mark)
        if cond.kind == ROOT:
            text.append("  ROOT FAILURE", style=style(app, "down", bold=True) + Style(reverse=True))
        elif cond.kind in (DOWN, IMPACTED):
            below = [a for a in graph.ancestors(service) if a in conds and conds[a].kind == ROOT]
            label = "down because of " if cond.kind == DOWN else "impacted by "
            text.append(f"  {label}", style=style(app, cond.colour))
            text.append(", ".join(below) or "?", style=style(app, "down", bold=True))
        if status.reason:
            text.append(" · ")
            text.append(status.reason)  # service text: plain, never markup
        if status.restarts:
            text.append(f" · {status.restarts} restarts")

        newest, before = last_transitions(engine, service)
        text.append("\nlast change ", style="dim")
        if newest is None:
            text.append("none recorded")
        else:
            text.append(_clock_time(newest.at, now))
            was = f"{before.state.value}/{before.health.value}" if before else "pending/unknown"
            text.append(f": {was} → {newest.state.value}/{newest.health.value}")
            if newest.reason and newest.reason != status.reason:
                text.append(f" ({newest.reason})")

        window = engine.latency.get(service)
        text.append("\np95 ", style="dim")
        if window is None or not len(window):
            text.append("no samples")
        else:
            s = window.summary(now=now)
            slo = engine.service(service).slo_ms
            over = slo is not None and s.p95 is not None and s.p95 > slo
            text.append(_ms(s.p95), style=style(app, "down", bold=True) if over else "bold")
            text.append(f"  p50 {_ms(s.p50)} · p99 {_ms(s.p99)} · errors {s.error_rate:.0%}")
            if slo is not None:
                text.append(f" · SLO {slo:g} ms")

        text.append("\nlast error ", style="dim")
        found = self._errors.get(engine, service)
        if found is None:
            text.append("none")
        else:
            at, line = found
            text.append(time.strftime("%H:%M:%S ", time.localtime(at)), style="dim")
            text.append(line, style=style(app, "log-error"))

        needs = graph.dependencies(service)
        users = graph.users(service)
        text.append("\nneeds ", style="dim")
        text.append(", ".join(needs) or "nothing")
        text.append(" · needed by ", style="dim")
        text.append(", ".join(users) or "nothing")
        return text


class GraphPanel(Vertical):
    """The graph with a details strip for the selected service under it."""

    DEFAULT_CSS = """
    GraphPanel { height: 1fr; }
    GraphPanel > GraphView { height: 1fr; }
    """

    def __init__(
        self,
        engine: Engine,
        *,
        ascii: bool = False,
        clock: Callable[[], float] = wall,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.engine = engine
        self._ascii = ascii
        self._clock = clock

    def compose(self) -> ComposeResult:
        yield GraphView(self.engine, ascii=self._ascii, id="graph-view")
        yield GraphDetails(self.engine, clock=self._clock, id="graph-details")

    def select(self, service: str | None) -> None:
        """Follow a selection made elsewhere (the services table), without echoing it back."""
        self.query_one(GraphView).select(service)
        self.query_one(GraphDetails).show(service)

    def show_ranking(self, ranking: Ranking) -> None:
        """The triage ranking: its top suspect marked (when a service), what it impacts too."""
        top = ranking.top
        service = top.name if top and top.kind is SubjectKind.SERVICE else None
        impacted = frozenset(ranking.impacted()) - {service}
        self.query_one(GraphView).show_suspect(service, impacted)
        self.query_one(GraphDetails).show_suspect(top)

    def on_graph_view_selected(self, event: GraphView.Selected) -> None:
        # Not stopped: the screen hears it too and can move the services table's cursor.
        self.query_one(GraphDetails).show(event.service)
