"""The gate verdict and a scenario's result as report sections (Markdown, HTML, JUnit).

``suites/report.py`` calls these; they take the stored documents (plain dicts)
so a report renders what was decided at the time, whatever the recipe says now.
"""

from __future__ import annotations

import html
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import Any

from stagedeck.gate.model import Verdict
from stagedeck.gate.render import verdict_lines


def scenario_lines(data: Mapping[str, Any]) -> list[str]:
    """ "scenario payments-down: expectations met" then each expectation with ✓/✗ and figures."""
    met = "expectations met" if data.get("ok") is True else "expectations NOT met"
    out = [f"scenario {data.get('scenario', '?')}: {met} — {data.get('fault_label', '')}"]
    detect, recover = data.get("detect_s"), data.get("recover_s")
    out.append(
        "  detected after "
        + (f"{detect:.2f} s" if isinstance(detect, int | float) else "— (not seen)")
        + "; all healthy "
        + (f"{recover:.2f} s after lifting" if isinstance(recover, int | float) else "— (not yet)")
    )
    affected = data.get("tests_affected") or []
    if affected:
        out.append(f"  tests affected ({len(affected)}): " + ", ".join(map(str, affected[:8])))
    for e in data.get("expectations", []) or []:
        if isinstance(e, Mapping):
            out.append(
                f"  {'✓' if e.get('ok') else '✗'} {e.get('title', '')}: {e.get('detail', '')}"
            )
    for s in data.get("suspects", []) or []:
        if isinstance(s, Mapping):
            out.append(f"      suspect: {s.get('name', '')} — {s.get('verdict', '')}")
    return out


def markdown(gate: Mapping[str, Any] | None, scenario: Mapping[str, Any] | None) -> list[str]:
    out: list[str] = []
    if scenario:
        out += ["", f"## Scenario {_md(str(scenario.get('scenario', '')))}", "", "```"]
        out += [*scenario_lines(scenario), "```"]
    if gate:
        verdict = Verdict.from_dict(gate)
        out += ["", f"## Gate: {verdict.verdict}", "", "```", *verdict_lines(verdict), "```"]
    return out


def html_section(gate: Mapping[str, Any] | None, scenario: Mapping[str, Any] | None) -> str:
    e = html.escape
    out = ""
    if scenario:
        out += f"<h2>Scenario {e(str(scenario.get('scenario', '')))}</h2>"
        out += f"<pre>{e(chr(10).join(scenario_lines(scenario)))}</pre>"
    if gate:
        verdict = Verdict.from_dict(gate)
        cls = "passed" if verdict.go else "failed"
        out += f"<h2 class='{cls}'>Gate: {e(verdict.verdict)}</h2>"
        out += f"<pre>{e(chr(10).join(verdict_lines(verdict)))}</pre>"
    return out


def junit(
    root: ET.Element, gate: Mapping[str, Any] | None, scenario: Mapping[str, Any] | None
) -> None:
    """One test case per criterion (and per expectation): CI shows a NO-GO as failed tests."""
    if gate:
        verdict = Verdict.from_dict(gate)
        suite = ET.SubElement(
            root,
            "testsuite",
            name="stagedeck gate",
            tests=str(len(verdict.criteria)),
            failures=str(len(verdict.failing)),
            errors="0",
            skipped="0",
        )
        for c in verdict.criteria:
            case = ET.SubElement(suite, "testcase", classname="stagedeck.gate", name=c.key)
            if not c.ok:
                child = ET.SubElement(case, "failure", message=f"{c.title}: {c.summary}")
                child.text = "\n".join([*c.details, *(str(s.get("verdict")) for s in c.suspects)])
    if scenario:
        expectations = [e for e in scenario.get("expectations", []) or [] if isinstance(e, Mapping)]
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"stagedeck scenario {scenario.get('scenario', '')}",
            tests=str(len(expectations)),
            failures=str(sum(1 for x in expectations if not x.get("ok"))),
            errors="0",
            skipped="0",
        )
        for x in expectations:
            case = ET.SubElement(
                suite, "testcase", classname="stagedeck.scenario", name=str(x.get("key", ""))
            )
            if not x.get("ok"):
                ET.SubElement(case, "failure", message=f"{x.get('title')}: {x.get('detail')}")


def _md(text: str) -> str:
    return html.escape(text).replace("*", "\\*").replace("_", "\\_").replace("`", "'")
