"""Getting to the explain view and from its evidence to the views that hold it.

The app handles :class:`~stagedeck.tui.messages.ExplainRequested` and
:class:`~stagedeck.tui.messages.JumpTo` by calling these; each screen offers
one small method to be shown something (a service, a log line, an audit
entry, a failure), so no screen reaches into another.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from stagedeck.engine.logquery import LogFilter
from stagedeck.triage.model import Question, Ranking, View, Where, ranking_from_rows
from stagedeck.tui.messages import ExplainRequested

if TYPE_CHECKING:
    from stagedeck.tui.screens.explain import ExplainScreen

MODE_OF = {
    View.LOGS: "logs",
    View.GRAPH: "graph",
    View.CHART: "charts",
    View.AUDIT: "activity",
    View.SERVICE: "overview",
    View.TEST: "suites",
    View.TRACES: "traces",
}


def explain_screen(app: Any, request: ExplainRequested) -> ExplainScreen:
    """The explain view for a request: a failed test's stored ranking, or the environment."""
    from stagedeck.tui.screens.explain import ExplainScreen

    view = request.failure
    if view is not None:
        result = view.failure.result
        ranking = ranking_from_rows(list(view.suspects), subject=result.test_id)
        when = result.ended or result.started
        stamp = time.strftime(" at %H:%M:%S", time.localtime(when)) if when else ""
        note = (
            ""
            if ranking.suspects
            else "No ranking was stored with this failure (it was recorded before "
            "triage existed, or without the engine watching)."
        )
        return ExplainScreen(
            ranking,
            live=False,
            title=f"why did {view.failure.suite} · {result.test_id} fail ({result.outcome}{stamp})",
            note=note,
        )
    current = getattr(app, "ranking", None)
    if not isinstance(current, Ranking):
        current = Ranking(Question.ENVIRONMENT, 0.0)
    return ExplainScreen(current, live=True, service=request.service)


async def jump(app: Any, where: Where) -> None:
    """Switch to the view that holds ``where`` and show it there."""
    mode = MODE_OF.get(where.view, "overview")
    await app.switch_mode(mode)
    screen = app.screen
    if where.view is View.LOGS:
        if where.request_id:
            flt = LogFilter(request_id=where.request_id)
        elif where.service:
            flt = LogFilter(services=frozenset({where.service}))
        else:
            flt = LogFilter()
        show_logs = getattr(screen, "show_evidence", None)
        if show_logs is not None:
            show_logs(flt, seq=where.log_seq, at=where.at)
        return
    if where.view is View.AUDIT:
        show_entry = getattr(screen, "show_entry", None)
        if show_entry is not None:
            show_entry(where.audit_id, where.at)
        return
    if where.view is View.TRACES:
        show_filter = getattr(screen, "show_filter", None)
        if show_filter is not None:
            from stagedeck.traces.query import TraceFilter

            # A failed test's traces, else the service's.
            show_filter(
                TraceFilter(service="" if where.test_id else where.service, test=where.test_id)
            )
        return
    if where.view is View.TEST:
        show_failure = getattr(screen, "show_failure", None)
        if show_failure is not None:
            show_failure(where.test_id)
        return
    show_service = getattr(screen, "show_service", None)
    if show_service is not None and where.service:
        show_service(where.service)
