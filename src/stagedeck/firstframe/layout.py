"""The early frame as lines of text: the cockpit's overview, reduced to what is known.

The same boxes, titles and columns as the overview (services above, logs
below, the status line and the key line at the bottom), so the cockpit's
first frame replaces this one without the eye having to search again. Only
the 16 standard colours (and bold/dim), so it reads the same on any terminal.
Pure: text in, lines out (tests call :func:`render` with plain values).
"""

from __future__ import annotations

import os
import time
import unicodedata
from typing import NamedTuple

from stagedeck.firstframe.known import Known, LogLine, Row

RESET = "\x1b[0m"
BOLD = "\x1b[1m"
DIM = "\x1b[2m"

HEALTH = {
    "healthy": ("●", "healthy", "\x1b[32m"),
    "down": ("✖", "down", "\x1b[31m"),
    "starting": ("○", "starting", "\x1b[33m"),
    "unknown": ("○", "unknown", DIM),
    "none": ("◌", "no check", DIM),
}
"""Symbol, word and colour per health, as the services table shows them."""

SERVICE_COLOURS = ("36", "35", "32", "33", "34", "96", "95")
"""The terminal's named colours the cockpit tags services with (``tui/palette.py``)."""

MIN_WIDTH, MIN_HEIGHT = 30, 8


def colours_wanted() -> bool:
    """No colours under ``NO_COLOR`` (no-color.org), as Textual does; bold and dim stay."""
    return not os.environ.get("NO_COLOR")


def cells(char: str) -> int:
    if unicodedata.combining(char):
        return 0
    return 2 if unicodedata.east_asian_width(char) in ("W", "F") else 1


def text_cells(text: str) -> int:
    return sum(cells(char) for char in text)


def fit(text: str, width: int) -> str:
    """``text`` cut or padded to exactly ``width`` terminal cells."""
    out: list[str] = []
    used = 0
    for char in text:
        size = cells(char)
        if used + size > width:
            break
        out.append(char)
        used += size
    return "".join(out) + " " * (width - used)


def box_top(title: str, width: int) -> str:
    label = f"─ {title} "
    return "╭" + label + "─" * max(0, width - 2 - len(label)) + "╮"


def box_bottom(width: int) -> str:
    return "╰" + "─" * (width - 2) + "╯"


def boxed(content: str, width: int) -> str:
    """A line inside a box; ``content`` must already be ``width - 2`` cells wide."""
    return "│" + content + "│"


class Geometry(NamedTuple):
    """Where the parts go: rows of the services box and of the log box (0: no log box)."""

    service_rows: int
    log_rows: int

    @property
    def log_top(self) -> int:
        """The terminal row (1-based) of the first log line."""
        return self.service_rows + 5  # services box: top, header, rows, bottom; logs: top


def geometry(known: Known, width: int, height: int) -> Geometry | None:
    if width < MIN_WIDTH or height < MIN_HEIGHT:
        return None
    body = height - 2  # the status line and the key line
    service_rows = min(len(known.rows), max(2, body * 2 // 5 - 3))
    log_rows = body - (service_rows + 3) - 2
    return Geometry(service_rows, max(0, log_rows))


def render(known: Known, width: int, height: int) -> list[str]:
    """``height`` lines of at most ``width`` cells (with SGR colour), or [] if too small."""
    shape = geometry(known, width, height)
    if shape is None:
        return []
    inner = width - 2
    lines = [box_top("services", width)]
    lines += service_lines(known.rows[: shape.service_rows], inner)
    lines.append(box_bottom(width))
    if shape.log_rows:
        lines.append(box_top("logs", width))
        lines += log_lines(known.logs, known.rows, inner, shape.log_rows)
        lines.append(box_bottom(width))
    while len(lines) < height - 2:
        lines.append(" " * width)
    status = f"  {known.name}  {known.target}  {len(known.rows)} services"
    lines.append(BOLD + fit(status, width) + RESET)
    lines.append(DIM + fit(" loading the cockpit…  keys you press now are kept", width) + RESET)
    return lines


def service_lines(rows: list[Row], inner: int) -> list[str]:
    name_width = min(24, max([len("SERVICE")] + [text_cells(r.name) for r in rows]))
    header = fit(f" {'SERVICE':<{name_width}}  {'STATE':<10}  HEALTH", inner)
    out = [boxed(BOLD + header + RESET, inner)]
    start_cells = name_width + 15
    for row in rows:
        symbol, word, colour = HEALTH.get(row.health, HEALTH["unknown"])
        start = f" {fit(row.name, name_width)}  {fit(row.state, 10)}  "
        if start_cells >= inner:
            out.append(boxed(fit(start, inner), inner))
            continue
        health = fit(f"{symbol} {word}", inner - start_cells)
        out.append(boxed(start + (colour if colours_wanted() else "") + health + RESET, inner))
    return out


def log_lines(logs: list[LogLine], rows: list[Row], inner: int, room: int) -> list[str]:
    """The log box's ``room`` lines: the last lines of ``logs``, blank rows below them."""
    logs = logs[-room:] if room else []
    colour_of = {r.name: SERVICE_COLOURS[i % len(SERVICE_COLOURS)] for i, r in enumerate(rows)}
    name_width = min(16, max([0] + [text_cells(r.name) for r in rows]))
    out: list[str] = []
    for line in logs:
        stamp = time.strftime("%H:%M:%S", time.localtime(line.at))
        service = fit(line.service, name_width)
        text = fit(line.text, max(0, inner - 12 - name_width))
        tag = f"\x1b[{colour_of.get(line.service, '36')}m" if colours_wanted() else ""
        out.append(boxed(f"{DIM}{stamp}{RESET}   {tag}{service}{RESET} {text}", inner))
    blank = boxed(" " * inner, inner)
    return out + [blank] * (room - len(out))
