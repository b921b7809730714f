"""Map TOML key paths to the line they were written on.

``tomllib`` returns plain dicts with no positions, yet every recipe error must
name its line. Rather than carry a second TOML parser, we scan the text for
table headers and ``key =`` assignments, which is all a position needs: the
value itself is always taken from ``tomllib``.
"""

from __future__ import annotations

import re

_HEADER = re.compile(r"^\s*\[\[?\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_ASSIGN = re.compile(
    r"^\s*((?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_\-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)
_INLINE_KEY = re.compile(r"([A-Za-z0-9_\-]+|\"[^\"]*\")\s*=")


def _split_key(raw: str) -> tuple[str, ...]:
    parts = re.findall(r"\"[^\"]*\"|'[^']*'|[A-Za-z0-9_\-]+", raw)
    return tuple(p.strip("\"'") for p in parts)


class Positions:
    """Line numbers (1-based) for every table and key found in a TOML text."""

    def __init__(self, text: str) -> None:
        self._lines: dict[tuple[str, ...], int] = {}
        table: tuple[str, ...] = ()
        in_multiline = False
        for number, line in enumerate(text.splitlines(), start=1):
            if in_multiline:
                if line.count('"""') % 2 == 1 or line.count("'''") % 2 == 1:
                    in_multiline = False
                continue
            header = _HEADER.match(line)
            if header and "=" not in header.group(1):
                table = _split_key(header.group(1))
                self._lines.setdefault(table, number)
                continue
            assign = _ASSIGN.match(line)
            if not assign:
                continue
            key = table + _split_key(assign.group(1))
            self._lines.setdefault(key, number)
            rest = line[assign.end() :]
            if rest.count('"""') % 2 == 1 or rest.count("'''") % 2 == 1:
                in_multiline = True
            # Keys of an inline table on the same line: ``env = { A = "x" }``.
            if "{" in rest:
                for inner in _INLINE_KEY.finditer(rest[rest.index("{") :]):
                    self._lines.setdefault(key + (inner.group(1).strip('"'),), number)

    def line(self, path: tuple[str, ...]) -> int | None:
        """The line of ``path``, or of its nearest ancestor that was written down."""
        while path:
            if path in self._lines:
                return self._lines[path]
            path = path[:-1]
        return None
