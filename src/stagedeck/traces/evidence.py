"""Traces as evidence for a failed test: for the run report and for triage.

A failed test keeps, with its failure context, the summaries of its failing
traces and its slowest one: what failed first, which service took the time.
They come from the engine's own store when this process receives the spans,
else from the cockpit that holds the port (see :mod:`stagedeck.traces.remote`).

Triage seam: :func:`suspects_from_traces` turns those summaries into
(service, weight, why) triples, the shape a suspect ranking can add to its
other evidence. It is pure; ``stagedeck.triage`` is not on main yet, so
nothing calls it there (see the branch's report).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol

from stagedeck.traces.model import clean

if TYPE_CHECKING:  # the rest is imported when a failure is recorded: not at start-up
    from stagedeck.traces.query import LatencyShift
    from stagedeck.traces.receiver import OtlpReceiver
    from stagedeck.traces.store import TraceStore

log = logging.getLogger("stagedeck.traces")

PER_TEST = 3
"""Traces kept per failed test: the failing ones first, then the slowest."""


class HasTraces(Protocol):
    """What this module needs of the engine."""

    @property
    def recipe(self) -> Any: ...

    traces: TraceStore | None
    otlp: OtlpReceiver | None


def pick(summaries: list[dict[str, Any]], limit: int = PER_TEST) -> list[dict[str, Any]]:
    """The failing traces (longest first), then the slowest of the rest, ``limit`` in all."""
    failing = sorted(
        (s for s in summaries if s.get("error")), key=lambda s: -float(s.get("duration_ms") or 0)
    )
    rest = sorted(
        (s for s in summaries if not s.get("error")),
        key=lambda s: -float(s.get("duration_ms") or 0),
    )
    chosen = failing[: limit - 1] if rest else failing[:limit]
    return chosen + rest[: limit - len(chosen)]


async def traces_of_test(
    engine: HasTraces, test_id: str, window: tuple[float, float] | None
) -> list[dict[str, Any]]:
    """Summaries (with blame) of the test's failing and slowest traces; [] when none are held."""
    from stagedeck.traces import query
    from stagedeck.traces.remote import NotReceiving, fetch, summary_json

    store = engine.traces
    if store is not None and engine.otlp is not None:
        found = query.traces_for_test(store, test_id, window)
        return pick([summary_json(t) for t in found])
    config = engine.recipe.traces
    if config is None:
        return []
    params: dict[str, Any] = {"test": test_id, "limit": 50}
    if window is not None:
        params.update(start=window[0], end=window[1])
    try:
        data = await asyncio.to_thread(fetch, config.endpoint, "", 2.0, **params)
    except NotReceiving:
        return []
    except Exception:  # evidence is a bonus: never fail the recording of a run for it
        log.exception("asking the cockpit for a test's traces failed")
        return []
    traces = data.get("traces")
    return pick([t for t in traces if isinstance(t, dict)]) if isinstance(traces, list) else []


def trace_service(summary: dict[str, Any]) -> str:
    """The service a trace points at: where it failed, else what took the time, else its root."""
    blame = summary.get("blame") or {}
    return str(
        blame.get("error_service") or blame.get("slow_service") or summary.get("root_service", "")
    )


def describe(summary: dict[str, Any]) -> str:
    """One line for a report: duration, root, what failed first, what took the time.

    The summary may come back from the shared database, which others write: its
    text passes the gate again.
    """
    return clean(_describe(summary), 600)


def _describe(summary: dict[str, Any]) -> str:
    blame = summary.get("blame") or {}
    text = (
        f"trace {summary.get('trace_id')} {float(summary.get('duration_ms') or 0):.0f}ms"
        f"{' ✖' if summary.get('error') else ''} {summary.get('root_service', '')} "
        f"{summary.get('root', '')}"
    )
    if blame.get("error_service"):
        text += f" · failed first: {blame['error_service']} ({blame.get('error_span', '')})"
    if blame.get("slow_service"):
        text += (
            f" · took the time: {blame['slow_service']} "
            f"{float(blame.get('slow_self_ms') or 0):.0f}ms own"
        )
    return text


def suspects_from_traces(
    summaries: list[dict[str, Any]],
    shifts: Sequence[LatencyShift] = (),
) -> list[tuple[str, float, str]]:
    """(service, weight 0..1, why) from a failure's traces and from latency shifts.

    The deepest span that errored names its service most strongly; the span
    that took the time on the critical path next; a service whose span latency
    shifted (even while its health is green) last. One entry per service,
    strongest reason kept.
    """
    best: dict[str, tuple[float, str]] = {}

    def note(service: str, weight: float, why: str) -> None:
        if service and weight > best.get(service, (0.0, ""))[0]:
            best[service] = (weight, why)

    for s in summaries:
        blame = s.get("blame") or {}
        tid = str(s.get("trace_id", ""))[:8]
        if blame.get("error_service"):
            note(
                str(blame["error_service"]),
                0.9,
                f"its span failed first in trace {tid} ({blame.get('error_span', '')})",
            )
        if blame.get("slow_service") and float(blame.get("slow_self_ms") or 0) > 0:
            note(
                str(blame["slow_service"]),
                0.6,
                f"took {float(blame['slow_self_ms']):.0f}ms of trace {tid} on the critical path",
            )
    for shift in shifts:
        note(
            shift.service,
            min(0.5, 0.2 + 0.05 * shift.ratio),
            f"spans {shift.ratio:.1f}x slower than before "
            f"({shift.baseline_ms:.0f} → {shift.recent_ms:.0f}ms median)",
        )
    return sorted(((svc, w, why) for svc, (w, why) in best.items()), key=lambda t: -t[1])
