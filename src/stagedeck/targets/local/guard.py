"""One process-wide watchdog for short-lived children: suites, seeds, exec, command probes.

Services have their watchdog in the local target. Everything else we start
(a suite's pytest, a seed script, an exec) ran unguarded: SIGKILL the cockpit
or ``stagedeck run`` mid-suite and the test process ran on, orphaned. So each
such child's process group is registered here, with the same watchdog
program (``watchdog.py``); it kills the registered groups when this process
dies, however it dies. The watchdog starts on first use, so a cockpit that
never runs a suite never pays for it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from typing import IO

_lock = threading.Lock()
_proc: subprocess.Popen[bytes] | None = None
_owner_pid = 0


def _pipe() -> IO[bytes] | None:
    global _proc, _owner_pid
    if _proc is not None and _owner_pid == os.getpid() and _proc.poll() is None:
        return _proc.stdin
    try:
        _proc = subprocess.Popen(
            [sys.executable, "-m", "stagedeck.targets.local.watchdog"],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
            close_fds=True,
        )
    except OSError:
        _proc = None
        return None
    _owner_pid = os.getpid()
    return _proc.stdin


def _tell(line: str) -> None:
    with _lock:
        pipe = _pipe()
        if pipe is None:
            return
        try:
            pipe.write(line.encode() + b"\n")
            pipe.flush()
        except (BrokenPipeError, ValueError, OSError):
            pass


_watched: set[int] = set()


def watch(pgid: int) -> None:
    """Kill process group ``pgid`` if this process dies before :func:`forget`."""
    _tell(f"+{pgid}")
    with _lock:
        _watched.add(pgid)


def forget(pgid: int) -> None:
    """``pgid`` ended (or we ended it): the watchdog need not kill it.

    With nothing left to guard the watchdog is let go (its pipe closed, so it exits
    with nothing to kill): it lives only while a child needs it."""
    global _proc
    with _lock:
        _watched.discard(pgid)
        proc = _proc
        if proc is None or _owner_pid != os.getpid():
            return
        try:
            if proc.stdin is not None:
                proc.stdin.write(f"-{pgid}\n".encode())
                proc.stdin.flush()
                if not _watched:
                    proc.stdin.close()
        except (BrokenPipeError, ValueError, OSError):
            pass
        if not _watched:
            _proc = None  # it exits at EOF; subprocess reaps it (no wait on the event loop)
