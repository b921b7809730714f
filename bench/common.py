"""Shared measuring tools: process CPU from /proc, RSS, and the tmux terminal driver."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.tmux import ControlClient, Terminal  # noqa: E402

CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Window:
    """CPU % of one core and bytes per second written to the terminal, over a window."""

    def __init__(self, pid: int, record: Path) -> None:
        self.pid = pid
        self.record = record
        self.t0 = time.monotonic()
        self.cpu0 = cpu_seconds(pid)
        self.bytes0 = record.stat().st_size

    def read(self) -> tuple[float, float, float]:
        elapsed = time.monotonic() - self.t0
        cpu = (cpu_seconds(self.pid) - self.cpu0) / elapsed * 100
        rate = (self.record.stat().st_size - self.bytes0) / elapsed
        return elapsed, cpu, rate


__all__ = ["ROOT", "ControlClient", "Terminal", "Window", "cpu_seconds", "peak_rss_mb", "rss_mb"]
