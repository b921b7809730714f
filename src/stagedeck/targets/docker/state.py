"""Pure helpers for the Docker target: no SDK calls, no threads, no event loop.

Everything here turns what the Docker API returns (inspect documents, event
attributes, stats samples) into what stagedeck needs, so it can be
tested with plain dictionaries. The log wire format is in :mod:`stagedeck.dockerwire`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from stagedeck.dockerwire.stamps import parse_iso_ns
from stagedeck.recipe.model import Environment, Service
from stagedeck.text import clean

PROJECT_LABEL = "com.docker.compose.project"
SERVICE_LABEL = "com.docker.compose.service"
DEPENDS_LABEL = "com.docker.compose.depends_on"
ONEOFF_LABEL = "com.docker.compose.oneoff"
NUMBER_LABEL = "com.docker.compose.container-number"
WORKDIR_LABEL = "com.docker.compose.project.working_dir"
CONFIG_FILES_LABEL = "com.docker.compose.project.config_files"

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
