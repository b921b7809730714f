"""Colours services write in their logs are kept; nothing else an escape can do survives.

The gate keeps what SGR sequences ask for (colours and plain styles) as spans over
the cleaned text; the text itself is exactly what :func:`clean` makes of the line,
so search, request ids, signatures and the shared file never see an escape. The
spans cross the environment process's socket and are checked again on arrival.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.color import Color

from stagedeck.engine.logs import LogHub
from stagedeck.envproc.server import wire_lines
from stagedeck.text import clean, clean_keeping_colours, valid_colour_spans, valid_colour_style
from stagedeck.tui.app import StagedeckApp
from stagedeck.tui.widgets.logview import LogView
from support.apps import offline_engine
from support.evil import HOSTILE, LINES

PIECES = [
    "\x1b[31m", "\x1b[0m", "\x1b[m", "\x1b[1;32m", "\x1b[38;5;208m", "\x1b[48;2;10;20;30m",
    "\x1b[38;2;300;0;0m", "\x1b[8m", "\x1b[5m", "\x1b[39;49m", "\x1b[2J", "\x1b[10;10H",
    "\x1b]0;T\x07", "\x1b]52;c;QQ==\x1b\\", "\x1b]8;;http://e/\x1b\\", "\x1bP1$q\x1b\\",
    "\x9b31m", "\x9d0;x\x07", "\x1b", "[", "m", ";", "\t", "\r", "\n", "\r\n", "\x07", "\x00",
    "\u202e", "\u200b", "a", "é", "界", " ", "rid=7f3a", "ERROR", "[bold]",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(PIECES), max_size=30))
def test_the_text_is_exactly_what_the_gate_makes_and_spans_fit_it(pieces: list[str]) -> None:
    raw = "".join(pieces)
    text, spans = clean_keeping_colours(raw)
    assert text == clean(raw)
    assert valid_colour_spans([list(s) for s in spans], len(text)) == spans


def test_what_is_kept_and_what_is_not() -> None:
    text, spans = clean_keeping_colours(
        "\x1b[1;32mINFO\x1b[0m\tlistening \x1b[38;5;208mport\x1b[39m=8080 "
        "\x1b[38;2;255;0;0;48;2;0;0;139mhot\x1b[m \x1b[31mrid=9f1c\x1b]0;EVIL\x07x\x1b[0m"
    )
    assert text == "INFO    listening port=8080 hot rid=9f1cx"
    assert spans == (
        (0, 4, "bold color(2)"),
        (18, 22, "color(208)"),
        (28, 31, "#ff0000 on #00008b"),
        (32, 41, "color(1)"),  # the OSC inside was removed, the colour goes on
    )
    # Conceal and blink are not kept; a colour on itself drops its background.
    assert clean_keeping_colours("\x1b[8mhidden\x1b[5mblink\x1b[0m") == ("hiddenblink", ())
    assert clean_keeping_colours("\x1b[31;41msame\x1b[0m")[1] == ((0, 4, "color(1)"),)
    # Bright colours, 256 colours and resets in the middle.
    assert clean_keeping_colours("\x1b[91ma\x1b[22;39mb\x1b[104mc")[1] == (
        (0, 1, "color(9)"),
        (2, 3, "on color(12)"),
    )


def test_the_hostile_corpus_keeps_only_colour() -> None:
    for raw in [*LINES, *HOSTILE.values()]:
        text, spans = clean_keeping_colours(raw)
        assert text == clean(raw), raw
        assert "\x1b" not in text and "\x07" not in text
        for _, _, style in spans:
            assert valid_colour_style(style), style
    assert clean_keeping_colours("\x1b[31mRED-TEXT\x1b[0m plain after") == (
        "RED-TEXT plain after",
        ((0, 8, "color(1)"),),
    )


def test_spans_from_elsewhere_are_checked() -> None:
    ok = [[0, 3, "bold color(1)"], [4, 6, "on #102030"]]
    assert valid_colour_spans(ok, 6) == ((0, 3, "bold color(1)"), (4, 6, "on #102030"))
    for bad in (
        [[0, 9, "color(1)"]],  # past the end
        [[2, 1, "color(1)"]],  # backwards
        [[0, 3, "color(1)"], [2, 5, "color(2)"]],  # overlapping
        [[0, 3, "link http://evil.example"]],  # a hyperlink is not a colour
        [[0, 3, "color(1) [bold]"]],
        [[0, 3, "color(999)"]],
        [[0, 3, ""]],
        [[0, "3", "color(1)"]],
        [[True, 3, "color(1)"]],
        "0,3,red",
        [[i, i + 1, "dim"] for i in range(100)],  # more than a line may have
    ):
        assert valid_colour_spans(bad, 200 if len(bad) == 100 else 6) == (), bad


def test_the_hub_keeps_colours_by_line_and_forgets_them_with_the_line() -> None:
    hub = LogHub(per_service=10, total=10)
    hub.masks.append(lambda t: t.replace("hunter2", "•••"))
    red = hub.append("api", "\x1b[31mERROR\x1b[0m payment failed rid=7f3a")
    assert red.text == "ERROR payment failed rid=7f3a" and red.level == "error"
    assert red.rid == "7f3a"
    assert hub.colours_of(red.seq) == ((0, 5, "color(1)"),)
    stamped = hub.append("api", "2026-12-01T03:12:44.812Z \x1b[33mWARN\x1b[0m slow")
    assert stamped.text == "WARN slow"
    assert hub.colours_of(stamped.seq) == ((0, 4, "color(3)"),)  # moved with the text
    secret = hub.append("api", "\x1b[32mtoken=hunter2\x1b[0m ok")
    assert secret.text == "token=••• ok" and hub.colours_of(secret.seq) == ()
    plain = hub.append("api", "plain line")
    assert hub.colours_of(plain.seq) == ()
    for i in range(12):  # the ring wraps: the old lines' colours go with them
        hub.append("api", f"\x1b[36mline {i}\x1b[0m")
    assert min(hub.colours) >= hub.all.start and len(hub.colours) == 10


def test_colours_cross_the_socket_and_are_checked_again() -> None:
    source = LogHub()
    source.append("api", "\x1b[1;31mERROR\x1b[0m boom")
    source.append("api", "no colour")
    lines = json.loads(json.dumps(wire_lines(source, source.records_since(0))))
    assert len(lines[0]) == 6 and len(lines[1]) == 5
    viewer = LogHub()
    viewer.adopt([tuple(line) for line in lines])
    assert viewer.colours_of(0) == ((0, 5, "bold color(1)"),)
    assert viewer.colours_of(1) == ()
    # A hostile peer: a link for a style, offsets past the text, escapes in the text.
    viewer.adopt(
        [
            (1.0, "api", "out", "click", "", [[0, 5, "link http://evil.example"]]),
            (1.0, "api", "out", "short", "", [[0, 50, "color(1)"]]),
            (1.0, "api", "out", "\x1b]0;T\x07title", "", [[0, 5, "color(1)"]]),
        ]
    )
    assert viewer.colours_of(2) == viewer.colours_of(3) == viewer.colours_of(4) == ()
    assert viewer.all[4].text == "title"


async def test_the_log_view_draws_the_colours_and_never_an_escape(tmp_path: Path) -> None:
    app = StagedeckApp(offline_engine(tmp_path), start_engine=False, watch_themes=False)
    app.engine.logs.append("orders", "[bold red]not markup[/] \x1b[31mred\x1b[0m after")
    async with app.run_test(size=(100, 30)) as pilot:
        await pilot.press("2")
        view = app.screen.query_one(LogView)
        row = view.render_line(view.cursor - view.scroll_offset.y)
        text = "".join(seg.text for seg in row)
        assert "[bold red]not markup[/] red after" in text and "\x1b" not in text
        red = [seg for seg in row if seg.text == "red"]
        assert red and red[0].style is not None
        assert red[0].style.color == Color.parse("color(1)")
        after = next(seg for seg in row if "after" in seg.text)
        assert after.style is None or after.style.color != Color.parse("color(1)")
        # A search marks its matches over the colours.
        view.set_search("ed af")
        await pilot.pause()
        row = view.render_line(view.cursor - view.scroll_offset.y)
        pieces = [seg.text for seg in row]
        assert "r" in pieces and "ed" in pieces and " af" in pieces
