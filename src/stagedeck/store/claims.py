"""Which process a run in progress belongs to, so a dead one's run does not stay "running".

A run is written when it starts and finished when it ends; a cockpit or a
``stagedeck run`` killed in between (SIGKILL, a power cut, an SSH drop the
process did not survive) leaves it open for ever, in every report. Each open
run therefore has a small claim file next to the database
(``<db>.runs/<run id>``) naming its host, process id and that process's start
time. Whoever opens the store next finishes the runs whose process is gone
as ``interrupted``. Claims from other hosts are left alone: we cannot see
their processes.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path


def claims_dir(db_path: Path) -> Path:
    return db_path.parent / f"{db_path.name}.runs"


def _start_time(pid: int) -> str:
    """The process's start time in clock ticks since boot ('' if unknown): tells pid reuse."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return stat.rsplit(")", 1)[-1].split()[19] if ")" in stat else ""


def claim(db_path: Path, run_id: int) -> None:
    """Mark ``run_id`` as this process's (best effort: no claim only means no sweep)."""
    try:
        folder = claims_dir(db_path)
        folder.mkdir(exist_ok=True, mode=0o755)
        pid = os.getpid()
        (folder / str(run_id)).write_text(f"{socket.gethostname()} {pid} {_start_time(pid)}\n")
    except OSError:
        pass


def release(db_path: Path, run_id: int) -> None:
    try:
        (claims_dir(db_path) / str(run_id)).unlink(missing_ok=True)
    except OSError:
        pass


def orphaned(db_path: Path) -> list[int]:
    """Runs claimed on this host by a process that no longer exists."""
    folder = claims_dir(db_path)
    try:
        entries = list(folder.iterdir())
    except OSError:
        return []
    host = socket.gethostname()
    dead: list[int] = []
    for entry in entries:
        if not entry.name.isdigit():
            continue
        try:
            parts = entry.read_text()[:200].split()
        except OSError:
            continue
        if len(parts) < 2 or parts[0] != host or not parts[1].isdigit():
            continue
        pid = int(parts[1])
        started = parts[2] if len(parts) > 2 else ""
        if not _alive(pid, started):
            dead.append(int(entry.name))
    return sorted(dead)


def _alive(pid: int, started: str) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # someone else's process, alive
    now = _start_time(pid)
    if started and now and now != started:
        return False  # the pid was reused by a later process
    if Path(f"/proc/{pid}/status").exists():
        try:
            if "State:\tZ" in Path(f"/proc/{pid}/status").read_text():
                return False
        except OSError:
            pass
    return True
