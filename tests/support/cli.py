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


def run_in_pty(
    argv: list[str], cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Run ``argv`` with every stream a real pseudo-terminal; (exit code, all it wrote).

    ``env`` defaults to this one at 100x30 with colour allowed (NO_COLOR unset)."""
    import pty

    if env is None:
        env = {**os.environ, "COLUMNS": "100", "LINES": "30", "TERM": "xterm-256color"}
        env.pop("NO_COLOR", None)
    main, child = pty.openpty()
    proc = subprocess.Popen(argv, stdin=child, stdout=child, stderr=child, cwd=cwd, env=env)
    os.close(child)
    chunks = []
    while True:
        try:
            data = os.read(main, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(main)
    return proc.wait(timeout=90), b"".join(chunks).decode("utf-8", "replace")
