"""`stagedeck status` draws a Rich table on a terminal and prints plain columns into a pipe.

The terminal is a real pseudo-terminal (the child's stdout isatty), not a flag."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from support.cli import run_in_pty

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


SUITE = """
import time

def test_one():
    time.sleep(0.2)

def test_two():
    time.sleep(0.2)

def test_three():
    assert 1 + 1 == 3, "POST /api/orders -> 409 {'request_id': 'req-1'}"
"""


def test_run_shows_live_progress_on_a_terminal_and_lines_when_piped(tmp_path: Path) -> None:
    (tmp_path / "test_flow.py").write_text(SUITE, encoding="utf-8")
    (tmp_path / "stagedeck.toml").write_text(
        textwrap.dedent(f"""
        [environment]
        name = "tty-run"

        [services.api]
        command = ["sleep", "60"]
        health = {{ command = ["true"] }}

        [suites.flows]
        command = ["{sys.executable}", "-m", "pytest", "-q", "-p", "no:cacheprovider",
                   "test_flow.py", "--junitxml={{junit}}"]
        cwd = "{tmp_path}"
        """),
        encoding="utf-8",
    )
    argv = [sys.executable, "-m", "stagedeck", "run", "--db", str(tmp_path / "s.db")]
    code, screen = run_in_pty(argv, tmp_path)
    assert code == 1
    assert "flows" in screen and "3/3" in screen and "━" in screen  # the bar, tests counted
    assert "FAILED flows" in screen  # the summary after the bars

    piped = subprocess.run(argv, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert piped.returncode == 1
    assert "━" not in piped.stdout and "\x1b" not in piped.stdout
    assert "flows: failed: 2 passed, 1 failed" in piped.stdout
