"""The local target: services are processes this cockpit starts.

Each service runs in its own session (and so its own process group), so a
stop reaches the service's children too. A watchdog process (see
``watchdog.py``) kills those groups if the cockpit dies without cleaning up.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import socket
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from stagedeck.deadline import within
from stagedeck.engine.events import ProcState
from stagedeck.recipe.model import Recipe, Service
from stagedeck.targets.base import ExecResult, Target, TargetError, TargetSink
from stagedeck.targets.local.pipes import open_pipe, read_pipe, read_stream
from stagedeck.targets.local.proxy import FaultProxy
from stagedeck.traces.env import otel_env

STOP_GRACE_SECONDS = 5.0


@dataclass
class _Running:
    proc: asyncio.subprocess.Process
    readers: list[asyncio.Task[None]] = field(default_factory=list)
    waiter: asyncio.Task[None] | None = None
    stopping: bool = False


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on ``host:port`` (so our service could not bind)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def free_port(host: str) -> int:
    """A port nobody listens on now (the kernel picks it)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _start_failure(service: Service, exc: BaseException) -> str | None:
    """Why ``service`` could not start, in words for the services table (None: not ours)."""
    if isinstance(exc, FileNotFoundError):
        return f"command not found: {service.command[0]}"
    if isinstance(exc, OSError):
        where = f" (cwd {service.cwd})" if service.cwd else ""
        return f"cannot start {service.command[0]}{where}: {exc.strerror or exc}"
    return None


class LocalTarget(Target):
    kind = "local"
    manages_processes = True

    def __init__(self, recipe: Recipe, sink: TargetSink) -> None:
        super().__init__(recipe, sink)
        self._running: dict[str, _Running] = {}
        self._watchdog: asyncio.subprocess.Process | None = None
        self._lock: dict[str, asyncio.Lock] = {}
        self._proxies: dict[str, FaultProxy] = {}
        """``proxy = true`` services: the proxy on the service's port, kept across restarts."""

    async def open(self) -> None:
        self._watchdog = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "stagedeck.targets.local.watchdog",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
            start_new_session=True,
        )
        self.sink.connection(True, "local processes")

    def _tell_watchdog(self, line: str) -> None:
        if self._watchdog and self._watchdog.stdin and not self._watchdog.stdin.is_closing():
            self._watchdog.stdin.write(line.encode() + b"\n")

    def _service_lock(self, name: str) -> asyncio.Lock:
        return self._lock.setdefault(name, asyncio.Lock())

    def proxy(self, name: str) -> FaultProxy | None:
        """The proxy in front of ``name`` (``proxy = true``), for latency and drop faults."""
        return self._proxies.get(name)

    def pid(self, name: str) -> int | None:
        running = self._running.get(name)
        return running.proc.pid if running and running.proc.returncode is None else None

    async def start(self, service: Service) -> None:
        async with self._service_lock(service.name):
            await self._start(service)

    async def _start(self, service: Service) -> None:
        if self.pid(service.name) is not None:
            return
        if not service.command:
            self.sink.process_state(service.name, ProcState.FAILED, reason="no command to run")
            return
        listen = await self._listen_port(service)
        if listen is None:
            return
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "STAGEDECK_SERVICE": service.name}
        if listen:
            env["PORT"] = str(listen)
        env.update(otel_env(self.recipe, service.name))
        env.update(service.env)
        self.sink.process_state(service.name, ProcState.STARTING)
        out_read, out_write = open_pipe()
        err_read, err_write = open_pipe()
        try:
            proc = await asyncio.create_subprocess_exec(
                *service.command,
                cwd=service.cwd,
                env=env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=out_write,
                stderr=err_write,
                start_new_session=True,
            )
        except BaseException as exc:
            os.close(out_read)
            os.close(err_read)
            reason = _start_failure(service, exc)
            if reason is None:
                raise
            self.sink.process_state(service.name, ProcState.FAILED, reason=reason)
            return
        finally:
            # The child has its own copies; ours would keep the pipes open forever.
            os.close(out_write)
            os.close(err_write)
        self._tell_watchdog(f"+{proc.pid}")
        running = _Running(proc)
        self._running[service.name] = running

        def deliver(lines: list[str], stream: str) -> None:
            self.sink.log_many(service.name, lines, stream, admitted=True)

        def admit(count: int) -> int:
            return self.sink.admit_lines(service.name, count)

        running.readers = [
            asyncio.create_task(read_pipe(out_read, deliver, "out", admit)),
            asyncio.create_task(read_pipe(err_read, deliver, "err", admit)),
        ]
        running.waiter = asyncio.create_task(self._wait_exit(service.name, running))
        self.sink.process_state(service.name, ProcState.STARTING, pid=proc.pid)

    async def _listen_port(self, service: Service) -> int | None:
        """The port the process gets as $PORT (0: none); None when it cannot start (reported).

        With ``proxy = true`` the proxy takes the service's port and the process
        gets a free one, kept across restarts so the proxy keeps pointing at it.
        """
        proxy = self._proxies.get(service.name)
        wanted = [service.port] if service.port and proxy is None else []
        listen = proxy.backend_port if proxy is not None else (service.port or 0)
        if service.proxy and proxy is None:
            listen = free_port(service.host)
        busy = [p for p in [*wanted, listen] if p and port_in_use(service.host, p)]
        if busy:
            self.sink.process_state(
                service.name,
                ProcState.FAILED,
                reason=f"port {busy[0]} is already in use by another process",
            )
            return None
        if service.proxy and proxy is None and service.port:
            proxy = FaultProxy(service.host, service.port, service.host, listen)
            try:
                await proxy.start()
            except OSError as exc:
                why = f"proxy cannot listen on port {service.port}: {exc.strerror or exc}"
                self.sink.process_state(service.name, ProcState.FAILED, reason=why)
                return None
            self._proxies[service.name] = proxy
        return listen

    async def _wait_exit(self, name: str, running: _Running) -> None:
        code = await running.proc.wait()
        # Let the readers drain so the last lines (often the reason) are in the log.
        with contextlib.suppress(TimeoutError):
            await within(asyncio.gather(*running.readers), 1.0)
        self._tell_watchdog(f"-{running.proc.pid}")
        if self._running.get(name) is running:
            del self._running[name]
        if running.stopping:
            self.sink.process_state(name, ProcState.STOPPED, exit_code=code)
        else:
            reason = f"exited with code {code}" if code >= 0 else f"killed by signal {-code}"
            self.sink.process_state(name, ProcState.CRASHED, exit_code=code, reason=reason)

    async def stop(self, service: Service) -> None:
        async with self._service_lock(service.name):
            await self._stop(service.name)

    async def _stop(self, name: str, grace: float = STOP_GRACE_SECONDS) -> None:
        running = self._running.get(name)
        if running is None or running.proc.returncode is not None:
            return
        running.stopping = True
        self.sink.process_state(name, ProcState.STOPPING, pid=running.proc.pid)
        pgid = running.proc.pid
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pgid, signal.SIGTERM)
        try:
            await within(asyncio.shield(running.proc.wait()), grace)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pgid, signal.SIGKILL)
            await running.proc.wait()
        # The leader is gone; make sure nothing else is left in its group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pgid, signal.SIGKILL)
        if running.waiter is not None:
            await running.waiter

    def describe_redeploy(self, service: Service) -> str:
        return "its process is stopped (SIGTERM, then SIGKILL) and started again"

    async def redeploy(self, service: Service) -> None:
        async with self._service_lock(service.name):
            self.sink.process_state(service.name, ProcState.RESTARTING)
            await self._stop(service.name)
            await self._start(service)

    async def exec(
        self,
        service: Service,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
        *,
        log_output: bool = True,
    ) -> ExecResult:
        """Local services share our machine, so exec is a local process with the service's env."""
        full_env = {**os.environ, **service.env, **(env or {})}
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv,
                cwd=service.cwd,
                env=full_env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                start_new_session=True,
            )
        except OSError as exc:
            raise TargetError(f"cannot run {argv[0]}: {exc.strerror or exc}") from None
        self._tell_watchdog(f"+{proc.pid}")
        tail: list[str] = []

        def deliver(lines: list[str], stream: str) -> None:
            tail.extend(lines)
            del tail[:-200]
            if log_output:
                self.sink.log_many(service.name, lines, "exec")

        assert proc.stdout is not None
        reader = asyncio.create_task(read_stream(proc.stdout, deliver, "out"))
        try:
            await within(proc.wait(), timeout)
        except TimeoutError:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            await proc.wait()
            tail.append(f"killed after {timeout:g}s timeout")
        finally:
            self._tell_watchdog(f"-{proc.pid}")
        with contextlib.suppress(TimeoutError):
            await within(reader, 1.0)
        return ExecResult(proc.returncode if proc.returncode is not None else -1, "\n".join(tail))

    async def close(self, *, stop_services: bool = True) -> None:
        if stop_services:
            names = list(self._running)
            await asyncio.gather(*(self._stop(n) for n in names), return_exceptions=True)
        for proxy in self._proxies.values():
            await proxy.close()
        self._proxies.clear()
        if self._watchdog is not None:
            if self._watchdog.stdin is not None:
                self._watchdog.stdin.close()
            try:
                await within(self._watchdog.wait(), 5.0)
            except TimeoutError:
                self._watchdog.kill()
            self._watchdog = None
