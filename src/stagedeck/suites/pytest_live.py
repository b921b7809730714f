"""A pytest plugin that reports progress to stagedeck as it happens.

stagedeck runs ``pytest -p stagedeck.suites.pytest_live`` with ``STAGEDECK_LIVE_FD``
set to the write end of a pipe. The plugin writes one JSON object per line:
the number of tests collected, each test starting, and each test's outcome.
JUnit XML still carries the final results; this only makes "running 12/40,
test_checkout" visible while the suite runs. Without the variable the plugin
does nothing, so a suite behaves the same when run by hand.
"""

from __future__ import annotations

import json
import os
from typing import Any

_fd: int | None = None


def _send(event: dict[str, Any]) -> None:
    global _fd
    if _fd is None:
        return
    try:
        os.write(_fd, (json.dumps(event) + "\n").encode())
    except OSError:
        _fd = None  # stagedeck went away; the suite carries on


def pytest_configure(config: Any) -> None:
    global _fd
    value = os.environ.get("STAGEDECK_LIVE_FD", "")
    _fd = int(value) if value.isdigit() else None


def pytest_collection_finish(session: Any) -> None:
    _send({"event": "collected", "total": len(session.items)})


def pytest_runtest_logstart(nodeid: str, location: Any) -> None:
    _send({"event": "start", "test": nodeid})


def pytest_runtest_logreport(report: Any) -> None:
    # One outcome per test: the call phase, or setup/teardown when they fail or skip.
    if report.when == "call" or (report.when == "setup" and report.outcome != "passed"):
        outcome = report.outcome
        if report.when == "setup" and outcome == "failed":
            outcome = "error"
        _send(
            {
                "event": "result",
                "test": report.nodeid,
                "outcome": outcome,
                "duration": round(float(report.duration), 4),
            }
        )
    elif report.when == "teardown" and report.outcome == "failed":
        _send({"event": "result", "test": report.nodeid, "outcome": "error", "duration": 0})
