"""A tiny guardian process that kills our services if the cockpit dies.

A clean exit or SIGTERM is handled by the cockpit itself. SIGKILL (or an OOM
kill) is not: nothing in the dying process runs. So the cockpit starts this
watchdog with a pipe on its stdin and writes each service's process-group id
to it. When the pipe reaches EOF (which the kernel guarantees when the cockpit
dies, however it dies), the watchdog terminates every group it knows,
waits a grace period, and kills what is left. Process groups, not pids,
so that the services' own children go too.

Protocol on stdin, one line each: ``+PGID`` to watch, ``-PGID`` to forget.
"""

from __future__ import annotations

import os
import signal
import sys
import time

GRACE_SECONDS = 3.0


def _alive(pgid: int) -> bool:
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def terminate_groups(pgids: set[int], grace: float = GRACE_SECONDS) -> None:
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGTERM)
            # A group frozen by a pause fault would hold SIGTERM pending until SIGKILL:
            # wake it so it can stop cleanly.
            os.killpg(pgid, signal.SIGCONT)
        except (ProcessLookupError, PermissionError):
            pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(_alive(p) for p in pgids):
        time.sleep(0.05)
    for pgid in pgids:
        try:
            os.killpg(pgid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def main() -> int:
    # Terminal signals are for the cockpit; we only act when its pipe closes.
    for sig in (signal.SIGINT, signal.SIGHUP, signal.SIGTERM, signal.SIGTSTP):
        signal.signal(sig, signal.SIG_IGN)
    watched: set[int] = set()
    for raw in sys.stdin:
        line = raw.strip()
        if len(line) > 1 and line[1:].isdigit():
            if line[0] == "+":
                watched.add(int(line[1:]))
            elif line[0] == "-":
                watched.discard(int(line[1:]))
    if watched:
        terminate_groups(watched)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
