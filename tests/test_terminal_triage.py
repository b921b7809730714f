"""The real demo in a real terminal: one service hangs (SIGSTOP), the cockpit names it.

Measures, per hang, the time from the SIGSTOP to the suspect line naming the
service on screen, and from the first sign of it in the services table
(the first timed-out check marks it degraded: the fault is observable) to the
suspect line. Prints the figures (``pytest -s`` shows them).
"""

from __future__ import annotations

import os
import signal
import statistics
import time
from pathlib import Path

import pytest

from support.procs import marked_pids, new_marker, wait_until_gone
from support.tmux import Terminal, have_tmux
from test_terminal import all_healthy, cockpit

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(not have_tmux(), reason="tmux is not installed (Debian package: tmux)"),
]

HANGS = ("payments", "inventory", "ledger") * 2
"""Services with no dependencies, twice each: six samples of the time to the screen."""


def service_pid(marker: str, service: str) -> int:
    for pid in marked_pids(marker):
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if b"stagedeck.demo.serve" in argv and service.encode() in argv:
            return pid
    raise AssertionError(f"no process for {service}")


def row_abnormal(screen: str, service: str) -> bool:
    """The services table shows ``service`` as anything but healthy."""
    for line in screen.splitlines():
        if f"│ {service} " in line or line.lstrip("│ ").startswith(service + " "):
            return "● healthy" not in line
    return False


def measure_hang(term: Terminal, pid: int, service: str) -> tuple[float, float, str]:
    """SIGSTOP ``pid``; (seconds to the suspect line, seconds from observable, screen)."""
    os.kill(pid, signal.SIGSTOP)
    stopped = time.monotonic()
    observable: float | None = None
    wanted = f"likely cause: {service}"
    deadline = stopped + 15
    while time.monotonic() < deadline:
        screen = term.screen()
        now = time.monotonic()
        if observable is None and (row_abnormal(screen, service) or wanted in screen):
            observable = now
        if wanted in screen:
            return now - stopped, now - (observable or now), screen
        time.sleep(0.02)
    raise AssertionError(f"no '{wanted}' within 15 s; screen:\n{term.screen()}")


def test_a_hung_service_is_named_and_explained(tmp_path: Path) -> None:
    marker = new_marker()
    to_screen: list[float] = []
    from_observable: list[float] = []
    with cockpit(tmp_path, marker, "demo", "--free-ports", width=120, height=40) as term:
        term.wait_for(all_healthy, timeout=30)
        for round_, service in enumerate(HANGS):
            pid = service_pid(marker, service)
            try:
                seconds, after, screen = measure_hang(term, pid, service)
                to_screen.append(seconds)
                from_observable.append(after)
                line = next(ln for ln in screen.splitlines() if "likely cause" in ln)
                assert "hung" in line or "not answering" in line or "timed out" in line, line
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
    print(
        "\nSIGSTOP -> suspect on screen: "
        + ", ".join(f"{s:.2f}s" for s in to_screen)
        + f" (median {statistics.median(to_screen):.2f}s); "
        + "first sign in the table -> suspect: "
        + ", ".join(f"{s:.2f}s" for s in from_observable)
        + f" (median {statistics.median(from_observable):.2f}s)"
    )
    assert statistics.median(from_observable) <= 2.0
