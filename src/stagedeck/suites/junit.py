"""Read JUnit XML, the one report format every test runner can write.

Handles the common dialects: a bare ``<testsuite>`` or ``<testsuites>`` around
several, ``<failure>``/``<error>``/``<skipped>`` children, message in the
``message`` attribute or the element text.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path

TRACEBACK_LINES = 40
"""Tracebacks are trimmed to their last lines: that is where the cause is."""


class JUnitError(Exception):
    """The report is missing or unreadable; the message names the path and the reason."""


@dataclass(frozen=True)
class Case:
    test_id: str
    """``classname::name``: stable across runs, so history and signatures can key on it."""
    name: str
    classname: str
    outcome: str
    """'passed', 'failed', 'error' or 'skipped'."""
    duration: float
    message: str = ""
    traceback: str = ""


def trim_traceback(text: str, lines: int = TRACEBACK_LINES) -> str:
    parts = text.strip().splitlines()
    if len(parts) <= lines:
        return "\n".join(parts)
    return "\n".join([f"… {len(parts) - lines} lines trimmed …", *parts[-lines:]])


def parse_junit(path: Path) -> list[Case]:
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        raise JUnitError(f"{path}: no JUnit report was written") from None
    except ET.ParseError as exc:
        raise JUnitError(f"{path}: not valid JUnit XML ({exc})") from None
    except OSError as exc:
        raise JUnitError(f"{path}: cannot read report ({exc.strerror})") from None
    if root.tag not in ("testsuites", "testsuite"):
        raise JUnitError(f"{path}: not a JUnit report (root element <{root.tag}>)")
    cases: list[Case] = []
    for case in root.iter("testcase"):
        name = case.get("name", "?")
        classname = case.get("classname", "")
        outcome, message, traceback = "passed", "", ""
        for child in case:
            if child.tag in ("failure", "error"):
                outcome = "failed" if child.tag == "failure" else "error"
                message = child.get("message") or _last_line(child.text or "")
                traceback = trim_traceback(child.text or "")
                break
            if child.tag == "skipped":
                outcome = "skipped"
                message = child.get("message") or (child.text or "").strip()
        try:
            duration = float(case.get("time", "0") or 0)
        except ValueError:
            duration = 0.0
        test_id = f"{classname}::{name}" if classname else name
        cases.append(Case(test_id, name, classname, outcome, duration, message, traceback))
    return cases


def _last_line(text: str) -> str:
    lines = [ln for ln in text.strip().splitlines() if ln.strip()]
    return lines[-1].strip() if lines else ""
