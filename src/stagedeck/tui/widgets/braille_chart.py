"""The overview's latency chart drawn directly in braille: same picture, a fraction of the cost.

plotext builds its figure through a general canvas (matrix of cells, copies of its
settings, the braille grouping of the whole canvas), about 10 ms of CPU on a quiet
box and 15-25 ms on a loaded one, and its ANSI output then has to be parsed back
into styled text (another 5-7 ms for a 60x27 chart). The overview's chart is
rebuilt every time a 10 s bucket completes, so on an idle demo that was the largest
single item in the cockpit's CPU. This module draws the same layout (frame, ticks
on both axes, percentile lines, error rate on the right axis, the SLO as a line)
straight into a ``Text`` with one span per run of a colour: about 1 ms.

The full chart views keep plotext; only the small chart that is always on screen
uses this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import fields

from rich.text import Text

from stagedeck.engine.latency import Bucket
from stagedeck.tui.widgets.charts import ChartColours, chart_scales, rich_colour

BRAILLE_BASE = 0x2800
DOT_BITS = ((0x01, 0x02, 0x04, 0x40), (0x08, 0x10, 0x20, 0x80))
"""Braille dot bit for (column within the cell, row within the cell)."""


class _Canvas:
    """Cells of 2x4 braille dots, each cell with the colour of the last series drawn in it."""

    def __init__(self, columns: int, rows: int) -> None:
        self.columns, self.rows = columns, rows
        self.bits = [[0] * columns for _ in range(rows)]
        self.colour: list[list[str]] = [[""] * columns for _ in range(rows)]

    def dot(self, x: int, y: int, colour: str) -> None:
        """Dot ``x`` (0 = left), ``y`` (0 = top), in dot coordinates."""
        if 0 <= x < 2 * self.columns and 0 <= y < 4 * self.rows:
            row, column = y >> 2, x >> 1
            self.bits[row][column] |= DOT_BITS[x & 1][y & 3]
            self.colour[row][column] = colour

    def line(self, x0: int, y0: int, x1: int, y1: int, colour: str) -> None:
        """Bresenham's line from (x0, y0) to (x1, y1), both ends included."""
        dx, dy = abs(x1 - x0), -abs(y1 - y0)
        sx, sy = (1 if x0 < x1 else -1), (1 if y0 < y1 else -1)
        err = dx + dy
        while True:
            self.dot(x0, y0, colour)
            if x0 == x1 and y0 == y1:
                return
            e2 = 2 * err
            if e2 >= dy:
                err += dy
                x0 += sx
            if e2 <= dx:
                err += dx
                y0 += sy


def _tick_label(value: float) -> str:
    return f"{value:g}"


def braille_chart(
    series: Sequence[Bucket],
    *,
    width: int,
    height: int,
    now: float,
    bucket: float,
    slo_ms: float | None,
    colours: ChartColours,
) -> Text:
    """The chart as styled text, ``width`` x ``height`` cells (the layout plotext gives,
    the same axes' limits as :func:`~stagedeck.tui.widgets.charts.build_chart` chooses)."""
    top, error_top = chart_scales(series, slo_ms)
    styles = {f.name: rich_colour(getattr(colours, f.name)) for f in fields(colours)}
    span = len(series) * bucket
    left = -span / 60 if span else -1.0
    errors = [100 * b.summary.error_rate if b.summary.errors else None for b in series]
    has_errors = any(e is not None for e in errors)
    y_values = [top * k / 4 for k in range(5)]
    y_labels = [_tick_label(v) for v in y_values]
    label_width = max(len(label) for label in y_labels)
    right_values = [error_top * k / 2 for k in range(3)] if has_errors else []
    right_labels = [f"{_tick_label(v)}%" for v in right_values]
    right_width = max((len(label) for label in right_labels), default=0)
    columns = width - label_width - 2 - right_width
    rows = height - 3  # the frame's top and bottom, the time labels
    if columns < 2 or rows < 1:
        return Text("", no_wrap=True)
    canvas = _Canvas(columns, rows)
    dots_x, dots_y = 2 * columns - 1, 4 * rows - 1

    def x_dot(x: float) -> int:
        return round((x - left) / (0.0 - left) * dots_x)

    def y_dot(y: float, limit: float) -> int:
        return dots_y - round(min(max(y / limit, 0.0), 1.0) * dots_y)

    xs = [(b.start + bucket - now) / 60 for b in series]
    plots: list[tuple[list[float | None], str, float]] = [(errors, styles["errors"], error_top)]
    # Where they meet, the lower percentile is drawn last, on top (as plotext draws them).
    for name in ("p99", "p95", "p50"):
        values: list[float | None] = [getattr(b.summary, name) for b in series]
        plots.append((values, styles[name], top))
    for values, colour, limit in plots:
        previous: tuple[int, int] | None = None
        for x, y in zip(xs, values, strict=True):
            if y is None:
                previous = None  # a gap: no line across buckets without samples
                continue
            point = (x_dot(x), y_dot(y, limit))
            if previous is None:
                canvas.dot(*point, colour)
            else:
                canvas.line(*previous, *point, colour)
            previous = point

    def cell_row(y: float, limit: float) -> int:
        """Ticks and the SLO line sit on whole cells, placed as plotext places them."""
        return rows - 1 - int(min(max(y / limit, 0.0), 1.0) * (rows - 1) + 0.5)

    slo_row = cell_row(slo_ms, top) if slo_ms is not None and slo_ms <= top else None
    left_ticks = {cell_row(v, top): label for v, label in zip(y_values, y_labels, strict=True)}
    right_ticks = {
        cell_row(v, error_top): label for v, label in zip(right_values, right_labels, strict=True)
    }

    text = Text(no_wrap=True, overflow="crop", end="")
    pad = " " * label_width
    text.append(f"{pad}┌{'─' * columns}┐{' ' * right_width}\n")
    for row in range(rows):
        label = left_ticks.get(row)
        text.append(f"{label:>{label_width}}┤" if label is not None else f"{pad}│")
        bits, cell_colours = canvas.bits[row], canvas.colour[row]
        run: list[str] = []
        run_style = ""
        for column in range(columns):
            if bits[column]:
                char, style = chr(BRAILLE_BASE + bits[column]), cell_colours[column]
            elif row == slo_row:
                char, style = "─", styles["slo"]
            else:
                char, style = " ", ""
            if style != run_style and run:
                text.append("".join(run), style=run_style or None)
                run = []
            run_style = style
            run.append(char)
        if run:
            text.append("".join(run), style=run_style or None)
        right = right_ticks.get(row)
        if right is not None:
            text.append(f"├{right:<{right_width}}\n")
        else:
            text.append(f"│{' ' * right_width}\n")
    ticks = [round(k * (columns - 1) / 5) for k in range(6)]
    axis = ["─"] * columns
    for column in ticks:
        axis[column] = "┬"
    text.append(f"{pad}└{''.join(axis)}┘{' ' * right_width}\n")
    labels = [" "] * width
    for k, column in enumerate(ticks):
        value = left + k * (-left) / 5
        label = "now" if k == 5 else f"{round(value, 1):g}m"
        # Centred on its tick, and kept inside the frame (as plotext keeps "now").
        limit = width - right_width - 1 - len(label)
        start = max(0, min(limit, label_width + 1 + column - len(label) // 2))
        labels[start : start + len(label)] = label
    text.append("".join(labels))
    return text
