"""Taking a :class:`History` from a live engine: the one place triage reads engine state.

The ranking itself never touches the engine; it gets this frozen snapshot. The
pieces that would be costly to convert on every recompute (log lines,
transitions) are kept already converted, incrementally, by
:class:`~stagedeck.triage.live.TriageMonitor`; this module assembles them.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from stagedeck.triage.model import (
    ChangeRecord,
    History,
    LogRecord,
    SeedRecord,
    ServiceRecord,
    TransitionRecord,
)

if TYPE_CHECKING:
    from stagedeck.engine.engine import Engine

_HOSTPORT = re.compile(r"^[a-z][a-z0-9+.-]*://([^/@]+@)?([^/?#]+)", re.IGNORECASE)


def service_records(engine: Engine) -> dict[str, ServiceRecord]:
    recipe = engine.recipe
    target = recipe.environment.target
    out: dict[str, ServiceRecord] = {}
    for name, svc in recipe.services.items():
        st = engine.statuses.get(name)
        if st is None:
            continue
        out[name] = ServiceRecord(
            name,
            st.state.value,
            st.health.value,
            st.reason,
            st.since,
            st.restarts,
            st.exit_code,
            tuple(svc.depends_on),
            svc.slo_ms,
            st.platform_health,
            svc.health is not None,
            target,
        )
    return out


def service_aliases(engine: Engine) -> dict[str, tuple[str, ...]]:
    """The host:port (and URL) by which other services' logs name each service."""
    out: dict[str, tuple[str, ...]] = {}
    for name, svc in engine.recipe.services.items():
        found: list[str] = []
        urls = [svc.health.url if svc.health and svc.health.kind == "http" else "", *svc.latency]
        for url in urls:
            m = _HOSTPORT.match(url or "")
            if m and m.group(2) not in found:
                found.append(m.group(2))
        if svc.port:
            for host in ("127.0.0.1", "localhost"):
                alias = f"{host}:{svc.port}"
                if alias not in found:
                    found.append(alias)
        out[name] = tuple(found)
    return out


def build_history(
    engine: Engine,
    *,
    now: float,
    transitions: Mapping[str, Sequence[TransitionRecord]],
    errors: Mapping[str, Sequence[LogRecord]],
    warnings: Mapping[str, Sequence[LogRecord]],
    changes: Sequence[ChangeRecord] = (),
    seeds: Sequence[SeedRecord] = (),
    started: float | None = None,
    aliases: Mapping[str, tuple[str, ...]] | None = None,
    traces: Sequence[tuple[str, float, str]] = (),
) -> History:
    """Per-service sequences are passed as they are kept (no copy, no regrouping)."""
    return History(
        now=now,
        services=service_records(engine),
        transitions=transitions,
        probes=engine.probe_log,
        logs=errors,
        warnings=warnings,
        changes=changes,
        seeds=seeds,
        # Never connected yet is start-up, not an outage: only a lost link is a suspect.
        connected=engine.connected or engine.connection_detail == "not connected",
        connection_detail=engine.connection_detail,
        target=engine.recipe.environment.target,
        started=started,
        urls=aliases if aliases is not None else service_aliases(engine),
        traces=traces,
    )


SLOW_SPAN_MS = 100.0
"""Without an SLO, the span that took a trace's time is evidence from this much own time."""


def trace_evidence(
    summaries: Iterable[Mapping[str, Any]], slo_ms: Mapping[str, float | None]
) -> tuple[tuple[str, float, str], ...]:
    """A failed test's trace summaries as (service, weight, why) for ``FailedTest.traces``.

    Every trace has a span that "took the time"; in a 2 ms trace that is no news.
    It counts only when its own time breaks the service's SLO (or
    :data:`SLOW_SPAN_MS` without one); the span that failed first always counts.
    """
    from stagedeck.traces.evidence import suspects_from_traces

    kept: list[dict[str, Any]] = []
    for summary in summaries:
        blame = dict(summary.get("blame") or {})
        slow = str(blame.get("slow_service") or "")
        if slow:
            limit = slo_ms.get(slow) or SLOW_SPAN_MS
            if float(blame.get("slow_self_ms") or 0.0) < limit:
                blame.pop("slow_service", None)
        kept.append({**summary, "blame": blame})
    return tuple(suspects_from_traces(kept))


def changes_from_audit(entries: Iterable[Any]) -> list[ChangeRecord]:
    """Audit log entries (``store.AuditEntry``) as changes, oldest first."""
    out: list[ChangeRecord] = []
    for e in entries:
        details = e.details if isinstance(e.details, dict) else {}
        detail = json.dumps(details, default=str, sort_keys=True)[:200] if details else ""
        out.append(
            ChangeRecord(
                float(e.started),
                str(e.action),
                tuple(str(s) for s in e.services),
                str(e.user),
                str(e.outcome or ""),
                detail,
                int(e.id),
                float(e.ended) if e.ended is not None else None,
            )
        )
    out.sort(key=lambda c: c.at)
    return out
