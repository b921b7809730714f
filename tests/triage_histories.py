"""Recorded histories of the demo environment, built by hand: no processes, no clock.

The messages are the demo's real ones (request ids, timestamps, JSON bodies),
so the ranking is tested on what it will read, not on tidy strings.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field, replace

from stagedeck.triage.model import (
    ChangeRecord,
    History,
    LogRecord,
    ProbeKind,
    ProbeRecord,
    SeedRecord,
    ServiceRecord,
    TransitionRecord,
)

T0 = 1_764_600_000.0
"""2025-12-01 14:40 UTC: every recorded history starts here."""

DEMO = {
    "ledger": (),
    "inventory": (),
    "payments": (),
    "orders": ("inventory", "payments", "ledger"),
    "gateway": ("orders", "inventory"),
    "worker": ("orders", "ledger"),
}
SLO = {"ledger": 50, "inventory": 50, "payments": 100, "orders": 50, "gateway": 80, "worker": 50}
PORTS = {name: 47101 + i for i, name in enumerate(DEMO)}


def rid(rng: random.Random) -> str:
    return "t" + "".join(rng.choice("0123456789abcdef") for _ in range(9))


@dataclass
class Recorder:
    """Builds a History second by second, as the engine would have seen it."""

    deps: dict[str, tuple[str, ...]] = field(default_factory=lambda: dict(DEMO))
    now: float = T0
    seed: int = 7
    services: dict[str, ServiceRecord] = field(default_factory=dict)
    transitions: list[TransitionRecord] = field(default_factory=list)
    probes: list[ProbeRecord] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    changes: list[ChangeRecord] = field(default_factory=list)
    seeds: list[SeedRecord] = field(default_factory=list)
    seq: int = 0

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        for name, deps in self.deps.items():
            self.services[name] = ServiceRecord(
                name, "running", "healthy", "", self.now, 0, None, deps, SLO.get(name, 50)
            )
            self.transitions.append(TransitionRecord(self.now, name, "running", "healthy"))

    # -------------------------------------------------------------- primitives

    def url(self, name: str, path: str = "/health") -> str:
        return f"http://127.0.0.1:{PORTS.get(name, 48000)}{path}"

    def set(
        self, name: str, state: str | None = None, health: str | None = None, **kw: object
    ) -> None:
        before = self.services[name]
        after = replace(
            before,
            state=state or before.state,
            health=health or before.health,
            **kw,  # type: ignore[arg-type]
        )
        if (after.state, after.health) != (before.state, before.health):
            after = replace(after, since=self.now)
            self.transitions.append(
                TransitionRecord(self.now, name, after.state, after.health, after.reason)
            )
        self.services[name] = after

    def log(self, name: str, level: str, message: str, request: str = "-") -> LogRecord:
        stamp = "ERROR" if level == "error" else "WARN " if level == "warn" else "INFO "
        line = LogRecord(
            self.now, name, level, f"{stamp} {name} rid={request} {message}", request, self.seq
        )
        self.seq += 1
        self.logs.append(line)
        return line

    def probe(
        self, name: str, ok: bool, ms: float, kind: ProbeKind, detail: str, latency: bool
    ) -> None:
        self.probes.append(ProbeRecord(self.now, name, ok, ms, kind, detail, latency))

    # -------------------------------------------------------------- behaviour

    def tick(
        self, seconds: float = 2.0, faults: dict[str, str] | None = None, traffic: int = 0
    ) -> None:
        """``seconds`` of the demo: a probe round per service, then ``traffic`` checkouts."""
        faults = faults or {}
        self.now += seconds
        for name in self.deps:
            fault = faults.get(name, "")
            svc = self.services[name]
            if svc.state in ("crashed", "stopped"):
                continue
            lat_path = "/x?probe=1"
            if fault == "hang":
                self.probe(
                    name,
                    False,
                    1000,
                    ProbeKind.TIMEOUT,
                    f"GET {self.url(name)}: timed out after 1s",
                    False,
                )
                self.probe(
                    name,
                    False,
                    1000,
                    ProbeKind.TIMEOUT,
                    f"GET {self.url(name, lat_path)}: timed out after 1s",
                    True,
                )
                self._fail(name, f"GET {self.url(name)}: timed out after 1s")
            elif fault == "unhealthy":
                self.probe(
                    name, False, 3, ProbeKind.HTTP_5XX, f"GET {self.url(name)}: HTTP 503", False
                )
                self.probe(name, True, 4, ProbeKind.OK, "HTTP 200", True)
                self._fail(name, f"GET {self.url(name)}: HTTP 503")
            elif fault == "errors":
                self.probe(name, True, 3, ProbeKind.OK, "HTTP 200", False)
                self.probe(
                    name,
                    False,
                    4,
                    ProbeKind.HTTP_5XX,
                    f"GET {self.url(name, lat_path)}: HTTP 500",
                    True,
                )
                self.log(
                    name,
                    "error",
                    f'GET {lat_path} 500 3ms reason="chaos: injected failure (error_rate=1)"',
                    "stagedeck-probe",
                )
            elif fault == "slow":
                slow = SLO[name] * 4
                self.probe(name, True, slow, ProbeKind.OK, "HTTP 200", False)
                self.probe(
                    name, True, slow + self.rng.uniform(0, 10), ProbeKind.OK, "HTTP 200", True
                )
            else:
                self.probe(name, True, self.rng.uniform(1, 4), ProbeKind.OK, "HTTP 200", False)
                self.probe(name, True, self.rng.uniform(2, 7), ProbeKind.OK, "HTTP 200", True)
                if svc.health != "healthy" and svc.state in ("running", "external"):
                    self.set(name, health="healthy", reason="")
            if fault == "noisy":
                for _ in range(4):
                    self.log(
                        name,
                        "error",
                        'cache refresh failed: {"error": "stale key", "retry_in_ms": 250}',
                    )
        for _ in range(traffic):
            self.checkout(faults)

    def _fail(self, name: str, detail: str) -> None:
        svc = self.services[name]
        health = "down" if svc.health in ("degraded", "down") else "degraded"
        self.set(name, health=health, reason=detail)

    def crash(self, name: str, code: int = -9) -> None:
        self.set(name, state="crashed", health="down", reason="killed by signal 9", exit_code=code)

    def restart(self, name: str) -> None:
        self.set(name, state="starting", health="unknown", reason="starting")
        self.set(name, state="running", health="healthy", reason="")

    def checkout(self, faults: dict[str, str]) -> str:
        """POST /api/orders through gateway -> orders -> inventory, payments, ledger."""
        r = rid(self.rng)
        bad = next(
            (
                s
                for s in ("inventory", "payments", "ledger")
                if faults.get(s) in ("hang", "errors", "crash")
                or self.services[s].state == "crashed"
            ),
            None,
        )
        if faults.get("orders") in ("hang", "errors") or self.services["orders"].state == "crashed":
            bad = "orders"
        body = '{"customer": "suite", "sku": "SKU-3", "qty": 1}'
        if bad is None:
            for s in ("inventory", "payments", "ledger"):
                self.log(s, "info", f"POST /{s} 201 4ms", r)
            self.log(
                "orders",
                "info",
                f"POST /orders 201 19ms order=o-{self.rng.randint(100, 999):05d}",
                r,
            )
            self.log("gateway", "info", "POST /api/orders 201 23ms", r)
            return r
        why = {
            "hang": "timed out after 3s",
            "errors": "HTTP 500: chaos: injected failure (error_rate=1)",
            "crash": "[Errno 111] Connection refused",
        }.get(faults.get(bad, "crash"), "[Errno 111] Connection refused")
        if faults.get(bad) == "errors":
            self.log(
                bad,
                "error",
                f'POST /{bad} 500 2ms reason="chaos: injected failure (error_rate=1)"',
                r,
            )
        if bad != "orders":
            self.log(
                "orders", "error", f'POST /orders 502 3004ms reason="{bad} unavailable: {why}"', r
            )
            chain = f"orders unavailable: HTTP 502: {bad} unavailable: {why}"
        else:
            chain = f"orders unavailable: {why}"
        self.log("gateway", "error", f'POST /api/orders 502 3010ms reason="{chain}" body={body}', r)
        return r

    def history(self, started: float | None = T0) -> History:
        return History(
            now=self.now,
            services=dict(self.services),
            transitions=list(self.transitions),
            probes=list(self.probes),
            logs=list(self.logs),
            changes=list(self.changes),
            seeds=list(self.seeds),
            started=started,
            urls={n: (f"127.0.0.1:{PORTS[n]}",) for n in self.deps if n in PORTS},
        )


def healthy_minutes(rec: Recorder, minutes: float = 2.0, **kw: object) -> None:
    for _ in range(int(minutes * 30)):
        rec.tick(2.0, **kw)  # type: ignore[arg-type]
