"""Log filters and the small query language people type to set them.

``service:orders,payments level:warn since:5m rid:7f3a9c2d checkout`` keeps
lines of those services, at warning or worse, from the last five minutes,
of that request, containing "checkout". ``re:`` makes the free text a regular
expression. It lives in the core so the CLI and tests can use it without a
terminal.
"""

from __future__ import annotations

import re
import shlex
import time
from dataclasses import dataclass, field, replace

from stagedeck.engine.logs import LEVEL_RANK, LEVELS, LogLine

_DURATION = re.compile(r"^(\d+(?:\.\d+)?)(s|m|h|d)$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


class QueryError(ValueError):
    """A query that cannot be applied; the message says which word and why."""


def parse_duration(text: str) -> float:
    m = _DURATION.match(text.strip())
    if not m:
        raise QueryError(f"'{text}' is not a duration: use 30s, 5m, 1h or 2d")
    return float(m.group(1)) * _UNITS[m.group(2)]


def compile_search(text: str) -> re.Pattern[str] | None:
    """A case-insensitive pattern for ``text``; ``re:...`` is a regular expression."""
    if not text:
        return None
    if text.startswith("re:"):
        try:
            return re.compile(text[3:], re.IGNORECASE)
        except re.error as exc:
            raise QueryError(f"bad regular expression {text[3:]!r}: {exc}") from None
    return re.compile(re.escape(text), re.IGNORECASE)


@dataclass(frozen=True)
class LogFilter:
    """What a log view shows. Empty fields mean "no restriction"."""

    services: frozenset[str] = frozenset()
    min_level: str = ""
    text: str = ""
    request_id: str = ""
    since_seconds: float = 0.0
    """Relative: lines from the last N seconds (re-evaluated as time passes)."""
    pattern: re.Pattern[str] | None = field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.text and self.pattern is None:
            object.__setattr__(self, "pattern", compile_search(self.text))

    @property
    def active(self) -> bool:
        return bool(
            self.services or self.min_level or self.text or self.request_id or self.since_seconds
        )

    def matches(self, line: LogLine, now: float | None = None) -> bool:
        if self.services and line.service not in self.services:
            return False
        if self.min_level and LEVEL_RANK.get(line.level or "info", 2) < LEVEL_RANK[self.min_level]:
            return False
        if self.request_id and line.rid != self.request_id:
            return False
        if self.since_seconds and line.ts < (now or time.time()) - self.since_seconds:
            return False
        return not (self.pattern is not None and self.pattern.search(line.text) is None)

    def with_request(self, rid: str) -> LogFilter:
        """Follow one request across every service: drop the service filter, keep the rest."""
        return replace(self, request_id=rid, services=frozenset())

    def describe(self) -> str:
        parts = []
        if self.services:
            parts.append("service:" + ",".join(sorted(self.services)))
        if self.min_level:
            parts.append(f"level:{self.min_level}")
        if self.since_seconds:
            parts.append(f"since:{_format_duration(self.since_seconds)}")
        if self.request_id:
            parts.append(f"rid:{self.request_id}")
        if self.text:
            parts.append(shlex.quote(self.text) if " " in self.text else self.text)
        return " ".join(parts)


def _format_duration(seconds: float) -> str:
    for unit in ("d", "h", "m"):
        if seconds >= _UNITS[unit] and seconds % _UNITS[unit] == 0:
            return f"{int(seconds // _UNITS[unit])}{unit}"
    return f"{seconds:g}s"


def parse_query(query: str, known_services: list[str] | None = None) -> LogFilter:
    """Parse the filter language; raise QueryError naming the word that is wrong."""
    try:
        words = shlex.split(query)
    except ValueError as exc:
        raise QueryError(f"cannot read the query: {exc}") from None
    services: set[str] = set()
    level = ""
    rid = ""
    since = 0.0
    text: list[str] = []
    for word in words:
        key, sep, value = word.partition(":")
        if not sep or key == "re":
            text.append(word)
            continue
        if key in ("service", "svc", "s"):
            for name in filter(None, value.split(",")):
                if known_services is not None and name not in known_services:
                    raise QueryError(f"no service '{name}': known are {', '.join(known_services)}")
                services.add(name)
        elif key in ("level", "l"):
            level = {"warning": "warn", "err": "error"}.get(value, value)
            if level not in LEVELS:
                raise QueryError(f"no level '{value}': use {', '.join(LEVELS)}")
        elif key in ("since", "last"):
            since = parse_duration(value)
        elif key in ("rid", "request", "request_id"):
            rid = value
        else:
            text.append(word)
    return LogFilter(frozenset(services), level, " ".join(text), rid, since)
