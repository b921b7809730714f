"""The one gate every outside string passes before anything can show it.

Text from outside is data, and it is hostile: log lines, but also recipe
names, the shared database (other people write it), container labels and
health-check output, Kubernetes metadata, probe output. Any of it could hold
an escape sequence that sets the window title (OSC 0/2), writes the user's
clipboard (OSC 52), switches screens (``CSI ?1049l``), makes the terminal
answer a query (``CSI 6n``), or invisible characters (bidi overrides and
isolates, zero-width joiners) that make text read differently from what it is.

So text is cleaned once, where it enters the model (record constructors,
probe results, target state, recipe loading), never in each widget:

* :func:`clean` strips escape sequences (CSI, OSC, DCS, SOS/PM/APC, two-byte
  escapes), every other C0/C1 control and the invisible formatting characters.
  Tabs become spaces; newlines survive only where the caller says so.
* :func:`visible` is for error messages about a bad value: instead of
  silently dropping the characters it names them (``\\x1b``, ``\\u202e``), so
  the user can find and fix what was written.

The result is :class:`Clean`, a ``str`` marked as having passed the gate
(cleaning it again is free). It is plain text: Rich markup in it is literal
characters, and views draw it with ``rich.text.Text`` or ``markup=False``,
never as markup.
"""

from __future__ import annotations

import re
from typing import Final

INVISIBLE: Final = (
    "\u200b\u200c\u200d\u2060\ufeff\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069"
)
"""Zero-width characters and bidi embeddings, overrides and isolates."""

_INVISIBLE_CLASS = "\u200b-\u200d\u2060\ufeff\u202a-\u202e\u2066-\u2069"

ESCAPES: Final = re.compile(
    # CSI (7-bit and C1), OSC (ended by BEL or ST, or unterminated), DCS/SOS/PM/APC
    # strings, then any other two-byte escape, then a lone ESC.
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b\]|\x9d)[^\x07\x1b\x9c]*(?:\x07|\x1b\\|\x9c)?"
    r"|(?:\x1b[PX^_]|[\x90\x98\x9e\x9f])[^\x1b\x9c]*(?:\x1b\\|\x9c)?"
    r"|\x1b[ -~]?"
)
"""Whole escape sequences, removed with their parameters (not just the ESC)."""

UNSAFE: Final = re.compile(f"[\\x00-\\x08\\x0a-\\x1f\\x7f-\\x9f{_INVISIBLE_CLASS}]")
"""Anything but tab that must not reach a terminal: one search decides if work is needed."""

UNSAFE_EXCEPT_NEWLINE: Final = re.compile(f"[\\x00-\\x08\\x0b-\\x1f\\x7f-\\x9f{_INVISIBLE_CLASS}]")
"""As :data:`UNSAFE` but newline is fine: for a batch of lines joined by newlines."""

_STARTS = f"(?=[\\x00-\\x1f\\x7f-\\x9f{_INVISIBLE_CLASS}])"
"""A look-ahead on what can start a match: most positions are skipped at once (2-3x faster)."""
_STRIP = re.compile(
    _STARTS + f"(?:{ESCAPES.pattern}|[\\x00-\\x08\\x0a-\\x1f\\x7f-\\x9f{_INVISIBLE_CLASS}])"
)
_STRIP_KEEP_NEWLINES = re.compile(
    _STARTS
    + f"(?:{ESCAPES.pattern}|[\\x00-\\x08\\x0b-\\x0c\\x0e-\\x1f\\x7f-\\x9f{_INVISIBLE_CLASS}])"
)


_SHOWN = re.compile(f"[\\x00-\\x1f\\x7f-\\x9f{_INVISIBLE_CLASS}]")
_SHOWN_KEEP_NEWLINES = re.compile(f"[\\x00-\\x09\\x0b-\\x1f\\x7f-\\x9f{_INVISIBLE_CLASS}]")


class Clean(str):
    """A string that has passed the gate: no control, escape or invisible characters.

    A marker type, so a test (or a reader) can see that a value came through
    :func:`clean`; string operations on it return plain ``str`` again.
    """

    __slots__ = ()


def clean(text: object, *, newlines: bool = False, tabs: int = 4) -> Clean:
    """``text`` with escape sequences, controls and invisible characters removed.

    ``newlines``: keep line breaks (``\\r\\n`` and ``\\r`` become ``\\n``), for
    multi-line values like a traceback or a note; otherwise each line break
    becomes a space, so a one-line field stays one line. Tabs expand to
    ``tabs`` columns. Anything that is not a string is formatted first.
    """
    if type(text) is Clean:
        return text
    if not isinstance(text, str):
        text = "" if text is None else str(text)
    if UNSAFE.search(text) is not None:
        if "\n" in text or "\r" in text:
            if newlines:
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            else:
                text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
        # One pass: whole escape sequences first (alternation order), then single characters.
        text = (_STRIP_KEEP_NEWLINES if newlines else _STRIP).sub("", text)
    if "\t" in text:
        text = text.expandtabs(tabs)
    return Clean(text)


def strip_line(text: str) -> str:
    """The gate's work on one line already found unsafe (by :data:`UNSAFE`): for the log
    path, which checks whole batches first and keeps its lines plain ``str``."""
    if "\n" in text or "\r" in text:
        text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    text = _STRIP.sub("", text)
    return text.expandtabs(4) if "\t" in text else text


def clean_lines(text: object) -> Clean:
    """:func:`clean` keeping line breaks (notes, messages, tracebacks)."""
    return clean(text, newlines=True)


def clean_or_none(text: str | None, *, newlines: bool = False) -> Clean | None:
    return None if text is None else clean(text, newlines=newlines)


def is_clean(text: str, *, newlines: bool = False) -> bool:
    """True when :func:`clean` would change nothing but tabs."""
    pattern = UNSAFE_EXCEPT_NEWLINE if newlines else UNSAFE
    return pattern.search(text.replace("\r\n", "\n") if newlines else text) is None


def visible(text: object, limit: int = 200, *, newlines: bool = False) -> Clean:
    """``text`` for an error message: unsafe characters shown as ``\\x1b``/``\\u202e``.

    Used where the user has to find and fix the value (a recipe key, a label),
    so dropping the characters silently would hide the very thing that is wrong.
    Long values are cut to ``limit`` characters.
    """
    if not isinstance(text, str):
        text = str(text)
    if len(text) > limit:
        text = text[:limit] + "…"
    if (UNSAFE_EXCEPT_NEWLINE if newlines else UNSAFE).search(text) is None and "\t" not in text:
        return Clean(text)

    def name(m: re.Match[str]) -> str:
        c = m.group(0)
        return f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}"

    pattern = _SHOWN_KEEP_NEWLINES if newlines else _SHOWN
    return Clean(pattern.sub(name, text))


def first_unsafe(text: str) -> tuple[int, str] | None:
    """(index, ``\\x1b``-style name) of the first unsafe character, or None."""
    m = UNSAFE.search(text)
    if m is None:
        return None
    c = m.group(0)
    return m.start(), (f"\\x{ord(c):02x}" if ord(c) < 0x100 else f"\\u{ord(c):04x}")


def gate_fields(record: object, *names: str) -> None:
    """Clean the named string fields of a frozen dataclass in place (from ``__post_init__``).

    For records built from platform answers (a container's state, a pod's reason):
    the fields shown to people pass the gate, the ones used as identifiers do not
    need to be named here."""
    for name in names:
        value = getattr(record, name)
        if isinstance(value, str) and type(value) is not Clean:
            object.__setattr__(record, name, clean(value))


# --------------------------------------------------------------------------- log colours

ColourSpans = tuple[tuple[int, int, str], ...]
"""Styled stretches of a cleaned line: (start, end, Rich style string), in order, apart."""

_SGR: Final = re.compile(r"\x1b\[([0-9;]{0,64})m")
"""Select Graphic Rendition in its plain 7-bit form: the one escape whose effects are kept."""
_CONTROLS_BUT_TAB: Final = re.compile(f"[\\x00-\\x08\\x0a-\\x1f\\x7f-\\x9f{_INVISIBLE_CLASS}]")
_STYLE_WORDS: Final = re.compile(
    r"(?:(?:bold|dim|italic|underline|reverse|strike)"
    r"|(?:on )?(?:color\((?:25[0-5]|2[0-4]\d|1?\d?\d)\)|#[0-9a-f]{6}))"
)
MAX_COLOUR_SPANS: Final = 64
"""A line with more colour changes than this keeps the first ones (a rainbow is not a log)."""


class _Sgr:
    """The SGR state a line has set so far, limited to colours and plain styles."""

    __slots__ = ("attrs", "bg", "fg")

    _ON: Final = {1: "bold", 2: "dim", 3: "italic", 4: "underline", 7: "reverse", 9: "strike"}
    _OFF: Final = {22: ("bold", "dim"), 23: ("italic",), 24: ("underline",), 27: ("reverse",),
                   29: ("strike",)}  # fmt: skip

    def __init__(self) -> None:
        self.fg = ""
        self.bg = ""
        self.attrs: list[str] = []

    def apply(self, params: str) -> None:
        codes = [int(p) if p else 0 for p in params.split(";")] if params else [0]
        i = 0
        while i < len(codes):
            code = codes[i]
            i += 1
            if code == 0:
                self.fg, self.bg, self.attrs = "", "", []
            elif code in self._ON:
                if self._ON[code] not in self.attrs:
                    self.attrs.append(self._ON[code])
            elif code in self._OFF:
                self.attrs = [a for a in self.attrs if a not in self._OFF[code]]
            elif 30 <= code <= 37 or 90 <= code <= 97:
                self.fg = f"color({code - 30 if code < 90 else code - 82})"
            elif 40 <= code <= 47 or 100 <= code <= 107:
                self.bg = f"color({code - 40 if code < 100 else code - 92})"
            elif code == 39:
                self.fg = ""
            elif code == 49:
                self.bg = ""
            elif code in (38, 48):
                colour, i = _extended_colour(codes, i)
                if colour and code == 38:
                    self.fg = colour
                elif colour:
                    self.bg = colour
            # Anything else (blink, conceal, fonts, overline...) is ignored: not kept.

    def style(self) -> str:
        parts = list(self.attrs)
        if self.fg:
            parts.append(self.fg)
        if self.bg and self.bg != self.fg:  # same colour on itself would hide the text
            parts.append(f"on {self.bg}")
        return " ".join(parts)


def _extended_colour(codes: list[int], i: int) -> tuple[str, int]:
    """``5;N`` (256 colours) or ``2;R;G;B`` after a 38/48; the colour and where to go on."""
    if i < len(codes) and codes[i] == 5 and i + 1 < len(codes):
        n = codes[i + 1]
        return (f"color({n})" if 0 <= n <= 255 else ""), i + 2
    if i < len(codes) and codes[i] == 2 and i + 3 < len(codes):
        r, g, b = codes[i + 1 : i + 4]
        ok = all(0 <= c <= 255 for c in (r, g, b))
        return (f"#{r:02x}{g:02x}{b:02x}" if ok else ""), i + 4
    return "", len(codes)  # malformed: the rest of this sequence means nothing sure


def clean_keeping_colours(text: str) -> tuple[Clean, ColourSpans]:
    """A log line through the gate, with the colours it set (SGR only) kept aside.

    The text comes out exactly as clean as :func:`clean` makes it: every escape
    sequence is removed from it, SGR ones included, with every other control and
    invisible character. What an SGR sequence asked for (colours: 16, 256 and
    true colour; bold, dim, italic, underline, reverse, strike) is returned as
    spans over the cleaned text, which views draw as styles. Nothing else an escape
    can do (move the cursor, set a title, write the clipboard, hyperlink, conceal,
    blink) survives, because no sequence is ever written back: views build their
    own from the spans.
    """
    if "\x1b[" not in text:
        return clean(text), ()
    if "\n" in text or "\r" in text:  # first, as clean() does: ESC + space is one escape
        text = text.replace("\r\n", " ").replace("\n", " ").replace("\r", " ")
    out: list[str] = []
    spans: list[tuple[int, int, str]] = []
    state = _Sgr()
    style, start, col, pos = "", 0, 0, 0

    def emit(segment: str) -> None:
        nonlocal col
        if not segment:
            return
        segment = _CONTROLS_BUT_TAB.sub("", segment)
        if "\t" in segment:  # tab stops are columns of the whole line, not of the piece
            pad = col % 4
            segment = (" " * pad + segment).expandtabs(4)[pad:]
        out.append(segment)
        col += len(segment)

    for m in ESCAPES.finditer(text):
        emit(text[pos : m.start()])
        pos = m.end()
        sgr = _SGR.fullmatch(m.group())
        if sgr is None:
            continue  # any other escape: gone, and it changes no style
        state.apply(sgr.group(1))
        new = state.style()
        if new != style:
            if style and col > start and len(spans) < MAX_COLOUR_SPANS:
                spans.append((start, col, style))
            style, start = new, col
    emit(text[pos:])
    if style and col > start and len(spans) < MAX_COLOUR_SPANS:
        spans.append((start, col, style))
    return Clean("".join(out)), tuple(spans)


def valid_colour_spans(spans: object, length: int) -> ColourSpans:
    """Spans from elsewhere (another process, the wire) as :func:`clean_keeping_colours`
    would make them, or none: in order, apart, inside the text, styles from the list."""
    if not isinstance(spans, list | tuple) or len(spans) > MAX_COLOUR_SPANS:
        return ()
    out: list[tuple[int, int, str]] = []
    last = 0
    for item in spans:
        if not isinstance(item, list | tuple) or len(item) != 3:
            return ()
        start, end, style = item
        if type(start) is not int or type(end) is not int or not isinstance(style, str):
            return ()
        if not last <= start < end <= length or not valid_colour_style(style):
            return ()
        out.append((start, end, style))
        last = end
    return tuple(out)


def valid_colour_style(style: str) -> bool:
    """Whether ``style`` is one :func:`clean_keeping_colours` can make (no links, no markup)."""
    words = style.split(" ")
    i = 0
    while i < len(words):
        word = words[i] + (f" {words[i + 1]}" if words[i] == "on" and i + 1 < len(words) else "")
        if not _STYLE_WORDS.fullmatch(word):
            return False
        i += 2 if words[i] == "on" else 1
    return bool(style) and len(style) <= 120
