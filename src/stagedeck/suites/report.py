"""Reports of a run: Markdown for chat, HTML for a browser, JUnit for CI dashboards.

A report carries what the cockpit knows and a CI log does not: for each
failure, how often it has been seen before, what people wrote about it, and
what the environment was doing while the test ran.
"""

from __future__ import annotations

import html
import re
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stagedeck.gate import report as gate_report
from stagedeck.store import (
    Annotation,
    ContextItem,
    Run,
    SignatureStats,
    Store,
    SuiteRun,
    TestResult,
)
from stagedeck.traces.evidence import describe as describe_trace
from stagedeck.triage.model import Suspect
from stagedeck.triage.render import suspect_lines


def _when(ts: float, now: float) -> str:
    """'today 14:02', 'Tuesday', or a date: how people say when something first happened."""
    t, n = time.localtime(ts), time.localtime(now)
    if (t.tm_year, t.tm_yday) == (n.tm_year, n.tm_yday):
        return f"today {time.strftime('%H:%M', t)}"
    if now - ts < 6 * 86400:
        return time.strftime("%A", t)
    return time.strftime("%Y-%m-%d", t)


def seen_text(count: int, first_seen: float | None, now: float | None = None) -> str:
    """ "seen 4 times since Tuesday", or "first time seen"."""
    now = time.time() if now is None else now
    if count > 1 and first_seen is not None:
        return f"seen {count} times since {_when(first_seen, now)}"
    return "first time seen" if count == 1 else ""


def recurrence_line(
    stats: SignatureStats, notes: list[Annotation], now: float | None = None
) -> str:
    """ "seen 4 times since Tuesday; alice: payments sandbox times out under load"."""
    seen = seen_text(stats.count, stats.first_seen, now)
    parts = [seen] if seen else []
    for note in notes:
        link = f" ({note.link})" if note.link else ""
        parts.append(f"{note.author} [{note.tag}]: {note.note}{link}")
    return "; ".join(parts)


@dataclass
class FailureReport:
    suite: str
    result: TestResult
    recurrence: str
    annotations: list[Annotation]
    context: list[ContextItem]
    suspects: list[Suspect] = field(default_factory=list)
    """Ranked when it failed (best first); empty for failures recorded before triage."""


@dataclass
class RunReport:
    run: Run
    suites: list[SuiteRun]
    results: dict[int, list[TestResult]]
    failures: list[FailureReport] = field(default_factory=list)
    gate: dict[str, Any] | None = None
    """The latest gate verdict on the run, as stored (None: never judged)."""
    scenario: dict[str, Any] | None = None
    """The scenario this run rehearsed, with its result (None: an ordinary run)."""


def build_report(store: Store, run_id: int, mask: Callable[[str], str] = lambda s: s) -> RunReport:
    run = store.run(run_id)
    if run is None:
        raise LookupError(f"no run {run_id} in {store.path}")
    suites = store.suite_runs(run_id)
    results = {s.id: store.test_results(s.id) for s in suites}
    report = RunReport(
        run,
        suites,
        results,
        gate=store.gate_verdict(run_id),
        scenario=store.scenario_result(run_id),
    )
    now = time.time()
    for suite in suites:
        for result in results[suite.id]:
            if result.outcome not in ("failed", "error") or result.id is None:
                continue
            notes = store.annotations_for(result.signature) if result.signature else []
            stats = (
                store.signature_stats(result.signature)
                if result.signature
                else SignatureStats(1, None, None)
            )
            context = [
                ContextItem(
                    c.service,
                    c.kind,
                    c.at,
                    mask(c.content) if isinstance(c.content, str) else c.content,
                )
                for c in store.failure_context(result.id)
            ]
            suspects = [Suspect.from_dict(row) for row in store.failure_suspects(result.id)]
            report.failures.append(
                FailureReport(
                    suite.suite,
                    result,
                    recurrence_line(stats, notes, now),
                    notes,
                    context,
                    suspects,
                )
            )
    return report


def _stamp(ts: float | None) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts)) if ts else "–"


def _context_lines(items: list[ContextItem]) -> list[str]:
    lines = []
    for item in sorted(items, key=lambda c: c.at):
        if item.kind == "trace" and isinstance(item.content, dict):
            clock = time.strftime("%H:%M:%S", time.localtime(item.at))
            lines.append(f"{clock} {describe_trace(item.content)}")
        elif item.kind == "log":
            clock = time.strftime("%H:%M:%S", time.localtime(item.at))
            lines.append(f"{clock} {item.service}: {item.content}")
        elif isinstance(item.content, dict):
            c: dict[str, Any] = item.content
            prefix = (
                "at start"
                if c.get("at_start")
                else time.strftime("%H:%M:%S", time.localtime(item.at))
            )
            reason = f" ({c.get('reason')})" if c.get("reason") else ""
            if c.get("at_start") and c.get("health") == "healthy":
                continue  # healthy at the start is the normal case: not worth a line
            lines.append(f"{prefix} {item.service}: {c.get('state')} / {c.get('health')}{reason}")
    return lines


def to_markdown(report: RunReport) -> str:
    run = report.run
    out = [
        f"# stagedeck run {run.id}: {run.environment}",
        "",
        f"{run.outcome or 'running'} · by {run.user} · {_stamp(run.started)} → {_stamp(run.ended)}",
        "",
        "| suite | state | passed | failed | errors | skipped |",
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for s in report.suites:
        out.append(
            f"| {s.suite} | {s.state} | {s.passed} | {s.failed} | {s.errors} | {s.skipped} |"
        )
        if s.detail:
            out.append(f"| | {s.detail} | | | | |")
    if report.failures:
        out += ["", "## Failures"]
    for f in report.failures:
        r = f.result
        out += [
            "",
            f"### {f.suite}: `{r.test_id}`",
            "",
            f"**{r.outcome}** in {r.duration:.2f}s: {r.message}",
        ]
        if f.recurrence:
            out += ["", f"> {f.recurrence}"]
        if f.suspects:
            out += ["", f"**Likely cause:** {_md_inline(f.suspects[0].line())}", ""]
            out += ["```", *_suspect_lines(f.suspects), "```"]
        if r.traceback:
            out += ["", "```", r.traceback, "```"]
        ctx = _context_lines(f.context)
        if ctx:
            out += ["", "Environment while it ran:", "", "```", *ctx, "```"]
    out += gate_report.markdown(report.gate, report.scenario)
    return "\n".join(out) + "\n"


def to_html(report: RunReport) -> str:
    e = html.escape
    run = report.run
    rows = "".join(
        f"<tr><td>{e(s.suite)}</td><td class='{e(s.state)}'>{e(s.state)}</td><td>{s.passed}</td>"
        f"<td>{s.failed}</td><td>{s.errors}</td><td>{s.skipped}</td><td>{e(s.detail)}</td></tr>"
        for s in report.suites
    )
    failures = []
    for f in report.failures:
        r = f.result
        ctx = "\n".join(_context_lines(f.context))
        failures.append(
            f"<section><h3>{e(f.suite)}: <code>{e(r.test_id)}</code></h3>"
            f"<p><b>{e(r.outcome)}</b> in {r.duration:.2f}s: {e(r.message)}</p>"
            + (f"<blockquote>{e(f.recurrence)}</blockquote>" if f.recurrence else "")
            + (
                f"<p class='cause'><b>Likely cause:</b> {e(f.suspects[0].line())}</p>"
                f"<pre>{e(chr(10).join(_suspect_lines(f.suspects)))}</pre>"
                if f.suspects
                else ""
            )
            + (f"<pre>{e(r.traceback)}</pre>" if r.traceback else "")
            + (f"<h4>Environment while it ran</h4><pre>{e(ctx)}</pre>" if ctx else "")
            + "</section>"
        )
    style = (
        "body{font-family:sans-serif;max-width:60em;margin:auto}td,th{padding:2px 8px}"
        ".passed{color:#1a7f37}.failed,.error{color:#cf222e}pre{background:#f6f8fa;padding:8px}"
    )
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>stagedeck run {run.id}</title>"
        f"<style>{style}</style></head><body><h1>stagedeck run {run.id}: {e(run.environment)}</h1>"
        f"<p>{e(run.outcome or 'running')} · by {e(run.user)} · "
        f"{_stamp(run.started)} → {_stamp(run.ended)}</p>"
        f"<table><tr><th>suite</th><th>state</th><th>passed</th><th>failed</th><th>errors</th>"
        f"<th>skipped</th><th></th></tr>{rows}</table>"
        + gate_report.html_section(report.gate, report.scenario)
        + ("<h2>Failures</h2>" if failures else "")
        + "".join(failures)
        + "</body></html>\n"
    )


_NOT_XML = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]|[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
"""ANSI sequences and characters XML 1.0 cannot hold: one in a message breaks the whole file."""

OUTPUT_LIMIT = 64_000
"""Characters of a suite's captured output kept in the report (its end: where it failed)."""


def _xml_text(text: str) -> str:
    return _NOT_XML.sub("", text)


def _iso(ts: float | None) -> str | None:
    """JUnit's timestamp: local ISO 8601 without zone, as Ant and Maven Surefire write it."""
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(ts)) if ts else None


def _captured(path: str | None, mask: Callable[[str], str]) -> str | None:
    if not path:
        return None
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    if len(text) > OUTPUT_LIMIT:
        text = "[… earlier output cut …]\n" + text[-OUTPUT_LIMIT:]
    return _xml_text(mask(text))


def to_junit(
    report: RunReport, *, hostname: str | None = None, mask: Callable[[str], str] = lambda s: s
) -> str:
    """JUnit XML valid against the schema CI tools use (Jenkins' junit-10.xsd).

    That schema allows ``properties`` on a test suite only, so each failure's
    signature and top suspect are suite properties named after the test
    (``stagedeck.suspect[TEST ID]``). Captured output is the suite's, masked.
    """
    by_id = {s.id: s for s in report.suites}
    notes = {f.result.id: f for f in report.failures}
    counts = [by_id[sid] for sid in report.results]
    root = ET.Element(
        "testsuites",
        name=f"stagedeck run {report.run.id}",
        tests=str(sum(len(r) for r in report.results.values())),
        failures=str(sum(s.failed for s in counts)),
        errors=str(sum(s.errors for s in counts)),
    )
    if report.run.ended:
        root.set("time", f"{max(0.0, report.run.ended - report.run.started):.3f}")
    for sid, results in report.results.items():
        suite = by_id[sid]
        el = ET.SubElement(
            root,
            "testsuite",
            name=_xml_text(suite.suite),
            tests=str(len(results)),
            failures=str(suite.failed),
            errors=str(suite.errors),
            skipped=str(suite.skipped),
        )
        if (stamp := _iso(suite.started)) is not None:
            el.set("timestamp", stamp)
        if suite.started and suite.ended:
            el.set("time", f"{max(0.0, suite.ended - suite.started):.3f}")
        if hostname:
            el.set("hostname", hostname)
        props = ET.SubElement(el, "properties")
        for name, value in (
            ("stagedeck.run", str(report.run.id)),
            ("stagedeck.environment", report.run.environment),
            ("stagedeck.user", report.run.user),
        ):
            ET.SubElement(props, "property", name=name, value=_xml_text(value))
        for r in results:
            classname, _, name = r.test_id.rpartition("::")
            case = ET.SubElement(
                el,
                "testcase",
                classname=_xml_text(classname),
                name=_xml_text(name or r.test_id),
                time=f"{r.duration:.3f}",
            )
            if r.outcome in ("failed", "error"):
                known = notes.get(r.id)
                if r.signature:
                    _property(props, f"stagedeck.signature[{r.test_id}]", r.signature)
                if known is not None and known.suspects:
                    _suspect_properties(props, known.suspects[0], r.test_id)
                child = ET.SubElement(
                    case,
                    "failure" if r.outcome == "failed" else "error",
                    message=_xml_text(mask(r.message)),
                )
                child.text = _xml_text(
                    mask(r.traceback)
                    + (f"\n\n{known.recurrence}" if known and known.recurrence else "")
                )
            elif r.outcome == "skipped":
                ET.SubElement(case, "skipped", message=_xml_text(r.message))
        if len(props) == 0:
            el.remove(props)
        output = _captured(suite.output_path, mask)
        if output:
            ET.SubElement(el, "system-out").text = output
    gate_report.junit(root, report.gate, report.scenario)
    for count in ("tests", "failures", "errors"):  # the gate's suites count too
        root.set(count, str(sum(int(el.get(count) or 0) for el in root.iter("testsuite"))))
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True) + "\n"


def _property(props: ET.Element, name: str, value: str) -> None:
    ET.SubElement(props, "property", name=_xml_text(name), value=_xml_text(value))


def _suspect_lines(suspects: list[Suspect]) -> list[str]:
    out: list[str] = []
    for i, s in enumerate(suspects[:3], 1):
        out.extend(suspect_lines(s, rank=i, evidence=3))
    return out


def _md_inline(text: str) -> str:
    """Outside text in a Markdown line: no markup, no HTML (code spans would break on `)."""
    return html.escape(text).replace("*", "\\*").replace("_", "\\_").replace("`", "'")


def _suspect_properties(props: ET.Element, top: Suspect, test_id: str) -> None:
    """A failure's top suspect as suite properties (CI dashboards list them with the suite)."""
    for name, value in (
        ("stagedeck.suspect", top.label),
        ("stagedeck.suspect.kind", top.kind.value),
        ("stagedeck.suspect.fault", top.fault.value),
        ("stagedeck.suspect.score", f"{top.score:.2f}"),
        ("stagedeck.suspect.verdict", top.verdict),
    ):
        _property(props, f"{name}[{test_id}]", value)


def render(report: RunReport, fmt: str) -> str:
    return {"md": to_markdown, "html": to_html, "junit": to_junit}[fmt](report)
