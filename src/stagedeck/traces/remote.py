"""Traces across processes: the receiver answers read-only questions over HTTP.

Traces live in the memory of the process that receives them (a cockpit, or
``stagedeck run``). ``stagedeck traces`` and a headless run started while a
cockpit holds the port ask that process, at ``GET /stagedeck/traces`` on the
same port the spans arrive at, instead of keeping a second copy anywhere.
The answers are the JSON forms of :mod:`stagedeck.traces.query`'s results.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qs, urlencode

from stagedeck.traces import query
from stagedeck.traces.receiver import QUERY_PATH
from stagedeck.traces.store import Trace, TraceStore


def trace_json(trace: Trace) -> dict[str, Any]:
    """One trace: its summary, what it blames, and its spans in waterfall order."""
    return {
        **query.summarize(trace).to_json(),
        "blame": query.blame(trace).to_json(),
        "spans": [
            {
                **row.span.to_json(),
                "depth": row.depth,
                "critical": row.critical,
                "self_ms": round(row.self_time * 1000, 3),
                "error_origin": row.error_origin,
            }
            for row in query.waterfall(trace)
        ],
    }


def summary_json(trace: Trace) -> dict[str, Any]:
    return {**query.summarize(trace).to_json(), "blame": query.blame(trace).to_json()}


def answer_query(store: TraceStore, rest: str, query_string: str) -> tuple[int, dict[str, Any]]:
    """(HTTP status, JSON body) for ``GET /stagedeck/traces{rest}?{query_string}``."""
    params = {k: v[-1] for k, v in parse_qs(query_string).items()}
    if rest.strip("/"):
        trace = store.get(rest.strip("/"))
        if trace is None:
            return 404, {"error": "no such trace is held", "stats": store.stats()}
        return 200, {"trace": trace_json(trace), "stats": store.stats()}
    try:
        limit = max(1, min(1000, int(params.get("limit", "50"))))
        flt = query.TraceFilter(
            service=params.get("service", ""),
            errors_only=params.get("errors", "") in ("1", "true"),
            min_duration=float(params.get("min_ms", "0")) / 1000,
        )
        window = None
        if "start" in params and "end" in params:
            window = (float(params["start"]), float(params["end"]))
    except ValueError as exc:
        return 400, {"error": f"bad parameter: {exc}"}
    test = params.get("test", "")
    if test:
        found = [query.summarize(t) for t in query.traces_for_test(store, test, window)]
        summaries = [s for s in found if flt.matches(s)][:limit]
    else:
        summaries = query.list_traces(store, flt, limit)
    traces = [t for s in summaries if (t := store.get(s.trace_id)) is not None]
    return 200, {"traces": [summary_json(t) for t in traces], "stats": store.stats()}


class NotReceiving(Exception):
    """Nothing answers at the endpoint: no cockpit or run for this recipe is receiving."""


def fetch(endpoint: str, trace_id: str = "", timeout: float = 3.0, **params: Any) -> dict[str, Any]:
    """Ask the process receiving at ``endpoint``; :class:`NotReceiving` if none answers."""
    import urllib.error
    import urllib.request

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # never via a proxy
    url = endpoint.rstrip("/") + QUERY_PATH + (f"/{trace_id}" if trace_id else "")
    given = {k: v for k, v in params.items() if v not in (None, "", False, 0)}
    if given:
        url += "?" + urlencode({k: "1" if v is True else v for k, v in given.items()})
    try:
        with opener.open(url, timeout=timeout) as response:
            data: dict[str, Any] = json.loads(response.read())
            return data
    except urllib.error.HTTPError as exc:
        with exc:
            try:
                body: dict[str, Any] = json.loads(exc.read())
            except ValueError:
                raise NotReceiving(f"{endpoint} answered HTTP {exc.code}: not stagedeck") from None
        return {"status": exc.code, **body}
    except (OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise NotReceiving(f"nothing answers at {endpoint} ({reason})") from None
