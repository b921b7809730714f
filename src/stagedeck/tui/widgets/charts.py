"""Latency charts: p50/p95/p99 and error rate over the last minutes, with the SLO line.

Drawn with plotext into a string with ANSI colours and shown through
``Text.from_ansi`` (as dolphie does). Rebuilding a chart costs a few
milliseconds, so a chart redraws at most once a second, and only when it is
on screen and something it shows changed: a new sample (``LatencyWindow.version``),
a new bucket (the time axis moved), its size, its service or the theme.

Colours come from the theme (``$secondary``, ``$primary``, ``$accent``, ``$down``,
``$impacted``). In an ANSI theme they become plotext's colour numbers 0-15, which
the terminal draws from its own palette; otherwise 24-bit RGB.
"""

from __future__ import annotations

import importlib
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from functools import partial
from typing import Any

from rich.console import RenderableType
from rich.text import Text
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.color import Color, ColorParseError
from textual.containers import Grid, Vertical
from textual.reactive import reactive
from textual.widget import Widget

from stagedeck.engine.clock import wall
from stagedeck.engine.engine import Engine
from stagedeck.engine.latency import Bucket
from stagedeck.tui.palette import colour
from stagedeck.tui.ticker import every

PlotColour = str | int | tuple[int, int, int]
"""What plotext accepts: a name (``"red+"``), 0-255, or an RGB tuple."""

SPAN_SECONDS = 600.0
"""Ten minutes of history..."""
BUCKET_SECONDS = 10.0
"""...in ten-second buckets: 60 points, enough for a chart 60-120 columns wide."""
MIN_WIDTH, MIN_HEIGHT = 30, 7
"""Smaller than this a chart is unreadable: the widget shows a one-line summary instead."""


@dataclass(frozen=True, slots=True)
class ChartColours:
    """plotext colours for each series; the defaults are the terminal's own palette."""

    p50: PlotColour = 6
    p95: PlotColour = 4
    p99: PlotColour = 3
    slo: PlotColour = 9
    errors: PlotColour = 5


THEME_SOURCES = {
    "p50": "secondary",
    "p95": "primary",
    "p99": "accent",
    "slo": "down",
    "errors": "impacted",
}
"""The theme variable each series takes its colour from."""


def plot_colour(value: str, fallback: PlotColour) -> PlotColour:
    """A Textual colour as plotext's: ANSI colours stay ANSI (0-15), others become RGB."""
    try:
        parsed = Color.parse(value)
    except ColorParseError:
        return fallback
    if parsed.ansi is not None:
        return "default" if parsed.ansi < 0 else parsed.ansi
    return parsed.rgb


def chart_colours(app: App[object]) -> ChartColours:
    """The chart colours of the active theme."""
    defaults = ChartColours()
    values = {
        f.name: plot_colour(colour(app, THEME_SOURCES[f.name]), getattr(defaults, f.name))
        for f in fields(ChartColours)
    }
    return ChartColours(**values)


def _nice_top(value: float) -> float:
    """A round number at or above ``value`` (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8 x 10^n)."""
    if value <= 0:
        return 1.0
    power = 10.0 ** math.floor(math.log10(value))
    for step in (1, 1.5, 2, 2.5, 3, 4, 5, 6, 8, 10):
        if value <= step * power * (1 + 1e-9):
            return step * power
    return 10 * power


def _runs(xs: Sequence[float], ys: Sequence[float | None]) -> list[tuple[list[float], list[float]]]:
    """Consecutive points with values: plotext draws no gaps, so each run is its own line."""
    runs: list[tuple[list[float], list[float]]] = []
    current: tuple[list[float], list[float]] | None = None
    for x, y in zip(xs, ys, strict=True):
        if y is None:
            current = None
            continue
        if current is None:
            current = ([], [])
            runs.append(current)
        current[0].append(x)
        current[1].append(y)
    return runs


def _minutes(value: float) -> str:
    return "now" if value == 0 else f"{value:g}m"


def chart_scales(series: Sequence[Bucket], slo_ms: float | None) -> tuple[float, float]:
    """The latency axis's and the error axis's upper limits: round numbers above the data."""
    values = [v for b in series for v in (b.summary.p50, b.summary.p95, b.summary.p99)]
    peak = max([v for v in values if v is not None] + [slo_ms or 0.0])
    errors = [100 * b.summary.error_rate for b in series if b.summary.errors]
    error_peak = max(errors + [0.0])
    return _nice_top(peak * 1.1), min(100.0, _nice_top(max(5.0, error_peak * 1.1)))


def build_chart(
    series: Sequence[Bucket],
    *,
    width: int,
    height: int,
    now: float,
    bucket: float = BUCKET_SECONDS,
    slo_ms: float | None = None,
    colours: ChartColours | None = None,
) -> str:
    """The plot as text with ANSI colour codes, ``width`` x ``height`` cells, no legend.

    Latency in ms on the left axis; error rate in percent on the right; the SLO
    as a horizontal line drawn first, so the data stays visible where they meet.
    """
    colours = colours or ChartColours()
    span = len(series) * bucket
    xs = [(b.start + bucket - now) / 60 for b in series]
    p50 = [b.summary.p50 for b in series]
    p95 = [b.summary.p95 for b in series]
    p99 = [b.summary.p99 for b in series]
    # Buckets without errors stay empty: a line along 0% would hide the axis.
    errors = [100 * b.summary.error_rate if b.summary.errors else None for b in series]
    top, error_top = chart_scales(series, slo_ms)
    left = -span / 60

    import plotext as plt  # loaded with the first chart, not with the cockpit

    plt.clear_figure()
    plt.limitsize(False, False)  # plotext would cap the size at *its* idea of the terminal
    plt.plotsize(width, height)
    plt.theme("clear")
    if slo_ms is not None:
        plt.plot([left, 0.0], [slo_ms, slo_ms], color=colours.slo, marker="─")
    for values, col in ((errors, colours.errors),):
        for rx, ry in _runs(xs, values):
            plt.plot(rx, ry, color=col, marker="braille", yside="right")
    # Where they meet, the lower percentile is drawn last, on top.
    for values, col in ((p99, colours.p99), (p95, colours.p95), (p50, colours.p50)):
        for rx, ry in _runs(xs, values):
            plt.plot(rx, ry, color=col, marker="braille")
    plt.xlim(left, 0.0)
    plt.ylim(0, top)
    plt.ylim(0, error_top, yside="right")
    ticks = [left + k * (-left) / 5 for k in range(6)]
    plt.xticks(ticks, [_minutes(round(t, 1)) for t in ticks])
    plt.yticks([top * k / 4 for k in range(5)], [f"{top * k / 4:g}" for k in range(5)])
    plt.yticks(
        [error_top * k / 2 for k in range(3)],
        [f"{error_top * k / 2:g}%" for k in range(3)],
        yside="right",
    )
    out: str = plt.build()
    plt.clear_figure()
    return out


def plotext_chart(series: Sequence[Bucket], **geometry: Any) -> Text:
    """:func:`build_chart`'s plot as styled text (its ANSI codes parsed)."""
    chart = Text.from_ansi(build_chart(series, **geometry), no_wrap=True, overflow="crop")
    chart.end = ""
    return chart


def rich_colour(value: PlotColour) -> str:
    """A plotext colour as a Rich colour, for the legend drawn above the plot."""
    if isinstance(value, tuple):
        return "rgb({},{},{})".format(*value)
    if isinstance(value, int):
        return f"color({value})"
    return "" if value == "default" else value.rstrip("+")


def legend(
    service: str,
    summary_p95: float | None,
    error_rate: float,
    slo_ms: float | None,
    colours: ChartColours,
) -> Text:
    """``payments  ─ p50 ─ p95 ─ p99 ─ SLO 250 ─ err %   p95 212 ms · errors 3%``."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(service, style="bold")
    text.append("  ")
    for label, col in (("p50", colours.p50), ("p95", colours.p95), ("p99", colours.p99)):
        text.append("━ ", style=rich_colour(col))
        text.append(f"{label} ")
    if slo_ms is not None:
        text.append("─ ", style=rich_colour(colours.slo))
        text.append(f"SLO {slo_ms:g} ms ")
    text.append("━ ", style=rich_colour(colours.errors))
    text.append("errors % (right)")
    text.append("   now: ", style="dim")
    over = slo_ms is not None and summary_p95 is not None and summary_p95 > slo_ms
    p95 = "–" if summary_p95 is None else f"{summary_p95:.0f} ms"
    text.append(f"p95 {p95}", style="bold " + rich_colour(colours.slo) if over else "bold")
    text.append(f" · errors {error_rate:.0%}")
    return text


class LatencyChart(Widget):
    """One service's latency percentiles and error rate over the last ten minutes."""

    DEFAULT_CSS = """
    LatencyChart { height: 1fr; min-height: 8; }
    """

    def __init__(
        self,
        engine: Engine,
        service: str | None = None,
        *,
        span: float = SPAN_SECONDS,
        bucket: float = BUCKET_SECONDS,
        clock: Callable[[], float] = wall,
        colours: ChartColours | None = None,
        lean: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.engine = engine
        self._service = service
        self.lean = lean
        """Drawn by ``braille_chart`` instead of plotext: the chart always on screen."""
        self.span = span
        self.bucket = bucket
        self.clock = clock
        self.colours = colours
        """Fixed colours; None follows the theme."""
        self._content: RenderableType = ""
        self._drawn: tuple[object, ...] | None = None
        self.builds = 0
        """How many times the chart was rebuilt (tests check that idle charts do not)."""

    @property
    def service(self) -> str | None:
        return self._service

    @service.setter
    def service(self, service: str | None) -> None:
        if service != self._service:
            self._service = service
            self.redraw(force=True)

    def on_mount(self) -> None:
        self.redraw(force=True)
        # Checked as often as the services table's rows (a comparison when nothing
        # changed), so a new bucket is drawn in the same frame as the table's slow columns.
        every(self, 0.25, self.redraw)
        # plotext takes 50-70 ms to import. Loaded in a thread after the first frame, the
        # first chart with data (10 s or more after start) does not stall the event loop.
        if not self.lean:
            self.call_after_refresh(self._load_plotext)
        self.app.theme_changed_signal.subscribe(self, lambda _: self.redraw(force=True))

    def _load_plotext(self) -> None:
        if "plotext" not in sys.modules:
            self.run_worker(
                partial(importlib.import_module, "plotext"),
                thread=True,
                name="loading the chart library",
                exit_on_error=False,
            )

    def on_resize(self) -> None:
        self.redraw(force=True)

    def on_show(self) -> None:
        self.redraw()

    def render(self) -> RenderableType:
        return self._content

    def redraw(self, force: bool = False) -> None:
        """Rebuild if something shown changed; never while hidden (unless forced)."""
        width, height = self.content_size
        service = self._service
        window = self.engine.latency.get(service) if service else None
        spec = self.engine.recipe.services.get(service) if service else None
        slo = spec.slo_ms if spec is not None else None
        now = self.clock()
        # Completed buckets only: the picture changes once a bucket (10 s), not per sample,
        # which is what keeps an idle cockpit quiet on a slow SSH link.
        key = (
            service,
            window is not None,
            int(now // self.bucket),
            width,
            height,
            self.app.theme,
            slo,
        )
        if key == self._drawn:
            return  # before asking whether we are on screen, which walks the DOM
        if not force and not self.is_on_screen:
            return
        self._drawn = key
        if width <= 0 or height <= 0:
            return
        self._content = self._build(width, height, now, slo)
        self.builds += 1
        self.refresh()

    def _build(self, width: int, height: int, now: float, slo: float | None) -> RenderableType:
        service = self._service
        if service is None:
            return Text("select a service to see its latency", style="dim")
        window = self.engine.latency.get(service)
        spec = self.engine.recipe.services.get(service)
        if spec is None:
            return Text(f"{service} is no longer in the recipe", style="dim")
        if window is None or not len(window):
            hint = "" if spec.health else " (it has no health check)"
            return Text(f"{service}: no latency samples yet{hint}", style="dim")
        # Whole buckets: the time axis moves one bucket at a time, not every second.
        end = math.floor(now / self.bucket) * self.bucket
        series = window.series(self.bucket, self.span, now=end)
        summary = window.summary(now=now)
        colours = self.colours or chart_colours(self.app)
        head = legend(service, summary.p95, summary.error_rate, slo, colours)
        if width < MIN_WIDTH or height < MIN_HEIGHT:
            return head
        if self.lean:
            from stagedeck.tui.widgets.braille_chart import braille_chart

            draw: Callable[..., Text] = braille_chart
        else:
            draw = plotext_chart
        chart = draw(
            series,
            width=width,
            height=height - 1,
            now=end,
            bucket=self.bucket,
            slo_ms=slo,
            colours=colours,
        )
        return Text("\n", no_wrap=True).join([head, chart])


class ChartsPanel(Vertical, can_focus=True):
    """The selected service's chart; ``a`` switches to a grid of every service."""

    DEFAULT_CSS = """
    ChartsPanel { height: 1fr; }
    ChartsPanel > LatencyChart { height: 1fr; }
    ChartsPanel > Grid { grid-size: 2; grid-gutter: 0 1; height: 1fr; }
    ChartsPanel > Grid > LatencyChart { height: 1fr; min-height: 10; }
    """

    BINDINGS = [
        Binding("a", "toggle_all", "All charts", tooltip="Every service or one", id="charts.all")
    ]

    show_all: reactive[bool] = reactive(False, init=False)
    """Show every service's chart in a grid instead of only the selected one."""

    def __init__(
        self,
        engine: Engine,
        service: str | None = None,
        *,
        clock: Callable[[], float] = wall,
        colours: ChartColours | None = None,
        lean: bool = False,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.engine = engine
        self.service = service or next(iter(engine.recipe.services), None)
        self._clock = clock
        self._colours = colours
        self._lean = lean
        """The selected service's chart drawn without plotext (the overview's); the grid
        of every service keeps plotext."""

    def compose(self) -> ComposeResult:
        yield self._chart(self.service, "chart-selected", lean=self._lean)

    def _chart(
        self, service: str | None, id: str | None = None, lean: bool = False
    ) -> LatencyChart:
        return LatencyChart(
            self.engine, service, clock=self._clock, colours=self._colours, lean=lean, id=id
        )

    def select(self, service: str | None) -> None:
        """Show ``service`` (the selection made in the services table or the graph)."""
        self.service = service
        if not self.show_all:
            self.query_one(LatencyChart).service = service

    def action_toggle_all(self) -> None:
        self.show_all = not self.show_all

    async def watch_show_all(self, show_all: bool) -> None:
        await self.remove_children()
        if show_all:
            grid = Grid()
            await self.mount(grid)
            await grid.mount_all(self._chart(name) for name in self.engine.recipe.services)
        else:
            await self.mount(self._chart(self.service, "chart-selected", lean=self._lean))
