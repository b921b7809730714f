"""The public vocabulary of triage: what goes in (a history snapshot), what comes out
(ranked suspects with evidence), and the notification a live monitor sends.

Everything here is a frozen dataclass of plain values, so a ranking can be
compared (did anything change?), stored (``Suspect.to_dict``), sent over a
socket, and rebuilt from the database years later (``Suspect.from_dict``).

How the pieces fit::

    Engine history ──► History (snapshot.py) ──► rank_environment(history)  ──► Ranking
                                              └► explain_failure(history, FailedTest) ─► Ranking
    TriageMonitor (live.py, ``monitor_for(engine)``) owns the current Ranking of a
    running engine and calls its subscribers with SuspectsChanged when it changes.

For the cockpit
---------------
* **The one-line summary**: ``monitor = monitor_for(engine); monitor.start()``
  (after ``engine.start()``), then ``monitor.subscribe(callback)`` and keep the
  latest :class:`SuspectsChanged`; ``event.ranking.line()`` is the text for the status bar
  ("likely cause: payments — hung: 2 health checks timed out since 16:02:11;
  orders, gateway impacted"), and is ``""`` when nothing is abnormal (hide it).
  ``monitor.ranking`` holds the current value at any time (start-up).
  Subscribers are called on the engine's event loop, after the change, at most
  once per loop iteration however many events caused it; they must be quick.
* **The explain view** (``w``): ``ranking.suspects`` in order; each
  :class:`Suspect` has ``verdict`` (one line), ``impacted`` and ``evidence``;
  each :class:`Evidence` has ``text`` (one line, already sanitised: render it as
  plain text, never as markup) and ``where`` (a :class:`Where` saying which view
  holds it: jump there on enter). ``Suspect.fault`` names the kind of trouble
  for colour and icons; ``Suspect.kind`` says whether it is a service, the test
  data, the test itself (flaky) or the platform; ``Suspect.label`` is its name
  for people ("test data (fixtures)").
* **A failed test**: ``monitor.explain(FailedTest(...))`` for a live
  answer, or the stored ranking of a recorded failure:
  ``ranking_from_rows(store.failure_suspects(test_result_id))``.
* **The graph**: ``ranking.top`` is the suspect to mark; ``ranking.impacted()``
  every service marked as impacted by some suspect.

Scores are in [0, 1], comparable within one ranking, not across rankings; a
suspect scoring below :data:`REPORT_THRESHOLD` is not reported.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

# The engine records probe outcomes (it must not import triage); triage reads them.
from stagedeck.engine.probes import ProbeKind as ProbeKind
from stagedeck.engine.probes import ProbeRecord as ProbeRecord

REPORT_THRESHOLD = 0.15
"""Suspects scoring below this are dropped: weak signals alone (one warning line) are noise."""


class SubjectKind(enum.StrEnum):
    """What a suspect is."""

    SERVICE = "service"
    """A service of the environment (``name`` is the service)."""
    TEST_DATA = "test-data"
    """The seeded test data (``name`` is the seed, or ``"test data"`` when there is none)."""
    TEST = "test"
    """The test itself: flaky (``name`` is the test id)."""
    PLATFORM = "platform"
    """The target: Docker engine or Kubernetes API unreachable (``name`` is the target)."""


class Fault(enum.StrEnum):
    """The kind of trouble a suspect shows: drives the verdict's wording and the UI's colour."""

    CRASHED = "crashed"
    """The process or container is gone (exited, killed, connection refused)."""
    HUNG = "hung"
    """Alive but not answering: probes time out."""
    FAILING = "failing requests"
    """Answers, but with errors (5xx, error bodies): an application error."""
    UNHEALTHY = "health check failing"
    """Its health endpoint says unhealthy (or bad body) while its API may still work."""
    SLOW = "slow"
    """Latency above its SLO or well above its own recent baseline."""
    CRASH_LOOP = "crash loop"
    """Restarting again and again (CrashLoopBackOff, OOMKilled, several restarts)."""
    ERRORS = "error burst"
    """Writing errors at a rate well above its own normal."""
    NOT_READY = "not ready"
    """Starting, rolling out, or failing readiness for longer than expected."""
    BAD_DATA = "bad test data"
    """Everything is healthy and the failure looks like missing or wrong fixtures."""
    FLAKY = "flaky"
    """The test flips between pass and fail in its history."""
    TEST_FAILED = "environment looked healthy"
    """Nothing abnormal around the test: the test, or the code it tests."""
    UNREACHABLE = "unreachable"
    """The platform (Docker engine, Kubernetes API) cannot be reached."""


class EvidenceKind(enum.StrEnum):
    HEALTH = "health"
    """A health/state transition with its reason."""
    PROBE = "probe"
    """Health check outcomes: timed out, refused, HTTP 5xx, bad body."""
    LATENCY = "latency"
    """Latency against the service's SLO or its own baseline."""
    LOG = "log"
    """A log line (error burst, a line naming another service)."""
    REQUEST = "request"
    """One request followed across services by its request id."""
    RESTART = "restart"
    """Restarts, crash loops, OOM kills."""
    CHANGE = "change"
    """Something someone did shortly before: redeploy, reseed, reload, config change."""
    PLATFORM = "platform"
    """What the platform says: readiness, rollout, waiting reason."""
    GRAPH = "graph"
    """Dependency reasoning: "its own dependencies are healthy", "impacted by ..."."""
    TEST = "test"
    """About the test: its message, its flip rate, the fixture it asked for."""
    SEED = "seed"
    """The last reseed and its verify result."""
    TRACE = "trace"
    """Spans: the one that failed first, the one that took the time, span latency shifts."""


class View(enum.StrEnum):
    """Where a piece of evidence lives in the cockpit (the jump target of the explain view)."""

    LOGS = "logs"
    """The log explorer: filter to ``service``, around ``at``, by ``request_id``."""
    GRAPH = "graph"
    """The dependency graph, focused on ``service``."""
    CHART = "chart"
    """The latency chart of ``service`` around ``at``."""
    AUDIT = "audit"
    """The audit log entry ``audit_id`` (or the action at ``at`` when not stored)."""
    SERVICE = "service"
    """The services table row of ``service`` (its status and reason)."""
    TEST = "test"
    """The failed test ``test_id`` (its message and output)."""
    TRACES = "traces"
    """The traces view, filtered to ``test_id`` (a failed test's traces) or ``service``."""


@dataclass(frozen=True, slots=True)
class Where:
    """A pointer from an evidence line to the view that holds it."""

    view: View
    service: str = ""
    at: float | None = None
    """The moment to scroll to (epoch seconds)."""
    request_id: str = ""
    """Log explorer: filter to this request id."""
    log_seq: int | None = None
    """Log explorer: the exact line's sequence number in the engine's LogHub (live only)."""
    audit_id: int | None = None
    test_id: str = ""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"view": self.view.value}
        for key in ("service", "at", "request_id", "log_seq", "audit_id", "test_id"):
            value = getattr(self, key)
            if value not in ("", None):
                out[key] = value
        return out

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Where:
        try:
            view = View(str(raw.get("view", "service")))
        except ValueError:
            view = View.SERVICE
        return cls(
            view,
            str(raw.get("service", "")),
            _opt_float(raw.get("at")),
            str(raw.get("request_id", "")),
            _opt_int(raw.get("log_seq")),
            _opt_int(raw.get("audit_id")),
            str(raw.get("test_id", "")),
        )


@dataclass(frozen=True, slots=True)
class Evidence:
    """One reason to suspect something, as one line of plain (sanitised) text."""

    kind: EvidenceKind
    text: str
    """"2 health checks timed out (GET http://127.0.0.1:47103/health, 1s)"; plain text."""
    at: float | None
    """When it was observed (epoch seconds); None for timeless facts ("deps healthy")."""
    service: str = ""
    """The service it is about ('' when about a test or the data)."""
    where: Where = field(default_factory=lambda: Where(View.SERVICE))
    weight: float = 0.0
    """How much it added to the suspect's score (for ordering evidence, not for display)."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "text": self.text,
            "at": self.at,
            "service": self.service,
            "where": self.where.to_dict(),
            "weight": round(self.weight, 3),
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Evidence:
        try:
            kind = EvidenceKind(str(raw.get("kind", "health")))
        except ValueError:
            kind = EvidenceKind.HEALTH
        where = raw.get("where")
        return cls(
            kind,
            str(raw.get("text", "")),
            _opt_float(raw.get("at")),
            str(raw.get("service", "")),
            Where.from_dict(where) if isinstance(where, Mapping) else Where(View.SERVICE),
            _opt_float(raw.get("weight")) or 0.0,
        )


@dataclass(frozen=True, slots=True)
class Suspect:
    """A ranked answer to "what is at fault?", with the evidence that says so."""

    kind: SubjectKind
    name: str
    score: float
    """0..1; the ranking is by score, then by name (stable)."""
    fault: Fault
    verdict: str
    """One line: "hung: 2 health checks timed out since 16:02:11; orders, gateway impacted"."""
    impacted: tuple[str, ...] = ()
    """Services abnormal (or failing tests) because of this suspect, in dependency order."""
    evidence: tuple[Evidence, ...] = ()
    """Strongest first."""
    since: float | None = None
    """When the trouble started, as far as the history shows."""

    @property
    def key(self) -> tuple[str, str]:
        return (self.kind.value, self.name)

    @property
    def label(self) -> str:
        """ "payments", "test data (fixtures)", "flaky test tests/test_api.py::test_x"."""
        if self.kind is SubjectKind.SERVICE:
            return self.name
        if self.kind is SubjectKind.TEST_DATA:
            return "test data" if self.name in ("", "test data") else f"test data ({self.name})"
        if self.kind is SubjectKind.TEST:
            return f"the test itself ({self.name})"
        return f"{self.name} (platform)"

    def line(self) -> str:
        """ "payments — hung: 2 health checks timed out since 16:02:11; orders impacted"."""
        return f"{self.label} — {self.verdict}"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "name": self.name,
            "score": round(self.score, 3),
            "fault": self.fault.value,
            "verdict": self.verdict,
            "impacted": list(self.impacted),
            "since": self.since,
            "evidence": [e.to_dict() for e in self.evidence],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Suspect:
        """Rebuild a stored suspect; unknown kinds (a newer stagedeck wrote it) degrade softly."""
        try:
            kind = SubjectKind(str(raw.get("kind", "service")))
        except ValueError:
            kind = SubjectKind.SERVICE
        try:
            fault = Fault(str(raw.get("fault", "failing requests")))
        except ValueError:
            fault = Fault.FAILING
        evidence = raw.get("evidence")
        impacted = raw.get("impacted")
        return cls(
            kind,
            str(raw.get("name", "")),
            _opt_float(raw.get("score")) or 0.0,
            fault,
            str(raw.get("verdict", "")),
            tuple(str(s) for s in impacted) if isinstance(impacted, list) else (),
            tuple(Evidence.from_dict(e) for e in evidence if isinstance(e, Mapping))
            if isinstance(evidence, list)
            else (),
            _opt_float(raw.get("since")),
        )


class Question(enum.StrEnum):
    ENVIRONMENT = "environment"
    """"Which service is most likely at fault for what is broken right now?"."""
    FAILURE = "failure"
    """"Why did this test fail?"."""


@dataclass(frozen=True, slots=True)
class Ranking:
    """The answer to one question at one moment: suspects, best first."""

    question: Question
    at: float
    suspects: tuple[Suspect, ...] = ()
    observed_s: float | None = None
    """How long the history behind it covers (``why`` with nothing watching says so)."""
    subject: str = ""
    """For a failure: the test id."""

    @property
    def top(self) -> Suspect | None:
        return self.suspects[0] if self.suspects else None

    @property
    def abnormal(self) -> bool:
        """Anything to report: ``why`` exits 1, the cockpit shows the suspect line."""
        return bool(self.suspects)

    def impacted(self) -> set[str]:
        return {name for s in self.suspects for name in s.impacted}

    def line(self) -> str:
        """The status bar's one line, '' when nothing is abnormal."""
        top = self.top
        if top is None:
            return ""
        down = [
            s for s in self.suspects if s.kind is SubjectKind.SERVICE and s.fault is Fault.CRASHED
        ]
        if len(down) >= 3 and len(down) == len(self.suspects):
            # Everything refusing at once is rarely one service's fault: more often the
            # environment is simply not running. Say that first, then the deepest one.
            return (
                f"likely cause: {len(down)} services down at once (is the environment "
                f"running?); deepest: {top.line()}"
            )
        return f"likely cause: {top.line()}"

    def same_as(self, other: Ranking | None) -> bool:
        """Same suspects, order, faults and verdicts (scores and times may drift)."""
        if other is None:
            return not self.suspects
        return [(s.key, s.fault, s.verdict, s.impacted) for s in self.suspects] == [
            (s.key, s.fault, s.verdict, s.impacted) for s in other.suspects
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "question": self.question.value,
            "at": self.at,
            "subject": self.subject,
            "observed_s": self.observed_s,
            "abnormal": self.abnormal,
            "line": self.line(),
            "suspects": [s.to_dict() for s in self.suspects],
        }


@dataclass(frozen=True, slots=True)
class SuspectsChanged:
    """Given to ``TriageMonitor`` subscribers when the environment's ranking changes (live.py).

    Only when it *changes* (``Ranking.same_as``): a new top suspect, a new verdict,
    a suspect gone. When every suspect clears, ``ranking.suspects`` is empty and
    ``ranking.line()`` is '': the cockpit hides the suspect line.
    """

    ranking: Ranking
    before: Ranking | None
    at: float = field(default_factory=time.time)


# ------------------------------------------------------------------ the input side


@dataclass(frozen=True, slots=True)
class ServiceRecord:
    """A service as the engine sees it now, plus what the recipe says about it."""

    name: str
    state: str
    """``ProcState`` value: running, crashed, starting, ..."""
    health: str
    """``Health`` value: healthy, degraded, down, unknown."""
    reason: str = ""
    since: float = 0.0
    restarts: int = 0
    exit_code: int | None = None
    depends_on: tuple[str, ...] = ()
    slo_ms: float | None = None
    platform_health: str = ""
    has_check: bool = True
    target: str = "local"
    """'local', 'docker' or 'kubernetes': what "restart" and "gone" mean differs."""


@dataclass(frozen=True, slots=True)
class TransitionRecord:
    at: float
    service: str
    state: str
    health: str
    reason: str = ""


@dataclass(frozen=True, slots=True)
class LogRecord:
    at: float
    service: str
    level: str
    """'error', 'warn', 'info', 'debug', 'trace' or ''."""
    text: str
    rid: str = ""
    seq: int | None = None


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """Something done to the environment: redeploy, reseed, recipe reload, config change, lease."""

    at: float
    action: str
    """'redeploy orders', 'reseed', 'recipe reload', 'bring-up', 'image change', ..."""
    services: tuple[str, ...] = ()
    user: str = ""
    outcome: str = ""
    """'ok', 'failed' or '' (unknown or still running)."""
    detail: str = ""
    audit_id: int | None = None
    ended: float | None = None


@dataclass(frozen=True, slots=True)
class SeedRecord:
    """The last run of a seed: the test-data suspect's evidence."""

    at: float
    seed: str
    service: str
    ok: bool
    verified: bool | None = None
    detail: str = ""


@dataclass(frozen=True, slots=True)
class History:
    """Everything the ranking reads, frozen at ``now``: built by ``snapshot.from_engine``
    for a live engine, or by hand in tests (recorded histories).

    ``transitions``, ``probes`` and ``logs`` are either one sequence (any order of
    services; tests and recordings) or, as a live monitor keeps them, a mapping
    from service to its records in time order (no regrouping on each recompute).
    ``logs`` holds warning and error lines; when ``warnings`` is given, ``logs``
    holds the error lines and ``warnings`` the warnings. Bounded by whoever builds
    it; the ranking only looks at :data:`rank.LOOKBACK_S` before ``now``.
    """

    now: float
    services: Mapping[str, ServiceRecord]
    transitions: Sequence[TransitionRecord] | Mapping[str, Sequence[TransitionRecord]] = ()
    probes: Sequence[ProbeRecord] | Mapping[str, Sequence[ProbeRecord]] = ()
    logs: Sequence[LogRecord] | Mapping[str, Sequence[LogRecord]] = ()
    warnings: Mapping[str, Sequence[LogRecord]] | None = None
    changes: Sequence[ChangeRecord] = ()
    seeds: Sequence[SeedRecord] = ()
    connected: bool = True
    connection_detail: str = ""
    target: str = "local"
    started: float | None = None
    """When observation began (None: long enough)."""
    urls: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    """Per service, the strings that name it in other services' logs (host:port, URL)."""
    traces: Sequence[tuple[str, float, str]] = ()
    """Span evidence now, as (service, weight, why): span latency shifts (a service whose
    calls got slower while its health stays green); see ``traces.evidence``."""


@dataclass(frozen=True, slots=True)
class FailedTest:
    """A failed (or refused) test, the input of :func:`explain_failure`."""

    test_id: str
    started: float
    ended: float
    message: str = ""
    output: str = ""
    """Traceback and captured output: request ids and URLs in it are followed."""
    suite: str = ""
    outcome: str = "failed"
    depends_on: tuple[str, ...] = ()
    """The services its suite depends on."""
    flip_rate: float = 0.0
    """Flakiness.rate over its recent history (0 when unknown)."""
    samples: int = 0
    """How many past results the flip rate is over."""
    refused: str = ""
    """Set when the suite was refused before running (why: "payments is not healthy: ...")."""
    traces: tuple[tuple[str, float, str], ...] = ()
    """Its traces as (service, weight, why): ``traces.evidence.suspects_from_traces``."""


def _opt_float(value: object) -> float | None:
    if isinstance(value, bool) or value is None:
        return None
    if not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _opt_int(value: object) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if not isinstance(value, int | float | str):
        return None
    try:
        return int(value)
    except ValueError:
        return None


def ranking_from_rows(
    rows: Sequence[Mapping[str, Any]], *, at: float = 0.0, subject: str = ""
) -> Ranking:
    """A stored failure ranking (``Store.failure_suspects``) back as a :class:`Ranking`."""
    return Ranking(
        Question.FAILURE,
        at,
        tuple(Suspect.from_dict(r) for r in rows),
        subject=subject,
    )
