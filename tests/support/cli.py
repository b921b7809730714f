"""Run the real ``stagedeck`` command in a subprocess, with its own config, state and db."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from support.procs import new_marker


def run_cli(
    tmp_path: Path, *args: str, raw: bool = False, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """``stagedeck ARGS`` as alice, isolated under ``tmp_path``; ``raw``: stdout/stderr bytes."""
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path / "config"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
        "STAGEDECK_DB": str(tmp_path / "shared.db"),
        "STAGEDECK_TEST_MARKER": new_marker(),
        "USER": "alice",
    }
    return subprocess.run(  # type: ignore[call-overload, no-any-return]
        [sys.executable, "-m", "stagedeck", *args],
        capture_output=True,
        text=not raw,
        env=env,
        timeout=timeout,
        check=False,
        stdin=subprocess.DEVNULL,
    )
