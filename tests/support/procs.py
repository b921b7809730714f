"""Find processes by an environment marker, to prove none is left behind."""

from __future__ import annotations

import os
import time
import uuid
from pathlib import Path


def new_marker() -> str:
    return f"stagedeck-test-{uuid.uuid4().hex[:12]}"


def marked_pids(marker: str) -> list[int]:
    """PIDs of live processes whose environment contains STAGEDECK_TEST_MARKER=marker."""
    needle = f"STAGEDECK_TEST_MARKER={marker}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes():
                stat = (entry / "stat").read_text()
                if stat.rsplit(")", 1)[1].split()[0] != "Z":  # zombies are already dead
                    found.append(int(entry.name))
        except OSError:
            continue
    return found


def wait_until_gone(marker: str, timeout: float = 10.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pids = marked_pids(marker)
        if not pids:
            return []
        time.sleep(0.1)
    return marked_pids(marker)
