"""The real demo in a real terminal: one service hangs (SIGSTOP), the cockpit names it.

Per hang it measures the time from the SIGSTOP to the suspect line naming the
service on screen, and from the first sign of it in the services table (its row
leaves "healthy": the fault is observable) to the suspect line; ``pytest -s``
prints them. bench/bench_triage_screen.py takes more samples for RESULTS.md.
"""

from __future__ import annotations

import os
import signal
import statistics
from pathlib import Path

import pytest

from support.hangs import measure_hang, service_pid
from support.procs import new_marker, wait_until_gone
from support.tmux import have_tmux
from test_terminal import all_healthy, cockpit

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(not have_tmux(), reason="tmux is not installed (Debian package: tmux)"),
]

HANGS = ("payments", "inventory", "ledger") * 2
"""Services with no dependencies, twice each: six samples of the time to the screen."""


def test_a_hung_service_is_named_and_explained(tmp_path: Path) -> None:
    marker = new_marker()
    hangs = []
    with cockpit(tmp_path, marker, "demo", "--free-ports", width=120, height=40) as term:
        term.wait_for(all_healthy, timeout=30)
        for round_, service in enumerate(HANGS):
            pid = service_pid(service, marker=marker)
            try:
                hang = measure_hang(term, pid, service)
                hangs.append(hang)
                assert "hung" in hang.line, hang.line
                if round_ == 0:
                    # w opens the explain view: ranked, the hung service first, with evidence.
                    term.send("w")
                    explain = term.wait_for("the environment now", timeout=5)
                    assert f"1. ◆ {service}" in explain, explain
                    assert "timed out" in explain, explain
                    term.send("Escape")
                    term.wait_for(lambda s: "the environment now" not in s, timeout=5)
            finally:
                os.kill(pid, signal.SIGCONT)
            # The fault clears: the line goes away.
            term.wait_for(lambda s: "likely cause" not in s and all_healthy(s), timeout=40)
        term.send("q")
    assert wait_until_gone(marker) == []
    to_screen = [h.to_screen for h in hangs]
    from_sign = [h.from_sign for h in hangs]
    print(
        "\nSIGSTOP -> suspect on screen: "
        + ", ".join(f"{s:.2f}s" for s in to_screen)
        + f" (median {statistics.median(to_screen):.2f}s); first sign in the table -> "
        + f"suspect: median {statistics.median(from_sign):.2f}s, max {max(from_sign):.2f}s"
    )
    # The cockpit's own share: once the fault shows anywhere, the suspect line is there.
    assert statistics.median(from_sign) <= 2.0
