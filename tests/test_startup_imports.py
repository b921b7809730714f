"""What the cockpit imports before its first frame (issue 14: start instantly).

The Kubernetes SDK alone takes seconds to import; the local and Docker paths must
never pay for it. Checked in the real program, in a real terminal, at the moment
the first frame is written (see ``support/first_frame.py``).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import pytest

from support.tmux import Terminal, have_tmux

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(not have_tmux(), reason="tmux is not installed (Debian package: tmux)"),
]

RUNNER = Path(__file__).parent / "support" / "first_frame.py"
NEVER_BEFORE_FIRST_FRAME = ("kubernetes", "stagedeck.targets.kubernetes")


def modules_at_first_frame(tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.txt"
    with Terminal(
        [sys.executable, str(RUNNER), str(out), "--", *args],
        width=160,
        height=48,
        env={"XDG_CONFIG_HOME": str(tmp_path / "config"), "STAGEDECK_DB": str(tmp_path / "db")},
        cwd=tmp_path,
    ) as term:
        term.wait_for("SERVICE", timeout=30)
        deadline = time.monotonic() + 10
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        term.send("q")
        term.wait_for(lambda s: term.dead(), timeout=30)
    return set(out.read_text().split())


def offending(modules: set[str]) -> list[str]:
    return sorted(
        m
        for m in modules
        for bad in NEVER_BEFORE_FIRST_FRAME
        if m == bad or m.startswith(bad + ".")
    )


def test_demo_first_frame_imports_no_kubernetes(tmp_path: Path) -> None:
    modules = modules_at_first_frame(tmp_path, "demo", "--free-ports")
    assert "stagedeck.tui.app" in modules  # the hook saw the cockpit's frame
    assert offending(modules) == []


def test_docker_first_frame_imports_no_kubernetes(tmp_path: Path) -> None:
    from support.dockerkit import kit

    with kit() as k:
        k.container("api", project=k.prefix)
        modules = modules_at_first_frame(tmp_path, "docker", "--project", k.prefix)
    assert "stagedeck.targets.docker.target" in modules
    assert offending(modules) == []
