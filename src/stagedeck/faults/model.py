"""What a fault is: a kind, a service, a duration, and how to lift it without us.

Every fault is temporary. ``Undo`` is the part of lifting that must still
happen if the process that injected the fault dies (SIGKILL, OOM): a plain,
JSON-serialisable description the fault keeper (``keeper.py``) can carry out
on its own, such as "SIGCONT process group 4242" or "docker unpause abc123".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

DEFAULT_DURATION_S = 30.0
MAX_DURATION_S = 3600.0
"""A fault longer than an hour is an outage, not a test."""


class FaultKind(StrEnum):
    PAUSE = "pause"
    """Freeze the service: SIGSTOP its process group, ``docker pause``."""
    KILL = "kill"
    """Kill it abruptly (SIGKILL); it is started again when the fault expires."""
    STOP = "stop"
    """Stop it cleanly (SIGTERM, ``docker stop``) for the duration, then start it."""
    DELETE_POD = "delete-pod"
    """Kubernetes: delete one pod; its controller replaces it."""
    SCALE_ZERO = "scale-zero"
    """Kubernetes: scale the workload to zero replicas, then back."""
    LATENCY = "latency"
    """Slow every request (the service's chaos endpoint or a stagedeck proxy)."""
    ERRORS = "errors"
    """Fail a share of requests (chaos endpoint) or drop connections (proxy)."""


DESCRIPTIONS: dict[FaultKind, str] = {
    FaultKind.PAUSE: "freeze the service (SIGSTOP / docker pause)",
    FaultKind.KILL: "kill it (SIGKILL), start it again afterwards",
    FaultKind.STOP: "stop it cleanly, start it again afterwards",
    FaultKind.DELETE_POD: "delete one pod (its controller replaces it)",
    FaultKind.SCALE_ZERO: "scale the workload to zero, then back",
    FaultKind.LATENCY: "add latency to every request",
    FaultKind.ERRORS: "fail or drop a share of requests",
}


def parse_kind(text: str) -> FaultKind:
    try:
        return FaultKind(text.strip().lower())
    except ValueError:
        known = ", ".join(k.value for k in FaultKind)
        raise ValueError(f"unknown fault '{text}': use one of {known}") from None


@dataclass(frozen=True)
class FaultSpec:
    """One fault to inject: ``params`` carry a kind's settings (delay_ms, rate)."""

    service: str
    kind: FaultKind
    duration: float = DEFAULT_DURATION_S
    params: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not 0 < self.duration <= MAX_DURATION_S:
            raise ValueError(
                f"a fault lasts between 1s and {MAX_DURATION_S / 60:g}m, not {self.duration:g}s"
            )

    def label(self) -> str:
        """'pause payments for 30s'."""
        extra = " ".join(f"{k}={v:g}" for k, v in sorted(self.params.items()))
        return f"{self.kind.value} {self.service} for {self.duration:g}s" + (
            f" ({extra})" if extra else ""
        )


Undo = dict[str, Any]
"""How the keeper lifts a fault by itself: {"kind": "signal"|"docker"|"k8s-scale"|"http", ...}."""
