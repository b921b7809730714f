"""The overview's own braille chart: the layout plotext gives, drawn directly."""

from __future__ import annotations

import re

from rich.text import Text

from stagedeck.engine.latency import LatencyWindow
from stagedeck.tui.widgets.braille_chart import braille_chart
from stagedeck.tui.widgets.charts import ChartColours, build_chart

T0 = 1_700_000_000.0
COLOURS = ChartColours(p50="cyan", p95="blue", p99="yellow", slo="red", errors="magenta")


def window_with(errors_every: int = 0) -> LatencyWindow:
    window = LatencyWindow()
    for k in range(600):
        ok = not (errors_every and k % errors_every == 0)
        window.add(400.0 if k % 25 == 0 else 100 + k % 50, ok, at=T0 + k)  # p99 apart
    return window


def draw(window: LatencyWindow, width: int = 60, height: int = 14, slo: float | None = 200) -> Text:
    series = window.series(10, 600, now=T0 + 600)
    return braille_chart(
        series, width=width, height=height, now=T0 + 600, bucket=10, slo_ms=slo, colours=COLOURS
    )


def test_same_frame_ticks_and_time_labels_as_plotext() -> None:
    window = window_with()
    ours = draw(window).plain.splitlines()
    series = window.series(10, 600, now=T0 + 600)
    theirs = Text.from_ansi(
        build_chart(series, width=60, height=14, now=T0 + 600, slo_ms=200)
    ).plain.splitlines()
    assert len(ours) == len(theirs) == 14
    assert all(len(row) == 60 for row in ours)
    frame = re.compile(r"[^┌┐└┘┬┤│─0-9.%a-z -]")
    # Everything but the data (braille dots) is where plotext puts it: the frame, the
    # axis ticks and labels, the time labels, and the SLO line's row.
    assert [frame.sub("?", r) for r in ours[:1] + ours[-2:]] == [
        frame.sub("?", r) for r in theirs[:1] + theirs[-2:]
    ]
    assert [r[:5] for r in ours] == [r[:5] for r in theirs]
    slo_rows = [
        i for i, r in enumerate(ours) if r.count("─") > 30 and "┌" not in r and "└" not in r
    ]
    assert slo_rows == [
        i for i, r in enumerate(theirs) if r.count("─") > 30 and "┌" not in r and "└" not in r
    ]
    assert ours[-1].strip().startswith("-10m") and ours[-1].strip().endswith("now")


def test_draws_each_series_in_its_colour_and_the_slo_line_under_the_data() -> None:
    chart = draw(window_with(), slo=450)  # above the data: a line of its own
    styled = {str(span.style) for span in chart.spans}
    assert {"cyan", "blue", "red"} <= styled  # p99 mostly under p95 and p50, drawn later
    dots = sum(1 for ch in chart.plain if 0x2800 < ord(ch) <= 0x28FF)
    assert dots > 50, "lines through sixty buckets"
    slo = [span for span in chart.spans if str(span.style) == "red"]
    assert sum(s.end - s.start for s in slo) > 40
    assert all(set(chart.plain[s.start : s.end]) == {"─"} for s in slo)


def test_error_axis_only_when_there_were_errors() -> None:
    clean = draw(window_with()).plain
    failing = draw(window_with(errors_every=7))
    assert "%" not in clean
    assert "├" in failing.plain and "%" in failing.plain
    assert any(str(span.style) == "magenta" for span in failing.spans)


def test_too_small_or_no_slo() -> None:
    assert draw(window_with(), width=4, height=3).plain == ""
    no_slo = draw(window_with(), slo=None).plain.splitlines()
    assert not any(r.count("─") > 30 and "┌" not in r and "└" not in r for r in no_slo)
