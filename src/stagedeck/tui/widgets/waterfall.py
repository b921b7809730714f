"""Cells of the traces list and the waterfall, as Rich ``Text`` (never markup).

Span names and services are outside text: they were sanitised at ingest and
are appended here as plain text, so ``[bold]`` in a span name shows as
``[bold]``. Meaning never rests on colour alone (16-colour terminals, colour
blind users): the critical path is a solid bar and a ``┃`` mark, the span
where a failure started is ``✖``, other errored spans ``!``.
"""

from __future__ import annotations

import time
from typing import Any

from rich.text import Text
from textual.app import App

from stagedeck.traces.query import Row, TraceSummary, duration_text
from stagedeck.tui.palette import service_colour, style

CRITICAL_BAR = "█"
OTHER_BAR = "▒"


def summary_cells(
    app: App[Any], summary: TraceSummary, services: list[str]
) -> tuple[Text, Text, Text, Text, Text]:
    """(time, duration, error mark, root, services touched) of one traces-list row."""
    when = Text(time.strftime("%H:%M:%S", time.localtime(summary.start)), style="dim")
    duration = Text(duration_text(summary.duration), justify="right")
    mark = Text("✖", style=style(app, "down", bold=True)) if summary.error else Text(" ")
    root = Text()
    if summary.root_service:
        root.append(summary.root_service, style=service_colour(summary.root_service, services))
        root.append(" ")
    root.append(summary.root_name)
    touched = Text(", ".join(summary.services), style="dim")
    return when, duration, mark, root, touched


def bar(start: float, end: float, t0: float, total: float, width: int, char: str) -> str:
    """The span's extent on a ``width``-cell timeline of the trace (at least one cell)."""
    if width <= 0:
        return ""
    if total <= 0:
        return char + " " * (width - 1)
    left = int((start - t0) / total * width)
    right = int((end - t0) / total * width + 0.999)
    left = min(max(left, 0), width - 1)
    right = min(max(right, left + 1), width)
    return " " * left + char * (right - left) + " " * (width - right)


def row_cells(
    app: App[Any],
    row: Row,
    t0: float,
    total: float,
    bar_width: int,
    services: list[str],
    name_width: int,
) -> tuple[Text, Text, Text, Text]:
    """(span, service, duration, bar) of one waterfall row."""
    span = row.span
    error = style(app, "down", bold=True)
    label = Text(no_wrap=True, overflow="ellipsis")
    label.append("┃" if row.critical else " ", style="bold" if row.critical else "")
    if row.error_origin:
        label.append("✖", style=error)
    elif span.error:
        label.append("!", style=error)
    else:
        label.append(" ")
    label.append(" ")
    indent = min(row.depth, max(0, name_width // 3))
    label.append(" " * indent)
    label.append(span.name, style=error if row.error_origin else ("bold" if row.critical else ""))
    label.truncate(name_width, overflow="ellipsis")
    service = Text(span.service, style=service_colour(span.service, services))
    duration = Text(
        duration_text(span.duration), justify="right", style="bold" if row.critical else ""
    )
    char = CRITICAL_BAR if row.critical else OTHER_BAR
    colour = error if span.error else service_colour(span.service, services)
    timeline = Text(bar(span.start, span.end, t0, total, bar_width, char), style=colour)
    return label, service, duration, timeline
