"""The Target protocol: what the engine needs from a platform.

A target maps recipe services to running things (processes, containers,
pods). Rather than offering async iterators the engine must drive, a target
*pushes* what it observes into a :class:`TargetSink` that the engine hands it.
That keeps each platform free to observe in the way that is cheap for it
(process exit futures, Docker's event stream, a Kubernetes watch) while the
engine stays the single owner of service state.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

from stagedeck.engine.events import ProcState
from stagedeck.recipe.model import Recipe, Service


class TargetSink(Protocol):
    """Where a target reports what it sees. Must be called on the event loop thread."""

    def process_state(
        self,
        service: str,
        state: ProcState,
        *,
        reason: str = "",
        exit_code: int | None = None,
        pid: int | None = None,
    ) -> None: ...

    def platform_health(self, service: str, verdict: str, *, reason: str = "") -> None:
        """The platform's own health verdict ('healthy', 'unhealthy', 'starting', 'ready 2/3')."""

    def log(
        self, service: str, text: str, stream: str = "out", ts: float | None = None
    ) -> None: ...

    def log_many(
        self, service: str, lines: Sequence[str], stream: str = "out", *, admitted: bool = False
    ) -> None:
        """A batch of lines; ``admitted`` when ``admit_lines`` was asked for them already."""

    def admit_lines(self, service: str, count: int) -> int:
        """How many of ``count`` new lines may be kept (the ingest ceiling); ask before
        decoding so a flood's dropped lines cost nothing but a count."""

    def resources(
        self, service: str, cpu_percent: float | None, memory_bytes: int | None
    ) -> None: ...

    def connection(self, connected: bool, detail: str = "") -> None: ...


@dataclass(frozen=True)
class ExecResult:
    exit_code: int
    output: str
    """The last part of the combined output (the full output went to the log)."""


class TargetError(Exception):
    """An action the target could not carry out, with the reason in words a user acts on."""


class Target(abc.ABC):
    """One platform. Methods are called on the event loop and must never block it."""

    kind: str = "abstract"
    manages_processes: bool = False
    """True when this cockpit starts and stops the services (local): bring-up starts them."""

    def __init__(self, recipe: Recipe, sink: TargetSink) -> None:
        self.recipe = recipe
        self.sink = sink

    @abc.abstractmethod
    async def open(self) -> None:
        """Connect, find the services, and begin reporting their state and logs."""

    @abc.abstractmethod
    async def start(self, service: Service) -> None:
        """Bring one service up (returns once it was started, not once it is healthy)."""

    @abc.abstractmethod
    async def stop(self, service: Service) -> None: ...

    @abc.abstractmethod
    async def redeploy(self, service: Service) -> None:
        """Restart (or recreate, or roll out) one service; returns once it was restarted."""

    @abc.abstractmethod
    async def exec(
        self,
        service: Service,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
        *,
        log_output: bool = True,
    ) -> ExecResult:
        """Run a command inside (or next to) a service, streaming its output to the log.

        ``log_output=False`` keeps the output out of the service's log (a health check
        run every few seconds would otherwise fill it); the result's tail still has it.
        """

    @abc.abstractmethod
    async def close(self, *, stop_services: bool = True) -> None:
        """Stop observing; a target that manages processes stops them too."""

    def describe_redeploy(self, service: Service) -> str:
        """What a redeploy does to ``service`` here, for the confirmation that precedes it."""
        return "it is restarted"

    def update_recipe(self, recipe: Recipe) -> None:
        """A new recipe is in force; later issues let targets react to it."""
        self.recipe = recipe
