"""The real program in a real terminal (tmux): what users see and what reaches their terminal."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from support.envproc import isolated_env
from support.procs import marked_pids, new_marker, wait_until_gone
from support.tmux import Terminal, have_tmux

pytestmark = [
    pytest.mark.tmux,
    pytest.mark.skipif(not have_tmux(), reason="tmux is not installed (Debian package: tmux)"),
]

HERE = Path(__file__).parent


def cockpit(
    tmp_path: Path,
    marker: str,
    *args: str,
    width: int = 120,
    height: int = 40,
    record: bool = False,
    grace: float | None = 1.0,
) -> Terminal:
    return Terminal(
        [sys.executable, "-m", "stagedeck", *args],
        width=width,
        height=height,
        env={
            "STAGEDECK_TEST_MARKER": marker,
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "STAGEDECK_DB": str(tmp_path / "shared.db"),
            "USER": "alice",
            **isolated_env(tmp_path, grace=grace),
        },
        record=tmp_path / "terminal.bytes" if record else None,
        cwd=tmp_path,
    )


def all_healthy(screen: str) -> bool:
    return screen.count("● healthy") >= 6 and "6/6 healthy" in screen


def test_demo_comes_up_healthy_and_q_leaves_nothing(tmp_path: Path) -> None:
    """One command for a new user; their `q` leaves nothing behind once the demo's
    environment process has waited its (default) grace period for a returning viewer."""
    marker = new_marker()
    with cockpit(tmp_path, marker, "demo", "--free-ports", grace=None) as term:
        screen = term.wait_for(all_healthy, timeout=30)
        for name in ("ledger", "inventory", "payments", "orders", "gateway", "worker"):
            assert name in screen
        # The cockpit, the environment process, its watchdog and six services.
        assert len(marked_pids(marker)) >= 9
        term.send("q")
        term.wait_for(lambda s: "healthy" not in s, timeout=15)
        assert wait_until_gone(marker, timeout=20) == []


@pytest.mark.parametrize("size", [(80, 24), (200, 60)])
def test_layout_fits_small_and_large_terminals(tmp_path: Path, size: tuple[int, int]) -> None:
    marker = new_marker()
    width, height = size
    with cockpit(tmp_path, marker, "demo", "--free-ports", width=width, height=height) as term:
        screen = term.wait_for(all_healthy, timeout=30)
        lines = screen.splitlines()
        assert len(lines) <= height
        assert all(len(line) <= width for line in lines)
        # Services and logs are both on screen; the footer shows the keys.
        assert "services" in lines[0] and any("logs" in line for line in lines)
        assert "Quit" in lines[-1]
        # Other views are one key away.
        term.send("2")
        term.wait_for("logs · all services", timeout=5)
        term.send("5")
        term.wait_for("SUITE", timeout=5)
        term.send("1")
        term.wait_for(all_healthy, timeout=5)
        term.send("q")
    assert wait_until_gone(marker) == []


def test_hostile_log_lines_neither_style_nor_control_the_terminal(tmp_path: Path) -> None:
    marker = new_marker()
    recipe = tmp_path / "evil.toml"
    recipe.write_text(
        textwrap.dedent(f"""
        [environment]
        name = "evil"

        [services.evil]
        command = ["{{python}}", "{HERE / "support" / "evil.py"}", "{{self.port}}"]
        port = "auto"
        health = "/"
        """)
    )
    with cockpit(tmp_path, marker, "open", str(recipe), width=160, height=30, record=True) as term:
        screen = term.wait_for(lambda s: "after-c1" in s and "1/1 healthy" in s, timeout=20)
        time.sleep(0.5)
        raw = (tmp_path / "terminal.bytes").read_bytes()
        title = term._tmux("display-message", "-p", "-t", term.name, "#{pane_title}")
        term.send("q")
    # Markup is shown as the text it is.
    assert "[bold red]MARKUP-NOT-BOLD[/]" in screen
    # Escape sequences never reach the terminal: no title, clipboard, hyperlink or DCS from the service.
    assert b"EVILTITLE" not in raw and "EVILTITLE" not in title
    assert b"\x1b]52" not in raw and b"ZXZpbC1jbGlwYm9hcmQ" not in raw
    assert b"evil.example" not in raw
    assert b"\x1bP1$q" not in raw
    # Textual's own OSC 22 (pointer shape) ends in BEL; nothing else may ring or send C1 CSI.
    own = re.sub(rb"\x1b\]22;[a-z-]*\x07", b"", raw)
    assert b"\x07" not in own and b"\x9b" not in own
    # The cursor-moving line stayed on its own row, as text.
    assert "cursorMOVED" in screen
    assert "RED-TEXT plain after" in screen
    assert wait_until_gone(marker) == []


def test_redeploy_from_the_cockpit_with_confirmation(tmp_path: Path) -> None:
    marker = new_marker()
    with cockpit(tmp_path, marker, "demo", "--free-ports") as term:
        term.wait_for(all_healthy, timeout=30)
        term.send("j", "j")  # payments
        term.send("r")
        term.wait_for("Redeploy payments?", timeout=5)
        term.send("y")
        # It goes down (restarting/stopping/starting) and comes back healthy, restarted once.
        term.wait_for(
            lambda s: any(
                "payments" in ln and ("starting" in ln or "stopping" in ln or "restarting" in ln)
                for ln in s.splitlines()
            ),
            timeout=10,
            interval=0.01,
        )
        # The outcome is announced, and the table shows it healthy again, restarted once.
        term.wait_for("redeploy payments: payments healthy", timeout=20)
        term.wait_for(
            lambda s: (
                any("payments" in ln and "● healthy" in ln and " 1 " in ln for ln in s.splitlines())
                and "6/6 healthy" in s
            ),
            timeout=20,
        )
        term.send("q")
    assert wait_until_gone(marker) == []


def test_failing_suite_annotated_then_annotation_resurfaces(tmp_path: Path) -> None:
    marker = new_marker()
    with cockpit(tmp_path, marker, "demo", "--free-ports", "--no-seed") as term:
        term.wait_for(all_healthy, timeout=30)
        term.send("5")
        term.wait_for("SUITE", timeout=5)
        term.send("t")  # api, against unseeded data (--no-seed): some tests fail
        term.wait_for(lambda s: "failed:" in s and "failures · run 1" in s, timeout=60)
        term.send("a")
        term.wait_for("What do you know about this failure?", timeout=5)
        term.send("-l", "fixtures not loaded: press s first")
        term.send("Enter")
        term.wait_for("annotation saved", timeout=10)
        term.send("t")
        # All of it on one screen: a capture can catch a frame half drawn, and the run's
        # notifications (bottom right, 8 s) can cover the end of the note for a while.
        screen = term.wait_for(
            lambda s: (
                "failures · run 2" in s
                and "seen 2 times" in s
                and "alice [flaky]" in s
                and "fixtures not loaded: press s first" in s
            ),
            timeout=60,
        )
        assert "alice [flaky]" in screen and "fixtures not loaded: press s first" in screen
        term.send("q")
    assert wait_until_gone(marker) == []


@pytest.mark.parametrize("how", ["q then terminal closed", "terminal vanishes"])
def test_nothing_lingers_when_the_terminal_goes_away(tmp_path: Path, how: str) -> None:
    """An SSH drop sends SIGHUP and SIGCONT: the cockpit must stop, services too, no spinning."""
    marker = new_marker()
    term = cockpit(tmp_path, marker, "demo", "--free-ports", width=160, height=48)
    try:
        term.wait_for(all_healthy, timeout=30)
        if how.startswith("q"):
            term.send("q")
            term.wait_for(lambda s: "SERVICE" not in s, timeout=15)
    finally:
        term.close()
    assert wait_until_gone(marker, timeout=15) == []


def test_a_stray_sigcont_does_not_restart_the_terminal_threads(tmp_path: Path) -> None:
    """A SIGCONT we did not ask for (a vanishing terminal sends one with SIGHUP) used to
    make Textual start a second input and output thread; shutdown could then block for
    good on the second. Now it is ignored: same threads, keys answered, clean quit."""
    marker = new_marker()
    with cockpit(tmp_path, marker, "demo", "--free-ports", width=120, height=40) as term:
        term.wait_for(all_healthy, timeout=30)
        pid = term.pid
        time.sleep(1.0)
        threads = len(os.listdir(f"/proc/{pid}/task"))
        os.kill(pid, signal.SIGCONT)
        os.kill(pid, signal.SIGCONT)
        time.sleep(0.5)
        assert len(os.listdir(f"/proc/{pid}/task")) <= threads
        term.send("?")
        term.wait_for("app.quit", timeout=10)
        term.send("Escape")
        term.send("q")
        term.wait_for(lambda s: "SERVICE" not in s, timeout=15)
    assert wait_until_gone(marker) == []


def test_no_color_is_honoured(tmp_path: Path) -> None:
    marker = new_marker()
    term = Terminal(
        [sys.executable, "-m", "stagedeck", "demo", "--free-ports"],
        width=120,
        height=40,
        env={
            "STAGEDECK_TEST_MARKER": marker,
            "NO_COLOR": "1",
            "XDG_CONFIG_HOME": str(tmp_path),
            "STAGEDECK_DB": str(tmp_path / "db"),
        },
        record=tmp_path / "bytes",
    )
    try:
        term.wait_for(all_healthy, timeout=30)
        raw = (tmp_path / "bytes").read_bytes()
        term.send("q")
    finally:
        term.close()
    # Textual honours NO_COLOR by drawing in greys: no hue anywhere, so meaning rests on the
    # symbols and words (● healthy, ✖ down, E/W marks), never on colour.
    indexed = [int(n) for n in re.findall(rb"\x1b\[[0-9;]*?[34]8;5;(\d+)", raw)]
    assert indexed, "expected Textual's greyscale output"
    greys = {0, 7, 8, 15, 16, 231, *range(232, 256)}
    assert set(indexed) <= greys, sorted(set(indexed) - greys)
    for r, g, b in re.findall(rb"[34]8;2;(\d+);(\d+);(\d+)", raw):
        assert r == g == b
    assert wait_until_gone(marker) == []


def _docker_engine() -> bool:
    try:
        import docker

        docker.from_env().ping()
    except Exception:
        return False
    return True


@pytest.mark.docker
@pytest.mark.skipif(
    not _docker_engine(),
    reason="no Docker engine (Debian package docker.io; tests/run.sh starts it)",
)
def test_demo_on_docker_healthy_and_redeployed_from_the_cockpit(tmp_path: Path) -> None:
    import docker

    marker = new_marker()
    with cockpit(tmp_path, marker, "demo", "--target", "docker", width=140, height=40) as term:
        term.wait_for(all_healthy, timeout=120)
        term.send("j")
        term.send("r")
        term.wait_for("Redeploy inventory?", timeout=10)
        term.send("y")
        term.wait_for("redeploy inventory: inventory healthy", timeout=60)

        def inventory_back(screen: str) -> bool:
            rows = [ln.split() for ln in screen.splitlines() if "│ inventory" in ln]
            # SERVICE STATE ● HEALTH P95 ms [TREND] RESTARTS ...: healthy again, restarted once.
            return bool(rows) and "healthy" in rows[0] and "1" in rows[0][5:]

        term.wait_for(inventory_back, timeout=30)
        term.send("q")
        term.wait_for(lambda s: term.dead(), timeout=60)  # the stack is removed before exit
    # Every demo stack's containers carry a compose project named stagedeck-demo-*.
    client = docker.from_env()

    def leftovers() -> list[str]:
        return [
            c.name
            for c in client.containers.list(
                all=True, filters={"label": "com.docker.compose.project"}
            )
            if c.labels.get("com.docker.compose.project", "").startswith("stagedeck-demo-")
        ]

    for _ in range(60):
        if not leftovers():
            break
        time.sleep(0.5)
    assert leftovers() == []


def test_an_orphaned_cockpit_with_a_stuck_main_thread_still_ends(tmp_path: Path) -> None:
    """The last resort when the terminal goes away mid-shutdown and Textual's main thread
    blocks for good (seen in CI): the guard thread ends the process by itself."""
    pid_file = tmp_path / "pid"
    child = f"""
import asyncio, os, time
from stagedeck.tui.lifecycle import guard_orphaned_shutdown
async def main():
    guard_orphaned_shutdown(os.getppid(), asyncio.get_running_loop(), lambda: None)
    await asyncio.sleep(0.3)
    open({str(pid_file)!r}, "w").write(str(os.getpid()))
    time.sleep(60)  # the event loop never runs again
asyncio.run(main())
"""
    # The middle process starts the child and exits at once, orphaning it.
    middle = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(5)"
    subprocess.run([sys.executable, "-c", middle], check=True)
    orphaned = time.monotonic()
    assert pid_file.exists(), "the child did not start within 5 s"
    pid = int(pid_file.read_text())
    while Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text():
        assert time.monotonic() - orphaned < 8, "the guard did not end the stuck process"
        time.sleep(0.1)


def test_demo_starts_seeded_and_the_first_suite_run_passes(tmp_path: Path) -> None:
    """A new user's first minute: T right after `stagedeck demo` must not fail on missing data."""
    marker = new_marker()
    with cockpit(tmp_path, marker, "demo", "--free-ports") as term:
        term.wait_for(lambda s: "healthy" in s, timeout=30)
        term.send("5")
        term.wait_for("SUITE", timeout=5)
        term.send("t")  # at once: the run waits for the test data instead of failing
        row = re.compile(r"│ api\s+(passed|failed)\b")
        screen = term.wait_for(lambda s: row.search(s) is not None, timeout=90)
        match = row.search(screen)
        assert match is not None and match.group(1) == "passed", screen
        assert "unknown SKU" not in screen and "verify failed" not in screen, screen
        term.send("q")
    assert wait_until_gone(marker) == []


def test_a_suite_s_traces_and_a_waterfall_in_the_real_terminal_at_80x24(tmp_path: Path) -> None:
    marker = new_marker()
    with cockpit(
        tmp_path, marker, "demo", "--free-ports", "--no-seed", width=80, height=24
    ) as term:
        term.wait_for(lambda s: "6/6 healthy" in s, timeout=30)
        term.send("5")
        term.wait_for("SUITE", timeout=5)
        term.send("t")  # api: each test is one trace, whether it passes or fails
        term.wait_for(lambda s: "failures · run 1" in s, timeout=60)
        term.send("7")
        term.wait_for("traces · all", timeout=10)
        # Health and latency probes keep tracing while the suite runs; on a slow run they
        # push its traces off the first screen, so ask for them as a user would.
        term.send("f")
        term.wait_for("enter to apply", timeout=5)
        term.send("-l", "test:test_")
        term.send("Enter")
        screen = term.wait_for(
            lambda s: "traces · test:test_" in s and "suite:api test test_" in s, timeout=10
        )
        assert "GET /health" not in screen
        term.send("Enter")
        # the newest trace's waterfall, with its timings and the critical path marked
        screen = term.wait_for(lambda s: "TIMELINE" in s and "took the time:" in s, timeout=10)
        assert "trace " in screen and "gateway" in screen and "┃" in screen
        term.send("Escape")
        term.wait_for(lambda s: "traces · test:test_" in s and "TIMELINE" not in s, timeout=5)
        term.send("Escape")  # the filter goes first, then the view
        term.wait_for(lambda s: "traces · all" in s, timeout=5)
        term.send("q")
    assert wait_until_gone(marker) == []
