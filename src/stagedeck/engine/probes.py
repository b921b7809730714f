"""Health checks (http, tcp, command) and the rule that turns results into health.

The rule follows docker compose health checks, which people already know:
failures inside ``start_period`` after a start do not count, one failure
makes a service *degraded*, ``retries`` consecutive failures make it *down*,
and one success makes it healthy again.
"""

from __future__ import annotations

import asyncio
import enum
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from stagedeck.deadline import within
from stagedeck.engine.events import Health
from stagedeck.engine.http_probe import KeepAliveClient, ProbeError
from stagedeck.engine.tracecontext import new_traceparent, trace_id_of
from stagedeck.recipe.model import HealthCheck, Service
from stagedeck.targets.base import Target, TargetError
from stagedeck.text import clean

if TYPE_CHECKING:
    import httpx

# httpx (with certifi) is imported where it is used, not when this module loads:
# the cockpit's first frame must not wait for it.


class ProbeKind(enum.StrEnum):
    """How a check ended: the difference between a hang, a crash and an app error."""

    OK = "ok"
    TIMEOUT = "timeout"
    """No answer in time: the process may be alive but stuck (SIGSTOP, deadlock)."""
    REFUSED = "refused"
    """Connection refused or reset: nothing listening (crashed, not started)."""
    HTTP_5XX = "http-5xx"
    HTTP_STATUS = "http-status"
    """An unexpected status that is not a 5xx (404, 401, ...)."""
    BAD_BODY = "bad-body"
    """The answer lacks what the check expects."""
    ERROR = "error"
    """Anything else (DNS, TLS, a command that exited non-zero)."""


@dataclass(frozen=True, slots=True)
class ProbeRecord:
    """One check of one service: the health check (``latency=False``) or a latency URL."""

    at: float
    service: str
    ok: bool
    ms: float
    kind: ProbeKind = ProbeKind.OK
    detail: str = ""
    latency: bool = False


@dataclass(frozen=True, slots=True)
class ProbeResult:
    ok: bool
    ms: float
    detail: str = ""
    kind: str = ""
    """How it failed, a :class:`ProbeKind` value ('timeout', 'refused', 'http-5xx',
    'http-status', 'bad-body', 'error'); '' for a success. It tells a hang from a crash
    from an application error, which the detail text only says in words."""
    trace_id: str = ""
    """The W3C trace id an HTTP probe sent in its ``traceparent`` ('' for other checks):
    the service's logs may name it (see engine/tracecontext.py)."""

    def __post_init__(self) -> None:
        # Shown as the health reason: command output and server text, so it passes the gate.
        object.__setattr__(self, "detail", clean(self.detail))


async def probe_http(
    client: httpx.AsyncClient,
    url: str,
    timeout: float,
    status: tuple[int, int] = (200, 399),
    body: str = "",
) -> ProbeResult:
    import httpx

    traceparent = new_traceparent()
    trace = trace_id_of(traceparent)
    start = time.perf_counter()
    try:
        response = await client.get(url, timeout=timeout, headers={"traceparent": traceparent})
    except httpx.TimeoutException:
        return ProbeResult(
            False, _ms(start), f"GET {url}: timed out after {timeout:g}s", "timeout", trace
        )
    except httpx.HTTPError as exc:
        refused = isinstance(exc, httpx.ConnectError | httpx.RemoteProtocolError)
        kind = "refused" if refused else "error"
        return ProbeResult(False, _ms(start), f"GET {url}: {_reason(exc)}", kind, trace)
    judged = _judge(url, _ms(start), response.status_code, lambda: response.text, status, body)
    return replace(judged, trace_id=trace)


async def probe_http_lean(
    client: KeepAliveClient,
    url: str,
    timeout: float,
    status: tuple[int, int] = (200, 399),
    body: str = "",
) -> ProbeResult:
    """:func:`probe_http` over :mod:`stagedeck.engine.http_probe` (plain http only)."""
    traceparent = new_traceparent()
    trace = trace_id_of(traceparent)
    start = time.perf_counter()
    try:
        response = await client.get(url, timeout, traceparent=traceparent)
    except TimeoutError:
        return ProbeResult(
            False, _ms(start), f"GET {url}: timed out after {timeout:g}s", "timeout", trace
        )
    except ProbeError as exc:
        return ProbeResult(False, _ms(start), f"GET {url}: {exc}", exc.kind, trace)
    judged = _judge(url, _ms(start), response.status, lambda: response.text, status, body)
    return replace(judged, trace_id=trace)


def _judge(
    url: str, ms: float, code: int, text: Callable[[], str], status: tuple[int, int], body: str
) -> ProbeResult:
    """One verdict and one wording for both HTTP paths (the body is decoded only if asked)."""
    if not status[0] <= code <= status[1]:
        kind = "http-5xx" if code >= 500 else "http-status"
        return ProbeResult(False, ms, f"GET {url}: HTTP {code}", kind)
    if body and body not in text():
        return ProbeResult(False, ms, f"GET {url}: body lacks {body!r}", "bad-body")
    return ProbeResult(True, ms, f"HTTP {code}")


async def probe_tcp(host: str, port: int, timeout: float) -> ProbeResult:
    start = time.perf_counter()
    try:
        _, writer = await within(asyncio.open_connection(host, port), timeout)
    except TimeoutError:
        return ProbeResult(
            False, _ms(start), f"tcp {host}:{port}: timed out after {timeout:g}s", "timeout"
        )
    except ConnectionRefusedError:  # asyncio's text repeats the address: say it plainly
        return ProbeResult(False, _ms(start), f"tcp {host}:{port}: connection refused", "refused")
    except OSError as exc:
        return ProbeResult(False, _ms(start), f"tcp {host}:{port}: {exc.strerror or exc}", "error")
    ms = _ms(start)
    writer.close()
    try:
        await writer.wait_closed()
    except OSError:
        pass
    return ProbeResult(True, ms, "connected")


async def probe_command(argv: tuple[str, ...], timeout: float) -> ProbeResult:
    start = time.perf_counter()
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )
    except OSError as exc:
        return ProbeResult(False, _ms(start), f"{argv[0]}: {exc.strerror or exc}", "error")
    try:
        out, _ = await within(proc.communicate(), timeout)
    except TimeoutError:
        try:
            os.killpg(proc.pid, 9)
        except ProcessLookupError:
            pass
        await proc.wait()
        return ProbeResult(False, _ms(start), f"{argv[0]}: timed out after {timeout:g}s", "timeout")
    ms = _ms(start)
    last = out.decode(errors="replace").strip().splitlines()[-1:] or [""]
    if proc.returncode != 0:
        return ProbeResult(
            False, ms, f"{argv[0]} exited {proc.returncode}: {last[0][:200]}", "error"
        )
    return ProbeResult(True, ms, last[0][:200])


async def probe_in_service(target: Target, service: Service, check: HealthCheck) -> ProbeResult:
    """A command check run inside the service (``in_service = true``) through the
    target's exec, timed like :func:`probe_command`. Its output stays out of the
    service's log: this runs every few seconds."""
    argv = check.command
    start = time.perf_counter()
    try:
        result = await target.exec(service, argv, timeout=check.timeout, log_output=False)
    except TargetError as exc:
        return ProbeResult(False, _ms(start), f"{argv[0]} in service: {exc}", "error")
    ms = _ms(start)
    last = result.output.strip().splitlines()[-1:] or [""]
    if result.exit_code == 0:
        return ProbeResult(True, ms, last[0][:200])
    if result.exit_code == -1 and ms >= check.timeout * 1000:
        return ProbeResult(False, ms, f"{argv[0]}: timed out after {check.timeout:g}s", "timeout")
    return ProbeResult(False, ms, f"{argv[0]} exited {result.exit_code}: {last[0][:200]}", "error")


async def run_check(client: httpx.AsyncClient | None, check: HealthCheck) -> ProbeResult:
    """Run one check; ``client`` is needed (and only used) for an http check."""
    try:
        if check.kind == "http":
            assert client is not None, "an http check needs the HTTP client"
            return await probe_http(client, check.url, check.timeout, check.status, check.body)
        if check.kind == "tcp":
            return await probe_tcp(check.host, check.port, check.timeout)
        return await probe_command(check.command, check.timeout)
    except Exception as exc:
        import httpx

        if not isinstance(exc, ValueError | OverflowError | TypeError | httpx.InvalidURL):
            raise
        # The recipe loader refuses bad URLs and ports; this is the last line, so
        # that a value it missed is a failed probe with a reason, not a dead loop.
        return ProbeResult(False, 0.0, f"{check.describe()}: {exc}", kind="error")


class HealthTracker:
    """Consecutive-failure rule for one service."""

    def __init__(self, retries: int = 3, start_period: float = 0.0) -> None:
        self.retries = max(1, retries)
        self.start_period = start_period
        self.failures = 0
        self.health = Health.UNKNOWN
        self.started_at = time.monotonic()
        self.last_detail = ""
        self.passed = False
        """A check passed since the last start, which ends the start period (as in compose)."""

    def restarted(self) -> None:
        """The service was (re)started: grace period begins again, history is forgotten."""
        self.started_at = time.monotonic()
        self.failures = 0
        self.health = Health.UNKNOWN
        self.passed = False

    def record(self, result: ProbeResult) -> Health:
        self.last_detail = result.detail
        if result.ok:
            self.passed = True
            self.failures = 0
            self.health = Health.HEALTHY
            return self.health
        if time.monotonic() - self.started_at < self.start_period and not self.passed:
            return self.health  # still starting: not a failure yet
        self.failures += 1
        self.health = Health.DOWN if self.failures >= self.retries else Health.DEGRADED
        return self.health


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000.0


def _reason(exc: httpx.HTTPError) -> str:
    import httpx

    if isinstance(exc, httpx.ConnectError):
        return "cannot connect (connection refused)"
    return str(exc) or type(exc).__name__
