"""What the store keeps, as plain frozen records, and the limits on what it keeps.

Times are floats of epoch seconds in Python and ISO-8601 UTC text with
milliseconds in the file (see :func:`iso`), so any SQLite tool reads it as it is.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Final

from stagedeck.text import Clean, clean

if TYPE_CHECKING:
    pass


Clock = Callable[[], float]
Row = dict[str, Any]

TAGS: Final = ("flaky", "environment", "data", "bug", "infra", "known")
"""What an annotation says a failure is; a closed set so the cockpit can filter and colour."""

OUTCOMES: Final = ("passed", "failed", "error", "skipped")
"""Test outcomes as :mod:`stagedeck.suites.junit` spells them; short forms are accepted on input."""

TOPICS: Final = ("runs", "annotations", "audit", "leases", "presence")
"""What :meth:`Store.changed` reports; each write bumps the counters of what it touched."""

TRACEBACK_CHARS: Final = 8000
"""A stored traceback keeps its last characters: the cause is at the end."""

MESSAGE_CHARS: Final = 4000
CONTEXT_ITEMS: Final = 200
"""At most this many health/log items are kept per failed test."""
CONTEXT_CHARS: Final = 2000
"""Each context item's content is cut to this many characters."""

SUSPECTS_KEPT: Final = 5
"""Suspects kept per failed test: the ranking's head is what anyone reads."""
SUSPECT_CHARS: Final = 8000
"""One stored suspect's JSON at most (evidence lines are dropped from the end to fit)."""

PRESENCE_RETENTION_S: Final = 86400.0
"""Presence rows older than this are deleted by the next heartbeat: the table stays tiny."""


# --------------------------------------------------------------------------- time


def iso(ts: float) -> str:
    """Epoch seconds → ``2025-11-22T03:41:12.345Z`` (UTC, milliseconds, fixed width)."""
    text = datetime.fromtimestamp(ts, UTC).isoformat(timespec="milliseconds")
    return text.replace("+00:00", "Z")


def from_iso(text: str) -> float:
    """The inverse of :func:`iso`; also reads other ISO-8601 forms other tools may write."""
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


def _ms(ts: float) -> float:
    """``ts`` as stored (whole milliseconds), so what a call returns equals what is read back."""
    return from_iso(iso(ts))


def _opt_iso(ts: float | None) -> str | None:
    return None if ts is None else iso(ts)


def _opt_time(text: str | None) -> float | None:
    return None if text is None else from_iso(text)


# ----------------------------------------------------------------------- the gate


def _gate(record: object, fields: tuple[str, ...], multiline: tuple[str, ...] = ()) -> None:
    """Clean a record's text fields as it is built: the shared file is other people's text.

    Every record read from the store (or about to be written) passes here, so no
    front end (cockpit, ``lease show``, ``failures``, reports) can print a colleague's
    escape sequence; see :mod:`stagedeck.text`."""
    for name in fields:
        value = getattr(record, name)
        if isinstance(value, str) and type(value) is not Clean:
            object.__setattr__(record, name, clean(value))
        elif isinstance(value, tuple):
            object.__setattr__(record, name, tuple(clean(v) for v in value))
    for name in multiline:
        value = getattr(record, name)
        if isinstance(value, str) and type(value) is not Clean:
            object.__setattr__(record, name, clean(value, newlines=True))


def clean_data(value: Any) -> Any:
    """JSON-like data with every string in it cleaned (keys too)."""
    if isinstance(value, str):
        return clean(value, newlines=True)
    if isinstance(value, Mapping):
        return {clean(k) if isinstance(k, str) else k: clean_data(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return type(value)(clean_data(v) for v in value)
    return value


# ----------------------------------------------------------------------- records


@dataclass(frozen=True)
class Environment:
    name: str
    recipe_path: str | None
    target: str | None
    first_seen: float
    last_seen: float

    def __post_init__(self) -> None:
        _gate(self, ("name", "recipe_path", "target"), ())


@dataclass(frozen=True)
class Run:
    """One invocation of one or more suites against one environment."""

    id: int
    environment: str
    user: str
    started: float
    ended: float | None = None
    outcome: str | None = None

    def __post_init__(self) -> None:
        _gate(self, ("environment", "user", "outcome"), ())


@dataclass(frozen=True)
class SuiteRun:
    id: int
    run_id: int
    suite: str
    state: str
    started: float | None = None
    ended: float | None = None
    passed: int = 0
    failed: int = 0
    errors: int = 0
    skipped: int = 0
    total: int = 0
    output_path: str | None = None
    junit_path: str | None = None
    detail: str = ""

    def __post_init__(self) -> None:
        _gate(self, ("suite", "state", "output_path", "junit_path"), ("detail",))


@dataclass(frozen=True)
class TestResult:
    """One test case's result. ``id``/``suite_run_id`` are set on records read back.

    ``signature`` is computed from the test id, message and traceback for failed and
    errored tests when not given; passed and skipped tests have none.
    """

    __test__ = False  # not a pytest test class

    test_id: str
    outcome: str
    name: str = ""
    duration: float = 0.0
    message: str = ""
    traceback: str = ""
    started: float | None = None
    ended: float | None = None
    signature: str | None = None
    id: int | None = None
    suite_run_id: int | None = None

    def __post_init__(self) -> None:
        _gate(self, ("test_id", "outcome", "name"), ("message", "traceback"))


@dataclass(frozen=True)
class ContextItem:
    """A health transition or a warning/error log line seen during a failed test's window.

    ``content`` is text (a log line) or JSON-able data (a health state or transition).
    """

    service: str
    kind: str
    """'health', 'log' or 'trace' (a trace's summary and what it blames)."""
    at: float
    content: str | Mapping[str, Any] | list[Any]

    def __post_init__(self) -> None:
        _gate(self, ("service", "kind"))
        object.__setattr__(self, "content", clean_data(self.content))


@dataclass(frozen=True)
class Failure:
    """A failed or errored test with where it ran."""

    run_id: int
    suite: str
    result: TestResult

    def __post_init__(self) -> None:
        _gate(self, ("suite",), ())


@dataclass(frozen=True)
class HistoryEntry:
    run_id: int
    outcome: str
    at: float
    signature: str | None = None


@dataclass(frozen=True)
class Flakiness:
    """How often a test's verdict flips between pass and fail in its recent results.

    ``rate`` = ``flips / (samples - 1)``: among the last N non-skipped results in
    chronological order, how often a result differs (pass vs. fail/error) from the
    one before. A test that always fails is broken, not flaky (rate 0); one that
    alternates is as flaky as it gets (rate 1). ``fail_rate`` is given alongside.
    Fewer than two samples say nothing: rate 0.
    """

    samples: int
    flips: int
    failures: int

    @property
    def rate(self) -> float:
        return self.flips / (self.samples - 1) if self.samples > 1 else 0.0

    @property
    def fail_rate(self) -> float:
        return self.failures / self.samples if self.samples else 0.0


@dataclass(frozen=True)
class SignatureStats:
    count: int
    first_seen: float | None
    last_seen: float | None


@dataclass(frozen=True)
class Annotation:
    id: int
    signature: str
    test_id: str
    environment: str
    author: str
    tag: str
    note: str
    link: str | None
    created: float
    updated: float
    deleted: bool = False

    def __post_init__(self) -> None:
        _gate(self, ("test_id", "environment", "author", "tag", "link"), ("note",))


@dataclass(frozen=True)
class AuditEntry:
    """Who did what to which services of an environment, when, and how it ended."""

    id: int
    environment: str
    user: str
    action: str
    services: tuple[str, ...]
    started: float
    ended: float | None
    outcome: str | None
    details: dict[str, Any]
    forced: bool

    def __post_init__(self) -> None:
        _gate(self, ("environment", "user", "action", "services", "outcome"), ())
        object.__setattr__(self, "details", clean_data(self.details))


@dataclass(frozen=True)
class Lease:
    """An environment reserved by one owner until ``expires`` (epoch seconds).

    ``taken_from`` is set on a lease just acquired by force: whose lease it replaced.
    """

    environment: str
    owner: str
    reason: str
    acquired: float
    expires: float
    heartbeat: float
    taken_from: str | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        _gate(self, ("environment", "owner", "reason", "taken_from"), ())

    def remaining_s(self, now: float) -> float:
        return max(0.0, self.expires - now)

    def expired(self, now: float) -> bool:
        return now >= self.expires

    def describe(self, now: float | None = None) -> str:
        """``leased by alice for 25 more minutes: load test``."""
        now = time.time() if now is None else now
        reason = f": {self.reason}" if self.reason else ""
        if self.expired(now):
            return f"lease by {self.owner} expired {_span(now - self.expires)} ago{reason}"
        return f"leased by {self.owner} for {_span(self.remaining_s(now), 'more ')}{reason}"


@dataclass(frozen=True)
class Watcher:
    user: str
    session: str
    last_seen: float

    def __post_init__(self) -> None:
        _gate(self, ("user", "session"), ())


def _span(seconds: float, more: str = "") -> str:
    s = max(0, round(seconds))
    for unit, size, up_to in (
        ("second", 1, 90),
        ("minute", 60, 90 * 60),
        ("hour", 3600, 48 * 3600),
    ):
        if s < up_to:
            n = round(s / size)
            return f"{n} {more}{unit}{'' if n == 1 else 's'}"
    n = round(s / 86400)
    return f"{n} {more}day{'' if n == 1 else 's'}"
