"""Pure helpers for the Docker target: no SDK calls, no threads, no event loop.

Everything here turns what the Docker API returns (inspect documents, event
attributes, stats samples, log frames) into what stagedeck needs, so it can be
tested with plain dictionaries and bytes.
"""

from __future__ import annotations

import calendar
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stagedeck.recipe.model import Environment, Service
from stagedeck.text import clean

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
DEPENDS_LABEL = "com.docker.compose.depends_on"
ONEOFF_LABEL = "com.docker.compose.oneoff"
NUMBER_LABEL = "com.docker.compose.container-number"
WORKDIR_LABEL = "com.docker.compose.project.working_dir"
CONFIG_FILES_LABEL = "com.docker.compose.project.config_files"

STAMP_MAX = 40
"""Longer than any RFC 3339 time stamp the engine writes, with the space after it."""
MAX_LINE = 16 * 1024
"""Longer log lines are cut, as in the local target."""

STOP_SIGNALS = frozenset({"15", "SIGTERM", "TERM", "2", "SIGINT", "INT", "3", "SIGQUIT"})
"""A ``kill`` event with one of these signals means someone asked the container to stop."""


# --------------------------------------------------------------------------- selection


@dataclass(frozen=True)
class Selector:
    """How one recipe service finds its container: by name, or by labels."""

    service: str
    name: str = ""
    labels: tuple[tuple[str, str], ...] = ()

    def matches(self, name: str, labels: Mapping[str, str]) -> bool:
        if self.name:
            return name.lstrip("/") == self.name
        if labels.get(ONEOFF_LABEL, "False") == "True":
            return False  # `docker compose run` one-offs are not the service
        return all(labels.get(k) == v for k, v in self.labels)

    def describe(self) -> str:
        if self.name:
            return f"name {self.name}"
        return "labels " + ", ".join(f"{k}={v}" for k, v in self.labels)


def selector_for(service: Service, environment: Environment) -> Selector:
    """The recipe's ``container`` name, its ``labels``, or the compose labels by default."""
    if service.container:
        return Selector(service.name, name=service.container)
    if service.labels:
        return Selector(service.name, labels=tuple(sorted(service.labels.items())))
    project = environment.project or environment.name
    return Selector(service.name, labels=((PROJECT_LABEL, project), (SERVICE_LABEL, service.name)))


def common_label_filter(selectors: Mapping[str, Selector]) -> list[str]:
    """``key=value`` labels every selector requires: lets a listing ask the engine for less."""
    sets = [set(s.labels) if not s.name else set() for s in selectors.values()]
    if not sets:
        return []
    shared = set.intersection(*sets)
    return sorted(f"{k}={v}" for k, v in shared)


def pick_container(candidates: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Of several containers for one service (scaled, or an old one left behind), the live one.

    ``candidates`` are summaries from the container list: running first, then
    the lowest compose container number, then the newest.
    """
    if not candidates:
        return None

    def key(c: dict[str, Any]) -> tuple[int, int, int]:
        labels = c.get("Labels") or {}
        number = labels.get(NUMBER_LABEL, "")
        return (
            0 if c.get("State") == "running" else 1,
            int(number) if number.isdigit() else 1_000_000,
            -int(c.get("Created", 0)),
        )

    return min(candidates, key=key)


# --------------------------------------------------------------------------- time


_TS = re.compile(rb"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d{1,9}))?Z ")
_second_cache: dict[bytes, int] = {}


def _epoch_seconds(stamp: bytes) -> int:
    seconds = _second_cache.get(stamp)
    if seconds is None:
        if len(_second_cache) > 4096:
            _second_cache.clear()
        seconds = calendar.timegm(time.strptime(stamp.decode(), "%Y-%m-%dT%H:%M:%S"))
        _second_cache[stamp] = seconds
    return seconds


def split_timestamp(line: bytes) -> tuple[int | None, bytes]:
    """``2024-05-01T12:00:00.123456789Z text`` -> (nanoseconds since the epoch, text)."""
    m = _TS.match(line)
    if m is None:
        return None, line
    frac = (m.group(2) or b"").ljust(9, b"0")
    return _epoch_seconds(m.group(1)) * 1_000_000_000 + int(frac), line[m.end() :]


def parse_iso_ns(text: str) -> int:
    """Docker's RFC 3339 times (``StartedAt``) in nanoseconds; 0 for the zero time or junk."""
    if not text or text.startswith("0001-"):
        return 0
    ns, _ = split_timestamp(text.encode() + b" ")
    return ns or 0


def ns_to_since(ns: int) -> str:
    """The ``since`` query value the logs API accepts: seconds with nanoseconds."""
    return f"{ns // 1_000_000_000}.{ns % 1_000_000_000:09d}"


# --------------------------------------------------------------------------- containers


@dataclass(frozen=True)
class ContainerView:
    """What stagedeck needs from one ``inspect`` of a container."""

    id: str
    name: str
    status: str
    """Docker's word: created, running, paused, restarting, removing, exited, dead."""
    exit_code: int | None = None
    pid: int | None = None
    started_ns: int = 0
    finished_ns: int = 0
    health: str = ""
    """The HEALTHCHECK verdict (starting, healthy, unhealthy) or '' without one."""
    health_output: str = ""
    oom_killed: bool = False
    error: str = ""
    tty: bool = False
    labels: Mapping[str, str] = field(default_factory=dict)
    restart_count: int = 0
    """Restarts by the container's restart policy (not by ``docker restart``)."""

    def __post_init__(self) -> None:
        # What the engine and Docker's health check say is shown as a reason: the gate.
        # ``labels`` stay raw: they pick containers, they are not shown.
        for name in ("name", "status", "health", "health_output", "error"):
            object.__setattr__(self, name, clean(getattr(self, name)))

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def has_healthcheck(self) -> bool:
        return bool(self.health)


ENDED = frozenset({"exited", "dead", "restarting"})
"""Docker states in which the last run's exit code is meaningful."""


def view_from_inspect(data: Mapping[str, Any]) -> ContainerView:
    state = data.get("State") or {}
    config = data.get("Config") or {}
    health = state.get("Health") or {}
    log = health.get("Log") or []
    output = ""
    if log:
        last = log[-1]
        if last.get("ExitCode", 0) != 0:
            output = " ".join(str(last.get("Output", "")).split())[:300]
    status = str(state.get("Status", ""))
    if state.get("Restarting"):
        status = "restarting"
    pid = int(state.get("Pid") or 0)
    return ContainerView(
        id=str(data.get("Id", "")),
        name=str(data.get("Name", "")).lstrip("/"),
        status=status,
        exit_code=int(state.get("ExitCode", 0)) if status in ENDED else None,
        pid=pid or None,
        started_ns=parse_iso_ns(str(state.get("StartedAt", ""))),
        finished_ns=parse_iso_ns(str(state.get("FinishedAt", ""))),
        health=str(health.get("Status", "")),
        health_output=output,
        oom_killed=bool(state.get("OOMKilled")),
        error=str(state.get("Error", "")),
        tty=bool(config.get("Tty")),
        labels=dict(config.get("Labels") or {}),
        restart_count=int(data.get("RestartCount") or 0),
    )


def exit_reason(code: int | None, *, oom: bool = False, signal: str = "") -> str:
    """Words for how a container ended: 'exited with code 1', 'killed (SIGKILL), code 137'."""
    if oom:
        return f"killed: out of memory (code {code})"
    if code is None:
        return "exited"
    if signal and signal not in STOP_SIGNALS:
        name = {"9": "SIGKILL", "KILL": "SIGKILL"}.get(signal, signal)
        return f"killed ({name}), exit code {code}"
    if code > 128:
        import signal as signals

        try:
            name = signals.Signals(code - 128).name
        except ValueError:
            name = f"signal {code - 128}"
        return f"exited with code {code} ({name})"
    return f"exited with code {code}"


def parse_depends_on(label: str) -> list[tuple[str, str]]:
    """Compose's ``db:service_started:false,redis:service_healthy:true`` -> [(db, condition)]."""
    out: list[tuple[str, str]] = []
    for part in label.split(","):
        part = part.strip()
        if not part:
            continue
        name, _, rest = part.partition(":")
        condition = rest.split(":", 1)[0] if rest else "service_started"
        if name and (name, condition) not in out:
            out.append((name, condition or "service_started"))
    return out


# --------------------------------------------------------------------------- stats


def cpu_percent(current: Mapping[str, Any], previous: Mapping[str, Any] | None) -> float | None:
    """CPU as ``docker stats`` shows it (100 = one core), from two samples' ``cpu_stats``."""
    cur = current.get("cpu_stats") or {}
    prev = previous or {}
    try:
        cpu_delta = cur["cpu_usage"]["total_usage"] - prev["cpu_usage"]["total_usage"]
        system_delta = cur["system_cpu_usage"] - prev["system_cpu_usage"]
    except (KeyError, TypeError):
        return None
    online = cur.get("online_cpus") or len(cur["cpu_usage"].get("percpu_usage") or ()) or 1
    if system_delta <= 0 or cpu_delta < 0:
        return None
    return float(cpu_delta) / float(system_delta) * float(online) * 100.0


def memory_bytes(sample: Mapping[str, Any]) -> int | None:
    """Memory in use without the page cache the kernel can drop (as ``docker stats``)."""
    mem = sample.get("memory_stats") or {}
    usage = mem.get("usage")
    if usage is None:
        return None
    stats = mem.get("stats") or {}
    cache = stats.get("total_inactive_file", stats.get("inactive_file", 0))
    return max(0, int(usage) - int(cache or 0))


# --------------------------------------------------------------------------- log frames


class LogDecoder:
    """Turns the logs API's byte stream into (nanoseconds, stream, text) lines.

    Non-TTY containers send 8-byte-headed frames (stream id, length); a TTY
    container sends the raw bytes. With ``timestamps=1`` every message starts
    with an RFC 3339 time. A message longer than the log driver's buffer comes
    as several partial messages, each with its own time: they are joined here.
    """

    def __init__(self, tty: bool, *, timestamps: bool = True) -> None:
        self.tty = tty
        self.timestamps = timestamps
        self._buf = bytearray()
        self._partial: dict[str, bytes] = {"out": b"", "err": b""}
        self._ts: dict[str, int] = {"out": 0, "err": 0}
        self._at_start: dict[str, bool] = {"out": True, "err": True}
        self._held = b""
        """A TTY line's start too short to hold its whole time stamp yet (cut by a read)."""

    def feed(self, data: bytes) -> list[tuple[int, str, str]]:
        lines: list[tuple[int, str, str]] = []
        if self.tty:
            if self._held:
                data, self._held = self._held + data, b""
            self._payload("out", data, lines)
            return lines
        buf = self._buf
        buf += data
        pos = 0
        while len(buf) - pos >= 8:
            kind = buf[pos]
            length = int.from_bytes(buf[pos + 4 : pos + 8], "big")
            if len(buf) - pos - 8 < length:
                break
            payload = bytes(buf[pos + 8 : pos + 8 + length])
            pos += 8 + length
            self._payload("err" if kind == 2 else "out", payload, lines)
        del buf[:pos]
        return lines

    def flush(self) -> list[tuple[int, str, str]]:
        """Whatever partial lines are left when the stream ends."""
        lines: list[tuple[int, str, str]] = []
        if self._held:
            held, self._held = self._held, b""
            ts, text = split_timestamp(held)
            if text:
                lines.append((ts or time.time_ns(), "out", _text(text)))
        for stream, text in self._partial.items():
            if text:
                lines.append((self._ts[stream], stream, _text(text)))
                self._partial[stream] = b""
        return lines

    def _payload(self, stream: str, payload: bytes, lines: list[tuple[int, str, str]]) -> None:
        pieces = payload.split(b"\n")
        last = len(pieces) - 1
        for i, piece in enumerate(pieces):
            if i == last and not piece:
                break
            ts, text = split_timestamp(piece) if self.timestamps else (None, piece)
            if (
                i == last
                and self.tty
                and self.timestamps
                and self._at_start[stream]
                and len(piece) < STAMP_MAX
            ):
                # Unframed bytes can be cut in (or just after) the stamp: wait for more.
                self._held = piece
                break
            if ts is not None and (self._at_start[stream] or not self.tty):
                if self._at_start[stream]:
                    self._ts[stream] = ts
            else:
                text = piece
            if self._at_start[stream] and ts is None:
                self._ts[stream] = time.time_ns()
            pending = self._partial[stream] + text
            if i < last:
                lines.append((self._ts[stream], stream, _text(pending)))
                self._partial[stream] = b""
                self._at_start[stream] = True
            else:
                if len(pending) > MAX_LINE:
                    lines.append((self._ts[stream], stream, _text(pending)))
                    pending = b""
                self._partial[stream] = pending
                self._at_start[stream] = not pending


def _text(raw: bytes) -> str:
    if len(raw) > MAX_LINE:
        return raw[:MAX_LINE].decode(errors="replace") + " …"
    return raw.decode(errors="replace")
