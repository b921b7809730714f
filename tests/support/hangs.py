"""Hang a demo service (SIGSTOP) under a cockpit in tmux and time the suspect line.

Shared by the tmux test (tests/test_terminal_triage.py) and the benchmark
(bench/bench_triage_screen.py), so both measure the same thing the same way.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from support.procs import marked_pids
from support.tmux import Terminal


def service_pid(service: str, marker: str | None = None, below: int | None = None) -> int:
    """The pid of demo service ``service``: among processes carrying the test marker,
    or (``below``) among the descendants of the cockpit process ``below``."""
    if marker is not None:
        candidates = marked_pids(marker)
    else:
        candidates = [int(p.name) for p in Path("/proc").iterdir() if p.name.isdigit()]
    for pid in candidates:
        try:
            argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            if below is not None and not _descends(pid, below):
                continue
        except OSError:
            continue
        if b"stagedeck.demo.serve" in argv and service.encode() in argv:
            return pid
    raise AssertionError(f"no process for {service}")


def _descends(pid: int, ancestor: int) -> bool:
    while pid > 1:
        if pid == ancestor:
            return True
        stat = Path(f"/proc/{pid}/stat").read_text()
        pid = int(stat.rsplit(")", 1)[1].split()[1])
    return False


def row_abnormal(screen: str, service: str) -> bool:
    """The services table shows ``service`` as anything but healthy."""
    for line in screen.splitlines():
        cells = line.strip("│ ").split()
        if cells and cells[0] == service and ("running" in cells or "stopped" in cells):
            return "healthy" not in line or "◐" in line or "✖" in line
    return False


@dataclass(frozen=True)
class Hang:
    service: str
    to_screen: float
    """SIGSTOP → the suspect line names the service (seconds)."""
    from_sign: float
    """First sign of trouble on screen (its row leaves healthy) → the suspect line; 0 when
    the suspect line is itself the first sign (it usually is: the services table looks
    for changes four times a second, the suspect line is drawn on the event)."""
    line: str
    """The suspect line as shown."""


def measure_hang(term: Terminal, pid: int, service: str, timeout: float = 15.0) -> Hang:
    """SIGSTOP ``pid`` and watch the screen until the suspect line names ``service``.

    The caller sends SIGCONT (in a ``finally``). Screens are captured every 20 ms.
    """
    os.kill(pid, signal.SIGSTOP)
    stopped = time.monotonic()
    sign: float | None = None
    wanted = f"likely cause: {service}"
    while time.monotonic() < stopped + timeout:
        screen = term.screen()
        now = time.monotonic()
        if sign is None and (row_abnormal(screen, service) or wanted in screen):
            sign = now
        if wanted in screen:
            line = next(ln for ln in screen.splitlines() if wanted in ln)
            return Hang(service, now - stopped, now - (sign or now), line.strip())
        time.sleep(0.02)
    raise AssertionError(f"no '{wanted}' within {timeout} s; screen:\n{term.screen()}")
