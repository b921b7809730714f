"""The ranking: signals from a history snapshot, weighed, pushed through the graph.

How a score is made. Every signal is one :class:`Evidence` with a weight in
[0, 1]; a suspect's score is their noisy-or (``1 - Π(1 - w)``), so independent
signals reinforce each other without any one of them needing to be certain,
and piling up weak signals (a chronic error logger) approaches but never
beats one strong one (every health check timing out). Then the graph:

* a service that is abnormal **because** an abnormal dependency is (an
  ancestor, a service its error lines name, the deepest service of a request
  that failed through it) is *impacted*: its score is capped below its cause's
  and its verdict says by whom, so two simultaneous faults both outrank
  everything they impact;
* a crash or a crash loop is never discounted: a process exiting is its own
  fault whatever its dependencies do.

What each signal is worth is set in one table below (:data:`W`), so the
fault-matrix benchmark and the unit tests tune one place.

Nothing here reads a clock or a file: ``History.now`` is the present.
"""

from __future__ import annotations

import re
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import attrgetter
from typing import Any, TypeVar

from stagedeck.triage.model import (
    REPORT_THRESHOLD,
    ChangeRecord,
    Evidence,
    EvidenceKind,
    FailedTest,
    Fault,
    History,
    LogRecord,
    ProbeKind,
    ProbeRecord,
    Question,
    Ranking,
    SeedRecord,
    ServiceRecord,
    SubjectKind,
    Suspect,
    TransitionRecord,
    View,
    Where,
)

LOOKBACK_S = 300.0
"""How far back the ranking looks at all (baselines, restarts, changes)."""
RECENT_S = 30.0
""""Now" for rates and latency: signals older than this only count as baseline."""
FRESH_S = 10.0
"""A burst or a run of failed requests counts only while it goes on: its newest line or
failure is at most this old (so a fault that clears stops being a suspect quickly)."""
CHANGE_WINDOW_S = 180.0
"""A change this long before trouble starts is evidence against the changed service."""
FAILURE_MARGIN_S = 2.0
"""Seconds around a test's window that still count: causes precede effects."""
MAX_EVIDENCE = 8
"""Evidence lines kept per suspect (strongest first)."""

W: Mapping[str, float] = {
    "crashed": 0.92,
    "failed_start": 0.85,
    "stopped": 0.5,
    "restarting": 0.6,
    "crash_loop": 0.94,
    "crash_loop_partial": 0.55,
    "restarts_each": 0.18,
    "timeout_first": 0.78,
    "timeout_more": 0.92,
    "refused_first": 0.75,
    "refused_more": 0.9,
    "health_5xx_api_ok": 0.6,
    "health_5xx": 0.8,
    "health_other": 0.6,
    "latency_5xx_base": 0.55,
    "latency_5xx_share": 0.4,
    "latency_timeout": 0.7,
    "latency_refused": 0.6,
    "slow_one": 0.45,
    "slow_many": 0.62,
    "slow_baseline_only": 0.4,
    "burst_base": 0.3,
    "burst_cap": 0.55,
    "burst_unbaselined_cap": 0.3,
    "mention_base": 0.2,
    "mention_each": 0.05,
    "mention_cap": 0.45,
    "request_deepest": 0.3,
    "request_each": 0.05,
    "request_cap": 0.5,
    "change": 0.15,
    "deps_healthy": 0.05,
    "not_ready": 0.4,
    "platform_unhealthy": 0.35,
    "oom": 0.3,
    "unreachable": 0.95,
    # a failed test
    "test_request": 0.55,
    "test_message_names": 0.35,
    "refused_suite": 0.6,
    "data_hint": 0.45,
    "data_404_in_logs": 0.3,
    "data_wiped": 0.35,
    "data_verify_failed": 0.4,
    "flaky_base": 0.2,
    "flaky_rate": 0.7,
    "flaky_cap": 0.8,
    "test_only": 0.3,
    "unrelated_factor": 0.5,
    "impacted_factor": 0.45,
}

_HARD = frozenset({Fault.CRASHED, Fault.CRASH_LOOP})
"""Faults a service owns whatever its dependencies do."""
_OUTAGE = frozenset({Fault.CRASHED, Fault.CRASH_LOOP, Fault.HUNG, Fault.FAILING})
"""Faults that impact every dependent (their requests through it fail)."""
_NOT_RUNNING: Mapping[str, tuple[EvidenceKind, str, Fault, str]] = {
    "failed": (EvidenceKind.HEALTH, "failed_start", Fault.CRASHED, "could not start"),
    "stopped": (EvidenceKind.HEALTH, "stopped", Fault.CRASHED, "stopped"),
    "restarting": (EvidenceKind.RESTART, "restarting", Fault.CRASH_LOOP, "restarting"),
}
"""Process states other than a crash that say it is not serving: evidence, weight, fault."""
_CAN_IMPACT = _OUTAGE | {Fault.SLOW, Fault.UNREACHABLE}
_ALIVE = frozenset({"starting", "running", "external", "pending"})
_GONE = frozenset({"crashed", "failed", "stopped"})
_NOT_OK = frozenset({"degraded", "down"})
_IGNORED_RIDS = frozenset({"", "-", "stagedeck-probe", "none", "null"})

_R = TypeVar("_R", ProbeRecord, TransitionRecord, LogRecord)
_WORD = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]*")
"""A word that may be a service name or a host:port (hyphens and dots belong to it)."""

_RID = re.compile(
    r"(?i)\b(?:rid|request[_-]?id|req[_-]?id|trace[_-]?id|x-request-id)[\"']?\s*[=:]\s*[\"']?"
    r"([A-Za-z0-9][A-Za-z0-9_.\-]{3,63})"
)
_HTTP_5XX = re.compile(r"\b(?:HTTP[ /]?|status[ =:]+|\")?5\d\d\b")
_ENV_WORDS = re.compile(
    r"(?i)\b(?:5\d\d|timed? ?out|timeout|refused|unavailable|bad gateway|"
    r"connection (?:reset|error)|ConnectError|ReadTimeout|RemoteProtocolError)\b"
)
_DATA_WORDS = re.compile(
    r"(?i)(?:\b404\b|not found|unknown (?:sku|id|item|order|user|product|customer)|"
    r"no such|does not exist|KeyError|IndexError|expected .{0,60} (?:got|but)|"
    r"assert .{0,120}==|AssertionError|fixture)"
)
_WIPED = re.compile(r"(?i)\b(?:data wiped|wiped|truncated|dropped (?:all|table)|reset: )")
_CRASH_LOOP = re.compile(r"(?i)CrashLoopBackOff|OOMKilled|back-?off restarting")
_OOM = re.compile(r"(?i)OOMKilled|out of memory|oom-kill")
_NOT_READY = re.compile(r"(?i)rolling out|ready \d+/\d+|readiness|ImagePullBackOff|ErrImagePull")
_REFUSED_SUITE = re.compile(r"^\s*([^\s:]+) is not healthy")


def clock(ts: float | None) -> str:
    """ "16:02:11" in local time, as every other view shows times."""
    return time.strftime("%H:%M:%S", time.localtime(ts)) if ts is not None else "?"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def _outcome(detail: str) -> str:
    """ "GET http://host:1/x: HTTP 500" -> "HTTP 500": the verdict line has no room for URLs."""
    return detail.rsplit(": ", 1)[-1] if "://" in detail else detail


def _short(text: str, limit: int = 160) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


# ------------------------------------------------------------------ accumulation


@dataclass
class _Case:
    """What the signals say about one subject, before the graph has its say."""

    kind: SubjectKind
    name: str
    evidence: list[Evidence] = field(default_factory=list)
    faults: dict[Fault, float] = field(default_factory=dict)
    headline: dict[Fault, str] = field(default_factory=dict)
    since: float | None = None
    causes: dict[str, float] = field(default_factory=dict)
    """Other services this one's own signals blame (mentions, request paths)."""
    impacted_by: str = ""
    impacted: list[str] = field(default_factory=list)

    def add(
        self,
        kind: EvidenceKind,
        text: str,
        weight: float,
        *,
        at: float | None = None,
        service: str = "",
        where: Where | None = None,
        fault: Fault | None = None,
        headline: str = "",
    ) -> None:
        service = service or (self.name if self.kind is SubjectKind.SERVICE else "")
        self.evidence.append(
            Evidence(kind, text, at, service, where or Where(View.SERVICE, service, at), weight)
        )
        if fault is not None and weight > self.faults.get(fault, 0.0):
            self.faults[fault] = weight
            if headline:
                self.headline[fault] = headline
        if at is not None and fault is not None and (self.since is None or at < self.since):
            self.since = at

    @property
    def score(self) -> float:
        keep = 1.0
        for ev in self.evidence:
            keep *= 1.0 - min(0.99, max(0.0, ev.weight))
        return min(0.99, 1.0 - keep)

    @property
    def fault(self) -> Fault | None:
        if not self.faults:
            return None
        return max(self.faults.items(), key=lambda kv: kv[1])[0]


_at = attrgetter("at")
"""The key every time-ordered bisection uses (C speed: it runs for every lookup)."""


def _window(records: Sequence[_R], lo: float, hi: float) -> list[_R]:
    """The records with ``lo <= at <= hi`` of a time-ordered sequence: two bisections."""
    items = records if isinstance(records, list) else list(records)
    if not items or (items[0].at >= lo and items[-1].at <= hi):
        return items
    return items[bisect_left(items, lo, key=_at) : bisect_right(items, hi, key=_at)]


def _grouped(records: Sequence[_R] | Mapping[str, Sequence[_R]]) -> Mapping[str, Sequence[_R]]:
    """Per service, in time order: as given (a live monitor keeps them so), or grouped once."""
    if isinstance(records, Mapping):
        return records
    out: dict[str, list[_R]] = {}
    for r in records:
        out.setdefault(r.service, []).append(r)
    for lst in out.values():
        lst.sort(key=_at)
    return out


class _Index:
    """The history per service, windowed lazily: most services are quiet, and a quiet
    service costs a few bisections, not a loop over its history."""

    def __init__(self, history: History, now: float, recent_from: float) -> None:
        self.history = history
        self.now = now
        self.start = now - LOOKBACK_S
        self.recent = recent_from
        self._probes = _grouped(history.probes)
        self._transitions = _grouped(history.transitions)
        logs = _grouped(history.logs)
        if history.warnings:
            self._errors, self._warnings = logs, _grouped(history.warnings)
        else:  # one stream with both levels (recorded histories): split it
            self._errors, self._warnings = _split_levels(logs)
        self.ancestors, self.dependents, self.order = _graph(history.services)
        observed = history.started if history.started is not None else self.start
        self.observed_from = max(self.start, observed)
        self._cache: dict[tuple[str, str], Any] = {}

    def _get(self, what: str, name: str, source: Mapping[str, Sequence[_R]]) -> list[_R]:
        key = (what, name)
        hit = self._cache.get(key)
        if hit is None:
            hit = self._cache[key] = _window(source.get(name, ()), self.start, self.now)
        return hit

    def probes(self, name: str) -> list[ProbeRecord]:
        return self._get("p", name, self._probes)

    def transitions(self, name: str) -> list[TransitionRecord]:
        return self._get("t", name, self._transitions)

    def errors(self, name: str) -> list[LogRecord]:
        return self._get("e", name, self._errors)

    def warnings(self, name: str) -> list[LogRecord]:
        return self._get("w", name, self._warnings)

    def with_errors(self) -> list[str]:
        """Services with any error line in the window (the others need no log work)."""
        return [n for n, lines in self._errors.items() if lines and lines[-1].at >= self.start]

    def with_warnings(self) -> list[str]:
        return [n for n, lines in self._warnings.items() if lines and lines[-1].at >= self.start]

    def recovered(self, name: str) -> float:
        """When it last became healthy after trouble (signals before that are the past)."""
        key = ("r", name)
        hit = self._cache.get(key)
        if hit is None:
            hit = 0.0
            bad = False
            for t in _window(self._transitions.get(name, ()), 0.0, self.now):
                if t.health in _NOT_OK or t.state in _GONE or t.state == "restarting":
                    bad = True
                elif t.health == "healthy" and bad:
                    hit, bad = t.at, False
            self._cache[key] = hit
        return float(hit)

    def cutoff(self, service: str) -> float:
        return max(self.recent, self.recovered(service))


def _split_levels(
    logs: Mapping[str, Sequence[LogRecord]],
) -> tuple[dict[str, list[LogRecord]], dict[str, list[LogRecord]]]:
    errors: dict[str, list[LogRecord]] = {}
    warnings: dict[str, list[LogRecord]] = {}
    for name, lines in logs.items():
        errors[name] = [ln for ln in lines if ln.level == "error"]
        warnings[name] = [ln for ln in lines if ln.level == "warn"]
    return errors, warnings


_GRAPHS: dict[tuple[tuple[str, tuple[str, ...]], ...], _Graph] = {}
_Graph = tuple[dict[str, frozenset[str]], dict[str, list[str]], dict[str, int]]


def _graph(services: Mapping[str, ServiceRecord]) -> _Graph:
    """Transitive dependencies, transitive dependents (in order) and a depth per service.

    Cached by the dependency lists: the graph changes with a recipe, not with each event."""
    key = tuple((n, s.depends_on) for n, s in services.items())
    hit = _GRAPHS.get(key)
    if hit is None:
        if len(_GRAPHS) > 8:
            _GRAPHS.clear()
        hit = _GRAPHS[key] = _build_graph(services)
    return hit


def _build_graph(services: Mapping[str, ServiceRecord]) -> _Graph:
    ancestors: dict[str, frozenset[str]] = {}
    depth: dict[str, int] = {}

    def visit(name: str, trail: frozenset[str]) -> frozenset[str]:
        done = ancestors.get(name)
        if done is not None:
            return done
        svc = services.get(name)
        out: set[str] = set()
        level = 0
        for dep in svc.depends_on if svc else ():
            if dep in trail or dep not in services:
                continue  # cycles are rejected by the recipe loader; never loop here
            out.add(dep)
            out |= visit(dep, trail | {name})
            level = max(level, depth.get(dep, 0) + 1)
        ancestors[name] = result = frozenset(out)
        depth[name] = level
        return result

    for name in services:
        visit(name, frozenset())
    dependents: dict[str, list[str]] = {n: [] for n in services}
    for name in sorted(services, key=lambda n: depth[n]):
        for anc in ancestors[name]:
            dependents[anc].append(name)
    return ancestors, dependents, depth


# ------------------------------------------------------------------ per-service signals


def _status_signals(case: _Case, svc: ServiceRecord, ix: _Index) -> None:
    name = svc.name
    transitions = ix.transitions(name)
    reason = _short(svc.reason) if svc.reason else ""
    where = Where(View.SERVICE, name, svc.since)
    if svc.state == "crashed":
        code = f" (exit code {svc.exit_code})" if svc.exit_code not in (None, 0) else ""
        text = f"crashed at {clock(svc.since)}{code}" + (f": {reason}" if reason else "")
        case.add(
            EvidenceKind.HEALTH,
            text,
            W["crashed"],
            at=svc.since,
            where=where,
            fault=Fault.CRASHED,
            headline=f"process exited at {clock(svc.since)}{code}",
        )
    elif svc.state in _NOT_RUNNING:
        kind, weight_key, fault, what = _NOT_RUNNING[svc.state]
        headline = (
            f"could not start: {reason or 'failed'}"
            if svc.state == "failed"
            else f"{what} since {clock(svc.since)}"
        )
        case.add(
            kind,
            headline + (f": {reason}" if reason and svc.state != "failed" else ""),
            W[weight_key],
            at=svc.since,
            where=where,
            fault=fault,
            headline=headline,
        )
    # Restarts and crash loops: the platform's reason, or restarts counted in the window.
    restarts: list[TransitionRecord] = []
    previous = ""
    for t in transitions:
        if t.state == "crashed" or (t.state == "restarting" and previous != "crashed"):
            restarts.append(t)
        previous = t.state
    if _CRASH_LOOP.search(svc.reason):
        # Some replicas crash-looping while others serve: abnormal, not (yet) an outage.
        serving = svc.health == "healthy" and svc.state in ("running", "external")
        case.add(
            EvidenceKind.RESTART,
            f"platform says: {reason}",
            W["crash_loop_partial"] if serving else W["crash_loop"],
            at=svc.since,
            where=where,
            fault=Fault.CRASH_LOOP,
            headline=_short(svc.reason, 80),
        )
    elif len(restarts) >= 2:
        weight = min(W["crash_loop"], W["restarts_each"] * len(restarts))
        case.add(
            EvidenceKind.RESTART,
            f"{_plural(len(restarts), 'restart')} since {clock(restarts[0].at)}"
            f" (last: {_short(restarts[-1].reason, 80) or restarts[-1].state})",
            weight,
            at=restarts[0].at,
            where=Where(View.SERVICE, name, restarts[-1].at),
            fault=Fault.CRASH_LOOP,
            headline=f"{_plural(len(restarts), 'restart')} in {int(LOOKBACK_S // 60)} min",
        )
    if _OOM.search(svc.reason):
        case.add(EvidenceKind.RESTART, "killed for running out of memory (OOMKilled)", W["oom"])
    if svc.state in _ALIVE and svc.health in _NOT_OK:
        _probe_verdict(case, svc, ix)
    if svc.state == "starting" and ix.now - svc.since > 30:
        case.add(
            EvidenceKind.HEALTH,
            f"starting for {ix.now - svc.since:.0f}s" + (f": {reason}" if reason else ""),
            W["not_ready"],
            at=svc.since,
            where=where,
            fault=Fault.NOT_READY,
            headline=f"not ready after {ix.now - svc.since:.0f}s",
        )
    if _NOT_READY.search(svc.reason) and svc.state not in _GONE:
        case.add(
            EvidenceKind.PLATFORM,
            f"platform says: {reason}",
            W["not_ready"],
            at=svc.since,
            where=where,
            fault=Fault.NOT_READY,
            headline=_short(svc.reason, 80),
        )
    if svc.platform_health == "unhealthy" and svc.health == "healthy":
        case.add(
            EvidenceKind.PLATFORM,
            "the platform's own health check says unhealthy",
            W["platform_unhealthy"],
            fault=Fault.UNHEALTHY,
            headline="platform health check failing",
        )


def _probe_verdict(case: _Case, svc: ServiceRecord, ix: _Index) -> None:
    """An alive service failing health checks: hung, gone, app error, or health endpoint only."""
    name = svc.name
    probes = ix.probes(name)
    health = [p for p in probes if not p.latency]
    last_ok = max((p.at for p in health if p.ok), default=0.0)
    failed = [p for p in health if not p.ok and p.at > last_ok]
    if not failed:
        kind = _kind_from_text(svc.reason)
        failed = [ProbeRecord(svc.since, name, False, 0.0, kind, svc.reason)]
    latest = failed[-1]
    n = len(failed)
    first = failed[0].at
    detail = _short(latest.detail, 120)
    where = Where(View.SERVICE, name, first)
    kinds = [p.kind for p in failed]
    kind = max(set(kinds), key=lambda k: (kinds.count(k), k == latest.kind))
    if kind is ProbeKind.TIMEOUT:
        w = W["timeout_first"] if n == 1 else W["timeout_more"]
        case.add(
            EvidenceKind.PROBE,
            f"{_plural(n, 'health check')} timed out since {clock(first)}: {detail}",
            w,
            at=first,
            where=where,
            fault=Fault.HUNG,
            headline=f"{_plural(n, 'health check')} timed out since {clock(first)}",
        )
        if svc.state in ("running", "external"):
            case.add(
                EvidenceKind.HEALTH,
                "the process is alive but does not answer (a hang, not a crash)",
                0.0,
                where=where,
            )
    elif kind is ProbeKind.REFUSED:
        w = W["refused_first"] if n == 1 else W["refused_more"]
        case.add(
            EvidenceKind.PROBE,
            f"{_plural(n, 'health check')} refused since {clock(first)}: nothing listening"
            f" ({detail})",
            w,
            at=first,
            where=where,
            fault=Fault.CRASHED,
            headline=f"connection refused since {clock(first)}",
        )
    elif kind in (ProbeKind.HTTP_5XX, ProbeKind.HTTP_STATUS, ProbeKind.BAD_BODY):
        api = [p for p in probes if p.latency and p.at >= first - 5]
        api_ok = [p for p in api if p.ok]
        if api_ok and len(api_ok) == len(api):
            case.add(
                EvidenceKind.PROBE,
                f"health endpoint failing since {clock(first)} ({detail}) while its API answers"
                f" ({_plural(len(api_ok), 'request')} OK)",
                W["health_5xx_api_ok"],
                at=first,
                where=where,
                fault=Fault.UNHEALTHY,
                headline=f"health endpoint says unhealthy since {clock(first)}, API still answers",
            )
        else:
            w = W["health_5xx"] if kind is ProbeKind.HTTP_5XX else W["health_other"]
            case.add(
                EvidenceKind.PROBE,
                f"{_plural(n, 'health check')} failed since {clock(first)}: {detail}",
                w,
                at=first,
                where=where,
                fault=Fault.FAILING if kind is ProbeKind.HTTP_5XX else Fault.UNHEALTHY,
                headline=f"health check failing since {clock(first)} ({_outcome(detail)})",
            )
    else:
        case.add(
            EvidenceKind.PROBE,
            f"{_plural(n, 'health check')} failed since {clock(first)}: {detail}",
            W["health_other"],
            at=first,
            where=where,
            fault=Fault.UNHEALTHY,
            headline=f"health check failing since {clock(first)}",
        )


def _kind_from_text(text: str) -> ProbeKind:
    """For histories without probe records (older stores): the kind from the reason text."""
    low = text.lower()
    if "timed out" in low or "timeout" in low:
        return ProbeKind.TIMEOUT
    if "refused" in low or "cannot connect" in low or "reset by peer" in low:
        return ProbeKind.REFUSED
    if re.search(r"http 5\d\d", low):
        return ProbeKind.HTTP_5XX
    if "body lacks" in low:
        return ProbeKind.BAD_BODY
    if re.search(r"http \d\d\d", low):
        return ProbeKind.HTTP_STATUS
    return ProbeKind.ERROR


def _latency_signals(case: _Case, svc: ServiceRecord, ix: _Index) -> None:
    """Requests to its API (latency probes): errors, timeouts, and latency vs SLO and baseline."""
    name = svc.name
    every = ix.probes(name)
    if not every:
        return
    cut = ix.cutoff(name)
    recent = [p for p in every[bisect_left(every, cut, key=_at) :] if p.latency]
    if not recent:
        return
    if all(p.ok for p in recent[-3:]) and _quiet(recent, svc.slo_ms):
        return  # the common case, decided without the baseline
    probes = [p for p in every if p.latency]
    if not recent:
        return
    failed = [p for p in recent if not p.ok]
    if failed and not any(not p.ok for p in recent[-3:]):
        failed = []  # the last three answered: it failed, and it stopped failing
    if failed:
        kinds = [p.kind for p in failed]
        kind = max(set(kinds), key=kinds.count)
        first = failed[0].at
        since_first = sum(1 for p in recent if p.at >= first)
        share = len(failed) / since_first
        detail = _short(failed[-1].detail, 120)
        where = Where(View.CHART, name, first)
        summary = f"{len(failed)} of {_plural(since_first, 'request')} since {clock(first)}"
        if kind is ProbeKind.TIMEOUT:
            case.add(
                EvidenceKind.LATENCY,
                f"{summary} timed out: {detail}",
                W["latency_timeout"],
                at=first,
                where=where,
                fault=Fault.HUNG,
                headline=f"requests time out since {clock(first)}",
            )
        elif kind is ProbeKind.REFUSED:
            case.add(
                EvidenceKind.LATENCY,
                f"{summary} refused: {detail}",
                W["latency_refused"],
                at=first,
                where=where,
                fault=Fault.CRASHED,
                headline=f"connection refused since {clock(first)}",
            )
        else:
            w = W["latency_5xx_base"] + W["latency_5xx_share"] * share
            case.add(
                EvidenceKind.LATENCY,
                f"{summary} failed: {detail}",
                w,
                at=first,
                where=where,
                fault=Fault.FAILING,
                headline=(
                    f"{share:.0%} of requests failing since {clock(first)} ({_outcome(detail)})"
                ),
            )
    ok = [p for p in recent if p.ok]
    if not ok:
        return
    last = ok[-3:]
    current = _median([p.ms for p in last])
    older = [p.ms for p in probes if p.ok and p.at < cut]
    baseline = _median(older) if len(older) >= 5 else None
    slo = svc.slo_ms
    base_text = f", baseline {baseline:.0f} ms" if baseline is not None else ""
    where = Where(View.CHART, name, last[0].at)
    if slo is not None and slo > 0:
        over_baseline = baseline is None or current > 2 * baseline
        # Three answers over 1.5x the SLO, or two over twice it: one slow answer is noise.
        limit = slo * (1.5 if len(last) >= 3 else 2.0)
        if len(last) >= 2 and current > limit and over_baseline:
            case.add(
                EvidenceKind.LATENCY,
                f"median {current:.0f} ms over the last {_plural(len(last), 'request')}"
                f" (SLO {slo:.0f} ms{base_text})",
                W["slow_many"] if len(last) >= 3 else W["slow_one"],
                at=last[0].at,
                where=where,
                fault=Fault.SLOW,
                headline=f"{current:.0f} ms against an SLO of {slo:.0f} ms",
            )
            return
        # The first slow round: its newest request and its health check (same round)
        # both well above the SLO. One slow request alone is noise; both are not.
        newest = last[-1]
        health = [p for p in every if not p.latency and p.ok and p.at >= newest.at - 1.0]
        floor = max(2 * slo, 5 * baseline if baseline is not None else 0.0)
        if newest.ms > floor and health and health[-1].ms > floor:
            case.add(
                EvidenceKind.LATENCY,
                f"{newest.ms:.0f} ms for its newest request, {health[-1].ms:.0f} ms for its "
                f"health check (SLO {slo:.0f} ms{base_text})",
                W["slow_one"],
                at=newest.at,
                where=Where(View.CHART, name, newest.at),
                fault=Fault.SLOW,
                headline=f"{newest.ms:.0f} ms against an SLO of {slo:.0f} ms",
            )
            return
    if baseline is not None and len(last) >= 2 and current > max(3 * baseline, baseline + 100):
        case.add(
            EvidenceKind.LATENCY,
            f"median {current:.0f} ms over the last {_plural(len(last), 'request')}, "
            f"{current / max(baseline, 0.1):.0f}x its baseline of {baseline:.0f} ms",
            W["slow_baseline_only"],
            at=last[0].at,
            where=where,
            fault=Fault.SLOW,
            headline=f"{current:.0f} ms, {current / max(baseline, 0.1):.0f}x its usual",
        )


def _median(values: list[float]) -> float:
    """Median without ``statistics`` (it converts every value: slow at this rate)."""
    ordered = sorted(values)
    n = len(ordered)
    return ordered[n // 2] if n % 2 else (ordered[n // 2 - 1] + ordered[n // 2]) / 2


def _quiet(recent: Sequence[ProbeRecord], slo: float | None) -> bool:
    """Nothing failed and the last answers are within the SLO (or there is none to judge)."""
    if any(not p.ok for p in recent):
        return False
    if slo is None or slo <= 0:
        return len(recent) < 2 or recent[-1].ms <= 100
    return all(p.ms <= slo * 1.5 for p in recent[-3:])


def _burst_factor(lines: list[LogRecord], ix: _Index, cut: float) -> tuple[int, float, bool]:
    """(recent count, expected count from the baseline, whether there was a baseline)."""
    split = bisect_left(lines, cut, key=_at)
    recent, older = len(lines) - split, split
    # A capped buffer (the monitor keeps the newest 200) covers less time than asked.
    covered_from = max(ix.observed_from, lines[0].at if older >= 150 else ix.observed_from)
    span = cut - covered_from
    if span < RECENT_S:
        return recent, float(older), False
    rate = older / span
    return recent, rate * max(1.0, ix.now - cut), True


def _log_signals(case: _Case, svc: ServiceRecord, ix: _Index) -> None:
    name = svc.name
    lines = ix.errors(name)
    if not lines:
        return
    cut = ix.cutoff(name)
    recent, expected, baselined = _burst_factor(lines, ix, cut)
    if recent < 3 or recent <= 3 * expected + 2:
        return
    latest = lines[bisect_left(lines, cut, key=_at) :]
    if latest[-1].at < ix.now - FRESH_S:
        return  # the burst is over
    ratio = recent / (expected + 1.0)
    cap = W["burst_cap"] if baselined else W["burst_unbaselined_cap"]
    weight = min(cap, W["burst_base"] + 0.05 * ratio)
    normal = f" (usually {expected:.0f})" if baselined else ""
    example = latest[-1]
    case.add(
        EvidenceKind.LOG,
        f"{_plural(recent, 'error line')} since {clock(latest[0].at)}{normal}: "
        f"{_short(example.text, 120)}",
        weight,
        at=latest[0].at,
        where=Where(View.LOGS, name, example.at, example.rid, example.seq),
        fault=Fault.ERRORS,
        headline=f"{_plural(recent, 'error')} since {clock(latest[0].at)}",
    )


class _Mentions:
    """Finds other services named in a line: by name (not in a URL path) or host:port.

    A dictionary lookup per word, not one regular expression of every name: with
    hundreds of services an alternation costs tens of microseconds a line."""

    def __init__(self, history: History) -> None:
        self.names: dict[str, str] = {}
        for name in history.services:
            self.names[name] = name
            for alias in history.urls.get(name, ()):
                if alias:
                    self.names[alias] = name

    def find(self, text: str, own: str = "") -> list[str]:
        names = self.names
        out: list[str] = []
        for m in _WORD.finditer(text):
            word = m.group(0)
            name = names.get(word) or names.get(word.rstrip(".:"))
            if name is None or name == own or name in out:
                continue
            i = m.start()
            if i >= 1 and text[i - 1] == "/" and text[i - 2 : i] != "//":
                continue  # a URL path segment (/api/inventory), not the service
            if i >= 4 and text[i - 4 : i] == "rid=":
                continue
            out.append(name)
        return out


def _blame_signals(cases: dict[str, _Case], ix: _Index, mentions: _Mentions) -> None:
    """Error lines that name another service, and requests followed by their id."""
    named: dict[str, dict[str, list[LogRecord]]] = {}
    by_rid: dict[str, list[LogRecord]] = {}
    fresh_from = ix.now - FRESH_S
    for name in {*ix.with_errors(), *ix.with_warnings()}:
        cut = ix.cutoff(name)
        lines = ix.errors(name)
        recent, expected, _ = _burst_factor(lines, ix, cut)
        chronic = recent <= 3 * expected + 2 and expected > 0
        lines = lines[bisect_left(lines, cut, key=_at) :]
        # Warnings count when they say a dependency is unreachable ("cannot poll orders:
        # timed out"): services that retry often log that at warning level.
        warned = ix.warnings(name)
        warned = warned[bisect_left(warned, max(cut, fresh_from), key=_at) :]
        trouble = [w for w in warned if _ENV_WORDS.search(w.text)]
        if trouble:
            lines = sorted([*lines, *trouble], key=_at)
        if not lines or lines[-1].at < fresh_from:
            continue
        for line in lines:
            rid = line.rid or _first_rid(line.text)
            if rid and rid.lower() not in _IGNORED_RIDS:
                by_rid.setdefault(rid, []).append(line)
            if chronic:
                continue  # it always says this: not news about anyone
            for other in mentions.find(line.text, own=name):
                named.setdefault(other, {}).setdefault(name, []).append(line)
    for other, by_source in named.items():
        case = cases.get(other)
        if case is None:
            continue
        count = sum(len(v) for v in by_source.values())
        sources = sorted(by_source, key=lambda s: ix.order.get(s, 0))
        example = by_source[sources[0]][-1]
        weight = min(W["mention_cap"], W["mention_base"] + W["mention_each"] * (count - 1))
        case.add(
            EvidenceKind.LOG,
            f"named in {_plural(count, 'error line')} of {', '.join(sources)}: "
            f"{_short(example.text, 120)}",
            weight,
            at=example.at,
            service=example.service,
            where=Where(View.LOGS, example.service, example.at, example.rid, example.seq),
        )
        for source in sources:
            if source in cases:
                cases[source].causes[other] = cases[source].causes.get(other, 0) + len(
                    by_source[source]
                )
    _request_paths(cases, ix, by_rid, mentions)


_ID = re.compile(r"[A-Za-z][A-Za-z0-9_]*-?[0-9][A-Za-z0-9_-]*")


def _ids(text: str) -> set[str]:
    """Identifier-like words with a digit ("SKU-4", "o-00042"): what ties a 404 to a test."""
    return set(_ID.findall(text))


def _first_rid(text: str) -> str:
    m = _RID.search(text)
    return m.group(1) if m else ""


def _deepest(services: Iterable[str], ix: _Index) -> list[str]:
    group = set(services)
    return sorted(
        (s for s in group if not (ix.ancestors.get(s, frozenset()) & group)),
        key=lambda s: (ix.order.get(s, 0), s),
    )


def _blamed_below(service: str, lines: Sequence[LogRecord], ix: _Index, mentions: _Mentions) -> str:
    """Follow a request below the last service that logged it: a hung or dead dependency
    writes nothing, but its caller's error line names it ("payments unavailable: ...")."""
    seen = {service}
    while True:
        below = ix.ancestors.get(service, frozenset())
        named = [
            n
            for ln in lines
            if ln.service == service
            for n in mentions.find(ln.text, own=service)
            if n in below and n not in seen
        ]
        if not named:
            return service
        service = _deepest(named, ix)[0]
        seen.add(service)


def _request_paths(
    cases: dict[str, _Case],
    ix: _Index,
    by_rid: dict[str, list[LogRecord]],
    mentions: _Mentions,
) -> None:
    """A request that failed through several services: the deepest one is where it broke."""
    deepest_of: dict[str, list[tuple[str, list[LogRecord]]]] = {}
    for rid, lines in by_rid.items():
        services = {ln.service for ln in lines}
        if len(services) < 2:
            continue
        for d in _deepest(services, ix):
            d = _blamed_below(d, lines, ix, mentions)
            deepest_of.setdefault(d, []).append((rid, lines))
            for s in services - {d}:
                if s in cases:
                    cases[s].causes[d] = cases[s].causes.get(d, 0) + 1
    for service, paths in deepest_of.items():
        case = cases.get(service)
        if case is None:
            continue
        rid, lines = paths[-1]
        hops = sorted({ln.service for ln in lines} | {service}, key=lambda s: -ix.order.get(s, 0))
        own = next((ln for ln in reversed(lines) if ln.service == service), lines[-1])
        weight = min(W["request_cap"], W["request_deepest"] + W["request_each"] * (len(paths) - 1))
        silent = "" if own.service == service else " (silent: named by its caller)"
        case.add(
            EvidenceKind.REQUEST,
            f"{_plural(len(paths), 'failed request')} broke here{silent}; "
            f"rid={rid}: {' → '.join(hops)}: {_short(own.text, 100)}",
            weight,
            at=own.at,
            where=Where(View.LOGS, service, own.at, rid, own.seq),
        )


def _change_signals(cases: dict[str, _Case], changes: Sequence[ChangeRecord], ix: _Index) -> None:
    """A change to an abnormal service shortly before its trouble started."""
    for case in cases.values():
        if case.score < REPORT_THRESHOLD or case.since is None:
            continue
        for change in changes:
            if case.name not in change.services:
                continue
            lead = case.since - change.at
            if not -5.0 <= lead <= CHANGE_WINDOW_S:
                continue
            who = f" by {change.user}" if change.user else ""
            outcome = f" ({change.outcome})" if change.outcome else ""
            case.add(
                EvidenceKind.CHANGE,
                f"{change.action}{who} at {clock(change.at)}{outcome}, "
                f"{max(0.0, lead):.0f}s before the trouble started",
                W["change"],
                at=change.at,
                where=Where(View.AUDIT, case.name, change.at, audit_id=change.audit_id),
            )


# ------------------------------------------------------------------ the graph and the verdict


def _resolve(cases: dict[str, _Case], ix: _Index) -> list[Suspect]:
    """Impacted services below their causes; verdicts; ranked suspects."""
    score = {n: c.score for n, c in cases.items()}
    abnormal = {n for n, s in score.items() if s >= REPORT_THRESHOLD}
    # Who explains whom: an abnormal dependency, or what its own errors blame.
    for name in sorted(abnormal, key=lambda n: ix.order.get(n, 0)):
        case = cases[name]
        fault = case.fault
        if fault in _HARD:
            continue
        candidates = {a for a in ix.ancestors.get(name, frozenset()) if a in abnormal}
        candidates |= {c for c in case.causes if c in abnormal and c != name}
        # A cause must be able to explain it: an outage or slowness below it, or whatever
        # its own errors name, or at least as strong; a dependency that merely logs
        # more errors does not make a hung service "impacted".
        candidates = {
            c
            for c in candidates
            if (
                c in case.causes
                or (score[c] >= 0.6 * score[name] and cases[c].fault in _CAN_IMPACT)
                or score[c] >= score[name]
            )
            and not _blames(cases, c, name)  # two that name each other: no loop
        }
        if not candidates:
            continue
        cause = max(
            candidates,
            key=lambda c: (c in case.causes, score[c], ix.order.get(c, 0) * -1, c),
        )
        case.impacted_by = cause
    # Follow chains to the root: gateway -> orders -> payments means payments.
    for case in cases.values():
        seen = {case.name}
        root = case.impacted_by
        while root and cases[root].impacted_by and cases[root].impacted_by not in seen:
            seen.add(root)
            root = cases[root].impacted_by
        case.impacted_by = root
    for name in abnormal:
        if cases[name].impacted_by:
            cases[cases[name].impacted_by].impacted.append(name)
    suspects: list[Suspect] = []
    for name in abnormal:
        case = cases[name]
        fault = case.fault or Fault.ERRORS
        if case.impacted_by:
            continue
        impacted = set(case.impacted)
        if fault in _OUTAGE:
            impacted |= set(ix.dependents.get(name, ()))
        case.impacted = sorted(impacted, key=lambda n: (ix.order.get(n, 0), n))
        if case.kind is SubjectKind.SERVICE:
            deps = ix.history.services[name].depends_on if name in ix.history.services else ()
            if deps and not any(d in abnormal for d in deps):
                case.add(
                    EvidenceKind.GRAPH,
                    f"its own dependencies are healthy: {', '.join(deps)}",
                    W["deps_healthy"],
                    where=Where(View.GRAPH, name),
                )
            if case.impacted:
                case.add(
                    EvidenceKind.GRAPH,
                    f"depended on by {', '.join(case.impacted)}",
                    0.0,
                    where=Where(View.GRAPH, name),
                )
    for name in abnormal:
        suspects.append(_suspect(cases[name]))
    roots = {s.name: s.score for s in suspects if s.kind is SubjectKind.SERVICE}
    # An impacted service stays below whatever impacts it.
    capped = []
    for s in suspects:
        by = cases[s.name].impacted_by
        if by:
            s = _replace_score(s, min(s.score * W["impacted_factor"], roots.get(by, 1.0) * 0.5))
        capped.append(s)
    return capped


def _blames(cases: Mapping[str, _Case], start: str, target: str) -> bool:
    """Whether ``start``'s chain of "impacted by" already leads to ``target``."""
    seen: set[str] = set()
    node = cases[start].impacted_by
    while node and node not in seen:
        if node == target:
            return True
        seen.add(node)
        node = cases[node].impacted_by
    return False


def _replace_score(s: Suspect, score: float) -> Suspect:
    return Suspect(s.kind, s.name, score, s.fault, s.verdict, s.impacted, s.evidence, s.since)


def _suspect(case: _Case) -> Suspect:
    fault = case.fault or Fault.ERRORS
    headline = case.headline.get(fault) or fault.value
    if case.impacted_by:
        verdict = f"impacted by {case.impacted_by}: {fault.value}: {headline}"
        fault = Fault.FAILING if fault in (Fault.ERRORS,) else fault
    else:
        verdict = f"{fault.value}: {headline}" if not headline.startswith(fault.value) else headline
        if case.impacted:
            verdict += f"; {', '.join(case.impacted)} impacted"
    evidence = sorted(case.evidence, key=lambda e: -e.weight)[:MAX_EVIDENCE]
    return Suspect(
        case.kind,
        case.name,
        case.score,
        fault,
        verdict,
        tuple(case.impacted),
        tuple(evidence),
        case.since,
    )


def _ordered(suspects: Iterable[Suspect], order: Mapping[str, int]) -> tuple[Suspect, ...]:
    """Best first; ties go to the deeper service (causes sit below effects), then the name."""
    return tuple(sorted(suspects, key=lambda s: (-round(s.score, 6), order.get(s.name, 0), s.name)))


def _service_cases(ix: _Index) -> tuple[dict[str, _Case], _Mentions]:
    history = ix.history
    cases = {name: _Case(SubjectKind.SERVICE, name) for name in history.services}
    for name, svc in history.services.items():
        case = cases[name]
        _status_signals(case, svc, ix)
        _latency_signals(case, svc, ix)
        _log_signals(case, svc, ix)
    mentions = _Mentions(history)
    _blame_signals(cases, ix, mentions)
    return cases, mentions


def _trace_signals(
    cases: Mapping[str, _Case],
    triples: Sequence[tuple[str, float, str]],
    at: float,
    test_id: str = "",
) -> None:
    """Spans as evidence: (service, weight, why) from ``traces.evidence``."""
    for service, weight, why in triples:
        case = cases.get(service)
        if case is None:
            continue
        failed = "failed" in why
        case.add(
            EvidenceKind.TRACE,
            why,
            min(0.95, max(0.0, weight)),
            at=at,
            where=Where(View.TRACES, service, at, test_id=test_id),
            fault=Fault.FAILING if failed else Fault.SLOW,
            headline=_short(why, 80),
        )


def _platform_suspect(history: History) -> Suspect | None:
    if history.connected:
        return None
    detail = _short(history.connection_detail) or "connection lost"
    return Suspect(
        SubjectKind.PLATFORM,
        history.target,
        W["unreachable"],
        Fault.UNREACHABLE,
        f"unreachable: {detail}; every service's state is stale",
        tuple(history.services),
        (
            Evidence(
                EvidenceKind.PLATFORM,
                f"{history.target}: {detail}",
                history.now,
                "",
                Where(View.SERVICE),
                W["unreachable"],
            ),
        ),
        history.now,
    )


# ------------------------------------------------------------------ entry points


def rank_environment(history: History) -> Ranking:
    """Which service (or the platform, or the test data) is most likely at fault right now.

    Empty ``suspects`` means nothing is abnormal. Cost is linear in the history
    (grouped once), so it can be recomputed on every relevant event.
    """
    now = history.now
    ix = _Index(history, now, now - RECENT_S)
    cases, _ = _service_cases(ix)
    _trace_signals(cases, history.traces, now)
    _change_signals(cases, history.changes, ix)
    suspects = _resolve(cases, ix)
    platform = _platform_suspect(history)
    if platform is not None:
        suspects.append(platform)
    data = _seed_suspect(history, ix, None, max((s.score for s in suspects), default=0.0))
    if data is not None:
        suspects.append(data)
    observed = now - history.started if history.started is not None else None
    return Ranking(Question.ENVIRONMENT, now, _ordered(suspects, ix.order), observed)


def explain_failure(history: History, failure: FailedTest) -> Ranking:
    """Why did this test fail: the environment over the test's window, the request ids in
    its output followed across services, the test data, and the test's own history.

    Always returns at least one suspect: with nothing abnormal the answer is
    "the environment looked healthy: the test, or the code it tests".
    """
    hi = failure.ended + FAILURE_MARGIN_S
    lo = failure.started - FAILURE_MARGIN_S
    now = min(history.now, hi) if history.now >= failure.started else history.now
    ix = _Index(history, now, min(lo, now - RECENT_S))
    cases, mentions = _service_cases(ix)
    _change_signals(cases, history.changes, ix)
    text = f"{failure.message}\n{failure.output}"
    _test_requests(cases, ix, text, lo, mentions)
    _trace_signals(cases, failure.traces, failure.ended, failure.test_id)
    for name in _deepest(mentions.find(failure.message), ix)[:1]:
        if name in cases and _ENV_WORDS.search(failure.message):
            cases[name].add(
                EvidenceKind.TEST,
                f"the test's message names it: {_short(failure.message, 120)}",
                W["test_message_names"],
                at=failure.ended,
                where=Where(View.TEST, name, failure.ended, test_id=failure.test_id),
            )
    if failure.refused:
        m = _REFUSED_SUITE.match(failure.refused)
        if m and m.group(1) in cases:
            cases[m.group(1)].add(
                EvidenceKind.TEST,
                f"suite refused: {_short(failure.refused, 140)}",
                W["refused_suite"],
                at=failure.ended,
                where=Where(View.TEST, m.group(1), failure.ended, test_id=failure.test_id),
            )
    if failure.depends_on:
        related = set(failure.depends_on)
        for d in failure.depends_on:
            related |= ix.ancestors.get(d, frozenset())
        for name, case in cases.items():
            if name not in related and not any(
                e.kind in (EvidenceKind.TEST, EvidenceKind.REQUEST, EvidenceKind.TRACE)
                for e in case.evidence
            ):
                case.evidence = [
                    _reweigh(e, e.weight * W["unrelated_factor"]) for e in case.evidence
                ]
    suspects = _resolve(cases, ix)
    platform = _platform_suspect(history)
    if platform is not None:
        suspects.append(platform)
    env_max = max((s.score for s in suspects), default=0.0)
    data = _seed_suspect(history, ix, failure, env_max)
    if data is not None:
        suspects.append(data)
    flaky = _flaky_suspect(failure)
    if flaky is not None:
        suspects.append(flaky)
    if not suspects:
        suspects.append(
            Suspect(
                SubjectKind.TEST,
                failure.test_id,
                W["test_only"],
                Fault.TEST_FAILED,
                "the environment looked healthy while it ran: "
                "look at the test or the code it tests",
                (),
                (
                    Evidence(
                        EvidenceKind.TEST,
                        f"{failure.outcome}: {_short(failure.message, 140)}",
                        failure.ended,
                        "",
                        Where(View.TEST, test_id=failure.test_id),
                        W["test_only"],
                    ),
                ),
                failure.started,
            )
        )
    return Ranking(
        Question.FAILURE, failure.ended, _ordered(suspects, ix.order), subject=failure.test_id
    )


def _reweigh(e: Evidence, weight: float) -> Evidence:
    return Evidence(e.kind, e.text, e.at, e.service, e.where, weight)


def _test_requests(
    cases: dict[str, _Case], ix: _Index, text: str, lo: float, mentions: _Mentions
) -> None:
    """The test's own request ids, followed through every service's log."""
    rids = {r for r in _RID.findall(text) if r.lower() not in _IGNORED_RIDS}
    if not rids:
        return
    errored: dict[str, list[LogRecord]] = {}
    for name in ix.with_errors():
        for line in ix.errors(name):
            if line.at >= lo - 30 and (line.rid or _first_rid(line.text)) in rids:
                errored.setdefault(name, []).append(line)
    for last in _deepest(errored, ix)[:1]:
        line = errored[last][-1]
        name = _blamed_below(last, errored[last], ix, mentions)
        path = sorted(set(errored) | {name}, key=lambda s: -ix.order.get(s, 0))
        cases[name].add(
            EvidenceKind.REQUEST,
            f"this test's request rid={line.rid or _first_rid(line.text)} broke here"
            f" ({' → '.join(path)}): {_short(line.text, 110)}",
            W["test_request"],
            at=line.at,
            where=Where(View.LOGS, name, line.at, line.rid, line.seq),
        )
        for other in errored:
            if other != name:
                cases[other].causes[name] = cases[other].causes.get(name, 0) + 5


def _seed_suspect(
    history: History, ix: _Index, failure: FailedTest | None, env_max: float
) -> Suspect | None:
    """The test data: a failed verify, data wiped since the last reseed, a fixture 404."""
    last: SeedRecord | None = history.seeds[-1] if history.seeds else None
    case = _Case(SubjectKind.TEST_DATA, last.seed if last else "test data")
    if last is not None:
        verified = (
            "verified"
            if last.verified
            else "verify FAILED"
            if last.verified is False
            else "not verified"
        )
        text = (
            f"last reseed: {last.seed} ({last.service}) at {clock(last.at)}, "
            f"{'ok' if last.ok else 'failed'}, {verified}"
        ) + (f": {_short(last.detail, 100)}" if last.detail and not last.ok else "")
        weight = W["data_verify_failed"] if (last.verified is False or not last.ok) else 0.0
        case.add(
            EvidenceKind.SEED,
            text,
            weight,
            at=last.at,
            where=Where(View.AUDIT, last.service, last.at),
            fault=Fault.BAD_DATA if weight else None,
            headline=f"the last reseed failed ({verified})" if weight else "",
        )
    else:
        case.add(EvidenceKind.SEED, "no reseed seen while watching", 0.0)
    since_seed = last.at if last is not None else ix.observed_from
    for name in ix.with_warnings():
        lines = ix.warnings(name)
        for line in lines[bisect_right(lines, since_seed, key=_at) :]:
            if _WIPED.search(line.text):
                case.add(
                    EvidenceKind.LOG,
                    f"{name} at {clock(line.at)}, after the last reseed: {_short(line.text, 100)}",
                    W["data_wiped"],
                    at=line.at,
                    service=name,
                    where=Where(View.LOGS, name, line.at, line.rid, line.seq),
                    fault=Fault.BAD_DATA,
                    headline=f"data wiped in {name} at {clock(line.at)}, not reseeded since",
                )
                break
    if failure is not None:
        message = failure.message
        looks_data = bool(_DATA_WORDS.search(message)) and not _ENV_WORDS.search(message)
        if looks_data:
            case.add(
                EvidenceKind.TEST,
                f"the failure looks like data: {_short(message, 140)}",
                W["data_hint"],
                at=failure.ended,
                where=Where(View.TEST, test_id=failure.test_id),
                fault=Fault.BAD_DATA,
                headline="the failure looks like missing or wrong fixtures",
            )
            rids = {
                r
                for r in _RID.findall(f"{message}\n{failure.output}")
                if r.lower() not in _IGNORED_RIDS
            }
            named = _ids(message)
            for name in ix.with_warnings():
                lines = ix.warnings(name)
                hit = next(
                    (
                        ln
                        for ln in lines
                        if " 404 " in f" {ln.text} "
                        and failure.started - 1 <= ln.at <= failure.ended + 1
                        and (ln.rid in rids if rids else bool(_ids(ln.text) & named))
                    ),
                    None,
                )
                if hit is not None:
                    case.add(
                        EvidenceKind.LOG,
                        f"{name} answered 404 during the test: {_short(hit.text, 110)}",
                        W["data_404_in_logs"],
                        at=hit.at,
                        service=name,
                        where=Where(View.LOGS, name, hit.at, hit.rid, hit.seq),
                    )
                    break
        elif not any(e.weight for e in case.evidence):
            return None
    if case.score < REPORT_THRESHOLD or case.fault is None:
        return None
    if env_max >= 0.5:
        case.evidence = [_reweigh(e, e.weight * 0.5) for e in case.evidence]
    return _suspect(case)


def _flaky_suspect(failure: FailedTest) -> Suspect | None:
    if failure.samples < 4 or failure.flip_rate < 0.2:
        return None
    weight = min(W["flaky_cap"], W["flaky_base"] + W["flaky_rate"] * failure.flip_rate)
    return Suspect(
        SubjectKind.TEST,
        failure.test_id,
        weight,
        Fault.FLAKY,
        f"flaky: its verdict flipped in {failure.flip_rate:.0%} of its last "
        f"{failure.samples} results",
        (),
        (
            Evidence(
                EvidenceKind.TEST,
                f"pass/fail flip rate {failure.flip_rate:.0%} over {failure.samples} results",
                failure.ended,
                "",
                Where(View.TEST, test_id=failure.test_id),
                weight,
            ),
        ),
        failure.started,
    )
