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
