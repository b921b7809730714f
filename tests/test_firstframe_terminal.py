"""The early frame in a real terminal: keys pressed on it work, and the terminal comes back.

The program runs under bash in tmux, which prints the terminal's settings
(``stty -a``) and the exit code after it: what the user's shell gets back.
"""

from __future__ import annotations

import re
import shlex
import sys
import time
from pathlib import Path

import pytest

from support.envproc import isolated_env
from support.tmux import Terminal, have_tmux

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(not have_tmux(), reason="tmux is not installed (Debian package: tmux)"),
]


def shell(tmp_path: Path, *args: str, width: int = 100, height: int = 30) -> Terminal:
    command = shlex.join([sys.executable, "-m", "stagedeck", *args])
    return Terminal(
        ["bash", "--norc", "-c", f"{command}; echo EXIT=$?; stty -a; sleep 120"],
        width=width,
        height=height,
        env={
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "STAGEDECK_DB": str(tmp_path / "shared.db"),
            "USER": "alice",
            **isolated_env(tmp_path),
        },
        record=tmp_path / "terminal.bytes",
        cwd=tmp_path,
    )


def finished(screen: str) -> bool:
    """The program ended and ``stty -a`` has printed all of it (its last flag: extproc)."""
    return "EXIT=" in screen and "extproc" in screen[screen.index("EXIT=") :]


def assert_terminal_restored(screen: str) -> None:
    settings = screen[screen.index("EXIT=") :].split()
    assert "echo" in settings and "icanon" in settings, screen
    assert "-echo" not in settings and "-icanon" not in settings, screen


def test_a_key_pressed_on_the_early_frame_reaches_the_cockpit(tmp_path: Path) -> None:
    with shell(tmp_path, "demo", "--free-ports") as term:
        term.wait_for("loading the cockpit", timeout=10, interval=0.005)
        term.send("?")  # before the cockpit exists: kept, not echoed
        screen = term.wait_for(lambda s: "app.quit" in s, timeout=20)
        assert "loading the cockpit" not in screen
        term.send("Escape")
        term.wait_for(lambda s: "app.quit" not in s and "q Quit" in s, timeout=10)
        term.send("q")
        screen = term.wait_for(finished, timeout=30)
        assert "EXIT=0" in screen
        assert_terminal_restored(screen)
        # The shell's screen holds neither the echoed key nor a piece of the frame.
        before_exit = screen[: screen.index("EXIT=")]
        assert "?" not in before_exit and "services" not in before_exit, screen
    drawn = (tmp_path / "terminal.bytes").read_bytes()
    # One switch to the alternate screen (the early frame's): the cockpit's driver did
    # not clear the frame by switching again.
    assert drawn.count(b"\x1b[?1049h") == 1
    assert drawn.index(b"loading the cockpit") < drawn.index(b"Quit")


def test_a_recipe_that_fails_after_the_frame_is_explained_on_the_shells_screen(
    tmp_path: Path,
) -> None:
    recipe = tmp_path / "bad.toml"
    recipe.write_text('[environment]\nname = "bad"\n\n[services.api]\ncommand = ["true"]\n'
                      'depends_on = ["ghost"]\n')  # fmt: skip
    with shell(tmp_path, "open", recipe.name, width=160) as term:
        screen = term.wait_for(finished, timeout=30)
        assert "EXIT=2" in screen
        assert "bad.toml:6" in screen and "unknown service 'ghost'" in screen, screen
        assert "loading the cockpit" not in screen
        assert_terminal_restored(screen)
    drawn = (tmp_path / "terminal.bytes").read_bytes()
    assert b"loading the cockpit" in drawn  # the frame was up, and went before the message
    assert drawn.index(b"\x1b[?1049l") < drawn.index(b"unknown service")


def test_the_docker_frame_follows_logs_and_stops_before_the_cockpit_draws(tmp_path: Path) -> None:
    """The early frame's log box moves (a thread redraws it) until the cockpit's driver
    starts; not one redraw may land after that, or it would scribble over the cockpit."""
    from support.dockerkit import kit

    chatty = 'i=0; while true; do i=$((i+1)); echo "$NAME rid=r$i {\\"n\\":$i}"; sleep 0.05; done'
    with kit() as k:
        for name in ("api", "db", "worker"):
            k.container(name, project=k.prefix, script=chatty)
        term = shell(tmp_path, "docker", "--project", k.prefix, width=120, height=30)
        with term:
            term.wait_for("q Quit", timeout=30, interval=0.01)
            time.sleep(1.0)
            term.send("q")
            screen = term.wait_for(finished, timeout=30)
            assert "EXIT=0" in screen
            assert_terminal_restored(screen)
    drawn = (tmp_path / "terminal.bytes").read_bytes()
    assert b"loading the cockpit" in drawn
    cockpit_starts = drawn.index(b"\x1b[?1000h")  # Textual's driver: mouse reporting on
    # The early frame's log rows: positioned at column 1, a box side, then the dim time.
    early_rows = re.compile(rb"\x1b\[\d+;1H\xe2\x94\x82\x1b\[2m\d\d:\d\d:\d\d")
    assert early_rows.search(drawn[:cockpit_starts])
    assert not early_rows.search(drawn[cockpit_starts:])


def test_a_lone_escape_and_q_act_at_once_with_the_quiet_input_thread(tmp_path: Path) -> None:
    """The input thread waits without a timeout when idle (tui/quiet_input.py): a lone
    Escape must still be told from the start of a key sequence by the parser's deadline,
    and quitting must wake the thread instead of waiting for a poll."""
    with shell(tmp_path, "demo", "--free-ports") as term:
        term.wait_for("q Quit", timeout=30)
        time.sleep(1.0)  # idle: the thread is asleep in its wait
        for _ in range(3):
            term.send("?")
            term.wait_for("app.quit", timeout=10)
            pressed = time.monotonic()
            term.send("Escape")
            term.wait_for(lambda s: "app.quit" not in s, timeout=10, interval=0.01)
            assert time.monotonic() - pressed < 1.0
            time.sleep(0.5)
        pressed = time.monotonic()
        term.send("q")
        screen = term.wait_for(finished, timeout=30, interval=0.02)
        assert "EXIT=0" in screen
        assert time.monotonic() - pressed < 5.0
