"""`stagedeck status` draws a Rich table on a terminal and prints plain columns into a pipe.

The terminal is a real pseudo-terminal (the child's stdout isatty), not a flag."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
import textwrap
from pathlib import Path

RECIPE = textwrap.dedent("""
    [environment]
    name = "tty-shop"

    [services.api]
    command = ["sleep", "60"]
    health = { command = ["true"] }

    [services."db[red]"]
    command = ["sleep", "60"]
    health = { command = ["false"] }
""")


def write(tmp_path: Path) -> Path:
    path = tmp_path / "stagedeck.toml"
    path.write_text(RECIPE, encoding="utf-8")
    return path


def run_in_pty(argv: list[str], cwd: Path) -> tuple[int, str]:
    main, child = pty.openpty()
    env = {**os.environ, "COLUMNS": "100", "LINES": "30", "TERM": "xterm-256color"}
    env.pop("NO_COLOR", None)
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
    return proc.wait(timeout=60), b"".join(chunks).decode("utf-8", "replace")


def test_status_on_a_terminal_is_a_table_and_piped_is_plain(tmp_path: Path) -> None:
    write(tmp_path)
    argv = [sys.executable, "-m", "stagedeck", "status"]
    code, screen = run_in_pty(argv, tmp_path)
    assert code == 1  # one service is down
    assert "┃" in screen or "│" in screen  # the table's rules
    assert "\x1b[" in screen  # colour on a terminal
    assert "db[red]" in screen  # a name that looks like markup prints as written

    piped = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert piped.returncode == 1
    lines = piped.stdout.splitlines()
    assert lines[0].split() == ["SERVICE", "HEALTH", "LATENCY", "DETAIL"]
    assert "\x1b" not in piped.stdout and "│" not in piped.stdout
    rows = {line.split()[0]: line.split()[1] for line in lines[1:]}
    assert rows == {"api": "healthy", "db[red]": "down"}
