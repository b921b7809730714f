"""Drive the real program in a real terminal: tmux with send-keys and capture-pane.

``pipe-pane`` records every byte the program writes to the terminal, which is
what the benchmarks count and what the escape-safety tests inspect.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from pathlib import Path


def have_tmux() -> bool:
    return shutil.which("tmux") is not None


class Terminal:
    def __init__(
        self,
        command: list[str],
        *,
        width: int = 120,
        height: int = 40,
        env: Mapping[str, str] | None = None,
        record: Path | None = None,
        cwd: Path | None = None,
    ) -> None:
        self.name = f"sd-{uuid.uuid4().hex[:8]}"
        self.socket = f"stagedeck-test-{self.name}"
        self.record = record
        # The extra environment is for the program only (exported in the pane's shell),
        # not for the tmux server, which must not look like one of the program's processes.
        server_env = {**os.environ, "TERM": "xterm-256color"}
        server_env.pop("TMUX", None)
        self._env = server_env
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in (env or {}).items())
        shell_cmd = f"{'export ' + exports + '; ' if exports else ''}exec {shlex.join(command)}"
        self._tmux(
            "new-session",
            "-d",
            "-s",
            self.name,
            "-x",
            str(width),
            "-y",
            str(height),
            *(["-c", str(cwd)] if cwd else []),
            shell_cmd,
        )
        self._tmux("set-option", "-t", self.name, "remain-on-exit", "on")
        if record is not None:
            record.write_bytes(b"")
            self._tmux("pipe-pane", "-t", self.name, "-o", f"cat >> {shlex.quote(str(record))}")
        self.started = time.monotonic()

    def _tmux(self, *args: str) -> str:
        result = subprocess.run(
            ["tmux", "-L", self.socket, *args],
            capture_output=True,
            text=True,
            env=self._env,
            check=False,
        )
        return result.stdout

    @property
    def pid(self) -> int:
        return int(self._tmux("display-message", "-p", "-t", self.name, "#{pane_pid}").strip())

    def dead(self) -> bool:
        return self._tmux("display-message", "-p", "-t", self.name, "#{pane_dead}").strip() == "1"

    def screen(self) -> str:
        return self._tmux("capture-pane", "-p", "-t", self.name)

    def send(self, *keys: str) -> None:
        self._tmux("send-keys", "-t", self.name, *keys)

    def resize(self, width: int, height: int) -> None:
        self._tmux("resize-window", "-t", self.name, "-x", str(width), "-y", str(height))

    def wait_for(
        self, predicate: Callable[[str], bool] | str, timeout: float = 20.0, interval: float = 0.05
    ) -> str:
        check = (lambda s: predicate in s) if isinstance(predicate, str) else predicate
        deadline = time.monotonic() + timeout
        screen = ""
        while time.monotonic() < deadline:
            screen = self.screen()
            if check(screen):
                return screen
            time.sleep(interval)
        raise AssertionError(f"timed out after {timeout}s waiting; screen was:\n{screen}")

    def control(self) -> ControlClient:
        """A control-mode client of this terminal, for timing key presses precisely."""
        return ControlClient(self)

    def close(self) -> None:
        self._tmux("kill-server")

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


_OCTAL = re.compile(rb"\\([0-7]{3})")


class ControlClient:
    """A tmux control-mode client (``tmux -C attach``) of a :class:`Terminal`.

    ``send-keys`` through ``subprocess`` costs a process start (5-10 ms, more on a
    busy machine) and ``capture-pane`` polling another per look, which swamped
    the key-press latency being measured. A control client takes commands on its
    stdin and reports every byte the program writes as it happens, so a key press
    is timed from the write of the command to the arrival of the frame's bytes.
    The client has no size of its own: the window keeps the terminal's size.
    """

    def __init__(self, terminal: Terminal) -> None:
        self.terminal = terminal
        self._proc = subprocess.Popen(
            ["tmux", "-L", terminal.socket, "-C", "attach", "-t", terminal.name],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=terminal._env,
            bufsize=0,
        )
        self._output: list[tuple[float, bytes]] = []
        self._lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if line.startswith(b"%output "):
                payload = line.split(b" ", 2)[2].rstrip(b"\n")
                data = _OCTAL.sub(lambda m: bytes([int(m.group(1), 8)]), payload)
                with self._lock:
                    self._output.append((time.monotonic(), data))

    def send(self, *keys: str) -> float:
        """Press ``keys``; return the moment the command was written."""
        assert self._proc.stdin is not None
        command = (
            "send-keys -t " + self.terminal.name + " " + " ".join(shlex.quote(k) for k in keys)
        )
        moment = time.monotonic()
        self._proc.stdin.write(command.encode() + b"\n")
        return moment

    def wait_output(self, text: str, since: float, timeout: float = 10.0) -> float:
        """When output containing ``text`` (written after ``since``) arrived."""
        needle = text.encode()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                chunks = [(t, d) for t, d in self._output if t >= since]
            seen = b""
            for moment, data in chunks:
                seen += data
                if needle in seen:
                    return moment
            time.sleep(0.001)
        raise AssertionError(f"no {text!r} in the output within {timeout}s")

    def close(self) -> None:
        if self._proc.stdin is not None:
            self._proc.stdin.close()
        try:
            self._proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._proc.kill()
