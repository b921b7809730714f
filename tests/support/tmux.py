"""Drive the real program in a real terminal: tmux with send-keys and capture-pane.

``pipe-pane`` records every byte the program writes to the terminal, which is
what the benchmarks count and what the escape-safety tests inspect.
"""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
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

    def close(self) -> None:
        self._tmux("kill-server")

    def __enter__(self) -> Terminal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
