"""One-line charts made of block characters, for tables and status lines.

``sparkline([120, 130, None, 180], 4)`` is ``"▁▂ █"``: one character per value,
eight heights, a space where there is no value (a bucket with no successful
sample). Longer series are squeezed by taking the largest value of each group,
so a latency spike never disappears when the column is narrow.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from stagedeck.engine.latency import LatencyWindow

BLOCKS = "▁▂▃▄▅▆▇█"
ASCII_LEVELS = "_.-:=+*#"
"""Eight ASCII "heights" for terminals without block characters, lowest first."""


def squeeze(values: Sequence[float | None], width: int) -> list[float | None]:
    """At most ``width`` values: each group of neighbours becomes its largest value."""
    n = len(values)
    if width <= 0:
        return []
    if n <= width:
        return list(values)
    out: list[float | None] = []
    for k in range(width):
        group = [v for v in values[k * n // width : (k + 1) * n // width] if v is not None]
        out.append(max(group) if group else None)
    return out


def sparkline(
    values: Sequence[float | None],
    width: int,
    *,
    ascii: bool = False,
    lo: float | None = None,
    hi: float | None = None,
) -> str:
    """``values`` as exactly ``width`` characters, newest on the right.

    Fewer values than ``width`` are right-aligned (padded with spaces on the
    left). The scale runs from ``lo`` to ``hi`` (default: the smallest and
    largest value); a flat series sits on the bottom row. ``None`` and NaN
    are gaps.
    """
    if width <= 0:
        return ""
    levels = ASCII_LEVELS if ascii else BLOCKS
    points = [None if v is None or math.isnan(v) else float(v) for v in squeeze(values, width)]
    present = [v for v in points if v is not None]
    if not present:
        return " " * width
    low = min(present) if lo is None else lo
    high = max(present) if hi is None else hi
    top = len(levels) - 1
    chars: list[str] = []
    for v in points:
        if v is None:
            chars.append(" ")
            continue
        share = 0.0 if high <= low else (min(max(v, low), high) - low) / (high - low)
        chars.append(levels[round(share * top)])
    return "".join(chars).rjust(width)


def latency_sparkline(
    window: LatencyWindow,
    width: int,
    *,
    bucket: float = 30.0,
    now: float | None = None,
    ascii: bool = False,
    percentile: str = "p95",
) -> str:
    """The trend of one percentile over the last ``width`` buckets, scaled from zero.

    Zero-based on purpose: 101 ms against 103 ms should look flat, not like a cliff.
    """
    if width <= 0:
        return ""
    series = window.series(bucket, bucket * width, now=now)
    values: list[float | None] = [getattr(b.summary, percentile) for b in series]
    return sparkline(values, width, ascii=ascii, lo=0.0)
