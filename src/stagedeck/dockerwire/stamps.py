"""The engine's RFC 3339 time stamps (``2026-12-01T23:41:32.123456789Z``) in nanoseconds.

By arithmetic rather than ``calendar.timegm(time.strptime(...))``: ``strptime``
imports ``_strptime``, ``calendar``, ``locale`` and ``datetime`` (5-6 ms of the
early frame's 80), and it raises on a date that does not exist instead of saying
"no stamp here".
"""

from __future__ import annotations

import re

_TS = re.compile(rb"^(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d{1,9}))?Z ")
_second_cache: dict[bytes, int | None] = {}
"""Whole seconds per stamp prefix: consecutive lines mostly share their second."""


def days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def _epoch_seconds(match: re.Match[bytes]) -> int | None:
    key = match.group(0)[:19]
    if key in _second_cache:
        return _second_cache[key]
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    seconds: int | None = None
    if 1 <= month <= 12 and 1 <= day <= 31 and hour < 24 and minute < 60 and second <= 60:
        days = days_from_civil(year, month, day)
        seconds = days * 86400 + hour * 3600 + minute * 60 + second
    if len(_second_cache) > 4096:
        _second_cache.clear()
    _second_cache[key] = seconds
    return seconds


def split_timestamp(line: bytes) -> tuple[int | None, bytes]:
    """``2024-05-01T12:00:00.123456789Z text`` -> (nanoseconds since the epoch, text).

    No stamp (or one naming a month 13) gives ``(None, line)``, the line untouched.
    """
    m = _TS.match(line)
    if m is None:
        return None, line
    seconds = _epoch_seconds(m)
    if seconds is None:
        return None, line
    frac = (m.group(7) or b"").ljust(9, b"0")
    return seconds * 1_000_000_000 + int(frac), line[m.end() :]


def parse_iso_ns(text: str) -> int:
    """Docker's RFC 3339 times (``StartedAt``) in nanoseconds; 0 for the zero time or junk."""
    if not text or text.startswith("0001-"):
        return 0
    ns, _ = split_timestamp(text.encode() + b" ")
    return ns or 0


def ns_to_since(ns: int) -> str:
    """The ``since`` query value the logs API accepts: seconds with nanoseconds."""
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"
