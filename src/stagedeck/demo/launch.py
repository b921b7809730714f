"""Start the demo services as local processes, without the cockpit.

Used by the tests, and by hand: ``python -m stagedeck.demo.launch [--seed]``
runs all six in dependency order (each layer healthy before the next
starts), prints where the gateway is, and stops them all on Ctrl-C/SIGTERM.

Each service gets its own session (process group), so stopping it reaches
anything it started; :meth:`Demo.stop` always ends with SIGKILL for whatever
did not leave on SIGTERM, so no process outlives a :class:`Demo`.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import IO

from stagedeck.demo.services import DEFAULT_PORTS, GRAPH, NAMES, layers, url_variable

_OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def healthy(url: str, timeout: float = 0.5) -> bool:
    try:
        with _OPENER.open(url + "/health", timeout=timeout) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, OSError):
        return False


@dataclass
class Running:
    name: str
    url: str
    proc: subprocess.Popen[bytes]
    log_path: Path | None = None
    _log_file: IO[bytes] | None = field(default=None, repr=False)

    def log(self) -> str:
        """Everything the service printed so far (when started with a ``log_dir``)."""
        if self.log_path is None or not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")


class Demo:
    """Some or all demo services, on free ports or the demo's own."""

    def __init__(
        self,
        names: Sequence[str] = NAMES,
        *,
        host: str = "127.0.0.1",
        free_ports: bool = True,
        env: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
    ) -> None:
        unknown = set(names) - set(GRAPH)
        if unknown:
            raise ValueError(f"unknown demo service(s): {', '.join(sorted(unknown))}")
        self.names = [n for n in NAMES if n in names]
        self.host = host
        self.env = dict(env or {})
        self.log_dir = log_dir
        self.ports = {n: free_port(host) if free_ports else DEFAULT_PORTS[n] for n in self.names}
        self.running: dict[str, Running] = {}

    def url(self, name: str) -> str:
        return f"http://{self.host}:{self.ports[name]}"

    def __getitem__(self, name: str) -> Running:
        return self.running[name]

    def command(self, name: str) -> list[str]:
        return [sys.executable, "-m", "stagedeck.demo.serve", name, "--port", str(self.ports[name])]

    def service_env(self, name: str) -> dict[str, str]:
        env = {**os.environ, "PYTHONUNBUFFERED": "1", **self.env}
        for dep in GRAPH[name]:
            if dep in self.ports:
                env[url_variable(dep)] = self.url(dep)
        return env

    def start(self, timeout: float = 10.0) -> Demo:
        """Start layer by layer; each layer must be healthy before the next starts."""
        try:
            for layer in layers(self.names):
                for name in layer:
                    self.start_one(name)
                for name in layer:
                    self.wait_healthy(name, timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def start_one(self, name: str) -> Running:
        log_file: IO[bytes] | None = None
        log_path = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            log_path = self.log_dir / f"{name}.log"
            log_file = log_path.open("ab")
        proc = subprocess.Popen(
            self.command(name),
            env=self.service_env(name),
            stdout=log_file,
            stderr=subprocess.STDOUT if log_file else None,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        running = Running(name, self.url(name), proc, log_path, log_file)
        self.running[name] = running
        return running

    def wait_healthy(self, name: str, timeout: float = 10.0) -> None:
        running = self.running[name]
        deadline = time.monotonic() + timeout
        while not healthy(running.url):
            code = running.proc.poll()
            if code is not None:
                tail = "\n".join(running.log().splitlines()[-10:])
                raise RuntimeError(f"{name} exited with {code} before it was healthy\n{tail}")
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} was not healthy at {running.url} after {timeout:g}s")
            time.sleep(0.02)

    def stop_one(self, name: str, grace: float = 2.0) -> int | None:
        """SIGTERM the service's process group, SIGKILL it after ``grace`` seconds."""
        running = self.running.pop(name, None)
        if running is None:
            return None
        proc = running.proc
        _signal_group(proc.pid, signal.SIGTERM)
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(proc.pid, signal.SIGKILL)  # also any child left in the group
        code = proc.wait()
        if running._log_file is not None:
            running._log_file.close()
        return code

    def stop(self) -> None:
        for name in reversed(list(self.running)):
            self.stop_one(name)

    def __enter__(self) -> Demo:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _signal_group(pid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m stagedeck.demo.launch",
        description="Run every demo service in the foreground (no cockpit).",
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--free-ports", action="store_true", help="pick free ports")
    parser.add_argument("--seed", action="store_true", help="load the fixtures once up")
    args = parser.parse_args(argv)
    demo = Demo(host=args.host, free_ports=args.free_ports)

    def interrupted(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupted)
    try:
        demo.start()
        print(f"demo up: gateway {demo.url('gateway')} (Ctrl-C stops)", file=sys.stderr, flush=True)
        if args.seed:
            subprocess.run(
                [sys.executable, "-m", "stagedeck.demo.seed", "--gateway", demo.url("gateway")],
                check=False,
            )
        while all(r.proc.poll() is None for r in demo.running.values()):
            time.sleep(0.5)
        gone = [n for n, r in demo.running.items() if r.proc.poll() is not None]
        print(f"demo: {', '.join(gone)} exited; stopping the rest", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        demo.stop()


if __name__ == "__main__":
    sys.exit(main())
