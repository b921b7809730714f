"""``stagedeck traces RECIPE``: the traces a running cockpit or run holds, printed.

Traces live in the memory of the process that receives them, so this asks
that process (at the recipe's ``[traces]`` port) rather than opening
anything itself. With nothing receiving it says so, and says where spans
should be sent, then exits 1.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from typing import Any

from stagedeck.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_OK, load_recipe_arg


def clean(text: str, limit: int = 400) -> str:
    """Text from the answering process passes the gate again: anything can hold that port."""
    from stagedeck.traces.model import clean as gate

    return gate(text, limit)


def register(add: Any) -> None:
    p = add("traces", cmd_traces, "list the traces a running cockpit or run has received")
    p.add_argument("recipe")
    p.add_argument("--test", help="the traces of one test (its id, as in `stagedeck failures`)")
    p.add_argument("--trace", help="one trace, as a waterfall")
    p.add_argument("--service", help="traces that touched this service")
    p.add_argument("--errors", action="store_true", help="only traces with a failed span")
    p.add_argument("--min", dest="min_duration", help="only traces at least this long (200ms)")
    p.add_argument("--limit", type=int, default=20)
    p.add_argument("--json", action="store_true", help="standard output holds JSON only")


def cmd_traces(args: argparse.Namespace) -> int:
    from stagedeck.traces.query import FilterError, parse_duration
    from stagedeck.traces.remote import NotReceiving, fetch

    recipe = load_recipe_arg(args.recipe, args)
    config = recipe.traces
    if config is None:
        message = f"{recipe.path} has no [traces] section: add one (port = 4318) to receive spans"
        if args.json:
            print(json.dumps({"receiving": False, "error": message}))
        else:
            print(message, file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        min_ms = parse_duration(args.min_duration) * 1000 if args.min_duration else 0
    except FilterError as exc:
        print(f"stagedeck traces: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        data = fetch(
            config.endpoint,
            args.trace or "",
            test=args.test,
            service=args.service,
            errors=args.errors,
            min_ms=min_ms,
            limit=args.limit,
        )
    except NotReceiving as exc:
        message = (
            f"{exc}: no cockpit (`stagedeck open`/`demo`) or run (`stagedeck run`) of "
            f"{recipe.name} is receiving traces, so none are held. Spans go to "
            f"{config.endpoint}/v1/traces (containers: "
            f"{config.endpoint_for_containers}/v1/traces)."
        )
        if args.json:
            print(json.dumps({"receiving": False, "endpoint": config.endpoint, "error": message}))
        else:
            print(message, file=sys.stderr)
        return EXIT_FAILED
    if args.json:
        print(json.dumps({"receiving": True, "endpoint": config.endpoint, **data}))
        return EXIT_OK if "error" not in data else EXIT_FAILED
    if "error" in data:
        print(f"stagedeck traces: {clean(str(data['error']))}", file=sys.stderr)
        return EXIT_FAILED
    print(_held(recipe.name, config.endpoint, data.get("stats", {})))
    if "trace" in data:
        print(waterfall_text(data["trace"]))
        return EXIT_OK
    traces = data.get("traces", [])
    if not traces:
        print(
            "no traces match"
            if (args.test or args.service or args.errors or min_ms)
            else "no traces received yet"
        )
        return EXIT_FAILED if args.test else EXIT_OK
    for t in traces:
        print(summary_line(t))
    if args.test:
        worst = max(traces, key=lambda t: (bool(t.get("error")), t.get("duration_ms", 0)))
        detail = fetch(config.endpoint, str(worst["trace_id"]))
        if "trace" in detail:
            print()
            print(waterfall_text(detail["trace"]))
    return EXIT_OK


def _held(name: str, endpoint: str, stats: dict[str, Any]) -> str:
    text = (
        f"traces of {clean(name)} received at {endpoint}: {stats.get('traces', 0)} held, "
        f"{stats.get('spans', 0)} spans"
    )
    if stats.get("dropped_traces"):
        text += f", {stats['dropped_traces']} old traces dropped (cap)"
    if stats.get("refused_payloads"):
        text += f", {stats['refused_payloads']} payloads refused"
    return text


def _ms(value: Any) -> str:
    """Milliseconds (as the JSON answers carry them) as text."""
    from stagedeck.traces.query import duration_text

    return duration_text(float(value or 0) / 1000)


def summary_line(t: dict[str, Any]) -> str:
    """One trace in a line, and what it blames in a second when it has something to say."""
    clock = time.strftime("%H:%M:%S", time.localtime(float(t.get("start") or 0)))
    mark = "✖" if t.get("error") else " "
    root = clean(f"{t.get('root_service', '')} {t.get('root', '')}".strip(), 60)
    services = clean(", ".join(map(str, t.get("services", []))), 60)
    line = f"{clock} {_ms(t.get('duration_ms')):>7} {mark} {t.get('trace_id', '')}  {root}"
    line += f"  [{services}]"
    blame = t.get("blame") or {}
    notes = []
    if blame.get("error_service"):
        notes.append(
            f"failed first: {clean(str(blame['error_service']), 60)} · "
            f"{clean(str(blame.get('error_span') or ''), 80)}"
        )
    if blame.get("slow_service"):
        notes.append(
            f"took the time: {clean(str(blame['slow_service']), 60)} "
            f"{_ms(blame.get('slow_self_ms'))} own"
        )
    if notes:
        line += "\n" + " " * 19 + " · ".join(notes)
    return line


def waterfall_text(trace: dict[str, Any], width: int = 24) -> str:
    """A trace as text: tree, service, duration, a bar; ┃ critical path, ✖ where it failed."""
    spans = trace.get("spans", [])
    start = min((float(s["start"]) for s in spans), default=0.0)
    total = float(trace.get("duration_ms") or 0) / 1000
    out = [f"trace {trace.get('trace_id')} · {_ms(trace.get('duration_ms'))}"]
    if trace.get("test"):
        out[0] += f" · test {clean(str(trace['test']), 120)}"
    for s in spans:
        mark = ("┃" if s.get("critical") else " ") + (
            "✖" if s.get("error_origin") else ("!" if s.get("error") else " ")
        )
        name = clean(" " * min(int(s.get("depth", 0)), 12) + str(s.get("name", "")), 44)
        offset = float(s["start"]) - start
        duration = float(s.get("duration_ms") or 0) / 1000
        left = int(offset / total * width) if total > 0 else 0
        size = max(1, round(duration / total * width)) if total > 0 else 1
        bar = (" " * left + "█" * size)[:width].ljust(width)
        service = clean(str(s.get("service", "")), 12)
        out.append(f"{mark} {name:<44} {service:<12} {_ms(s.get('duration_ms')):>7} |{bar}|")
        if s.get("error_origin") and s.get("status_message"):
            out.append(f"     {clean(str(s['status_message']), 100)}")
    return "\n".join(out)
