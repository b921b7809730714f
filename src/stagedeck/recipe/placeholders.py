"""``{service.orders.url}``-style placeholders in recipe strings.

Placeholders are resolved once, at load time, so a typo is reported with the
recipe's file and line instead of surfacing later as a failed connection.
Some names only have a value at run time (``{junit}`` for a suite's report
path); those are left in place for the runner to fill.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_.:\-/ ~]*)\}")


class UnknownPlaceholder(KeyError):
    """A placeholder name that has no value; ``known`` lists what would have worked."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = known


Lookup = Callable[[str], str | None]


def resolve(text: str, lookup: Lookup, *, deferred: frozenset[str] = frozenset()) -> str:
    """Replace every ``{name}`` in ``text``; ``{{`` and ``}}`` stand for literal braces."""

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token == "{{":
            return "{{" if deferred else "{"
        if token == "}}":
            return "}}" if deferred else "}"
        name = match.group(1)
        if name in deferred:
            return token
        value = lookup(name)
        if value is None:
            raise UnknownPlaceholder(name, [])
        return value

    return PLACEHOLDER.sub(substitute, text)


def fill(text: str, values: Mapping[str, str]) -> str:
    """Fill run-time placeholders (those deferred at load time) from ``values``."""

    def substitute(match: re.Match[str]) -> str:
        token = match.group(0)
        if token in ("{{", "}}"):
            return token[0]
        return values.get(match.group(1), token)

    return PLACEHOLDER.sub(substitute, text)
