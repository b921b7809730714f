"""What the kernel says about a process: its state letter from /proc (Linux)."""

from __future__ import annotations

from pathlib import Path


def state(pid: int) -> str:
    """'R', 'S', 'T' (stopped), 'Z' (zombie)... or '' when the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return ""
    # The name (field 2) is in parentheses and may hold spaces: the state follows the last ')'.
    return stat.rsplit(")", 1)[1].split()[0]


def frozen(pid: int) -> bool:
    return state(pid) in ("T", "t")


def alive(pid: int) -> bool:
    return state(pid) not in ("", "Z")
