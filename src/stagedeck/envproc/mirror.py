"""An engine that mirrors an environment process: what an attached cockpit draws.

:class:`MirrorEngine` is an :class:`~stagedeck.engine.engine.Engine` whose
state arrives over the socket instead of from probes and a target: statuses,
transitions, log lines (already sanitised and masked by the environment
process), latency samples and claims. It probes nothing and starts nothing,
so the tenth viewer costs the environment no probes. Views read it exactly as
they read a local engine; actions go to the environment process through
:meth:`request`, where its rules and audit apply.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from stagedeck.engine.engine import Engine, Transition
from stagedeck.engine.events import (
    ActionHistory,
    ActionProgress,
    Health,
    Notice,
    ProcState,
    RecipeReloaded,
    ServiceStatus,
    StatusChanged,
    TargetConnection,
)
from stagedeck.engine.latency import LatencyWindow
from stagedeck.engine.logs import sanitize
from stagedeck.envproc import wire
from stagedeck.envproc.client import Connection, EnvGone, recipe_with_ports
from stagedeck.recipe.model import Recipe, Service
from stagedeck.targets.base import ExecResult, TargetError, TargetSink
from stagedeck.targets.local.attached import AttachedTarget

GONE = "environment process gone"


class RemoteTarget(AttachedTarget):
    """The target seen from a viewer: every action belongs to the environment process."""

    kind = "attached"

    def __init__(self, recipe: Recipe, sink: TargetSink) -> None:
        super().__init__(recipe, sink)
        self.how: dict[str, str] = {}
        """What a redeploy does to each service, as the environment process's target says."""

    async def open(self) -> None:
        return None

    def describe_redeploy(self, service: Service) -> str:
        return self.how.get(service.name, "the environment process restarts it")

    def _refuse(self, service: Service, what: str) -> TargetError:
        return TargetError(f"cannot {what} {service.name} here: ask the environment process")

    async def exec(
        self,
        service: Service,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
        *,
        log_output: bool = True,
    ) -> ExecResult:
        raise self._refuse(service, "run a command in")


@dataclass
class RemoteOutcome:
    """How a request went, shaped like a plan's outcome (``ok``, times, ``describe``)."""

    action: str
    ok: bool
    outcome: str
    detail: str
    started: float
    finished: float
    audit_id: int | None = None
    fault: dict[str, Any] | None = None
    """For a fault: its id and expiry in the environment process."""

    def describe(self) -> str:
        return self.detail or f"{self.action}: {self.outcome}"


Connector = Callable[[], Awaitable[Connection]]


class MirrorEngine(Engine):
    """A read-through copy of an environment process's engine."""

    remote = True

    def __init__(self, recipe: Recipe, connector: Connector) -> None:
        super().__init__(recipe, target_factory=lambda r, e: RemoteTarget(r, e))
        self._connector = connector
        self.conn: Connection | None = None
        self.gone = False
        """True once the environment process went away under us."""
        self.hello: dict[str, Any] = {}
        self.viewers: list[dict[str, Any]] = []
        self.lost_lines = 0
        """Log lines the environment process skipped for us because we were slow."""
        self.on_gone: Callable[[str], None] = lambda why: None
        self.announce_attach = False
        """Say so when attaching (to an environment someone else started)."""
        self._lost_noticed = 0.0
        self.faults: dict[str, dict[str, Any]] = {}
        """Fault id → what the environment process says of it (in force or lifted)."""

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, bring_up: bool = True) -> None:
        """Attach (the connector may start an environment process first).

        A failure to attach or to start one is shown, not raised: the cockpit keeps
        running and says why (its banner offers to try again)."""
        if self.conn is not None:
            return  # attached already (a command attaches before it builds its requests)
        try:
            conn = await self._connector()
        except Exception as exc:
            self._failed(f"no environment process: {exc}")
            return
        self._attach(conn)

    def _failed(self, text: str) -> None:
        self.gone = True
        self.connection(False, sanitize(text))
        self.bus.publish(Notice(sanitize(text), "error"))
        self.on_gone(sanitize(text))

    def _attach(self, conn: Connection) -> None:
        self.conn = conn
        self.gone = False
        self._apply_hello(conn.hello)
        if self.announce_attach:
            others = ", ".join(self.watching()) or "nobody else"
            self.bus.publish(Notice(f"attached to the {self.describe_source} (watching: {others})"))
        conn.on_message = self._on_message
        conn.on_closed = self._on_closed
        conn.start()

    async def stop(self) -> None:
        """Detach: the environment keeps running for everyone else."""
        conn, self.conn = self.conn, None
        if conn is not None:
            await conn.close()

    async def reattach(self, connector: Connector | None = None) -> None:
        """After the environment process went away: start or find one and attach again."""
        if connector is not None:
            self._connector = connector
        await self.stop()
        conn = await self._connector()
        self._attach(conn)

    @property
    def describe_source(self) -> str:
        h = self.hello
        return sanitize(f"environment process pid {h.get('pid')} run by {h.get('owner')}")

    def watching(self) -> list[str]:
        return sorted({sanitize(str(v.get("user") or v.get("account"))) for v in self.viewers})

    # ------------------------------------------------------------------ actions

    async def request(
        self, action: str, args: dict[str, Any] | None = None, *, forced: bool = False
    ) -> RemoteOutcome:
        conn = self.conn
        now = time.time()
        if conn is None or self.gone:
            return RemoteOutcome(action, False, "error", f"{action} refused: {GONE}", now, now)
        try:
            reply = await conn.request(action, args, forced=forced)
        except EnvGone as exc:
            return RemoteOutcome(action, False, "error", f"{action} interrupted: {exc}", now, now)
        return RemoteOutcome(
            action,
            bool(reply.get("ok")),
            str(reply.get("outcome") or ""),
            sanitize(str(reply.get("detail") or "")),
            float(reply.get("started") or now),
            float(reply.get("finished") or time.time()),
            reply.get("audit_id"),
            reply.get("fault") if isinstance(reply.get("fault"), dict) else None,
        )

    # ------------------------------------------------------------------ the stream

    def _apply_hello(self, hello: dict[str, Any]) -> None:
        self.hello = hello
        ports = hello.get("ports") or {}
        if isinstance(ports, dict):
            adjusted = recipe_with_ports(self.recipe, {str(k): int(v) for k, v in ports.items()})
            if adjusted is not self.recipe:
                self.recipe = adjusted
                self.bus.publish(RecipeReloaded(at=time.time()))
        self.target.manages_processes = False
        target = self.target
        if isinstance(target, RemoteTarget):
            # Its platform's name, so what a viewer offers (faults) matches what it can do.
            target.kind = str(hello.get("target") or target.kind)
            target.how = {
                str(k): sanitize(str(v)) for k, v in (hello.get("redeploy_how") or {}).items()
            }
        for raw in hello.get("statuses") or []:
            status = wire.status_from_wire(raw)
            before = self.statuses.get(status.name)
            self.statuses[status.name] = status
            if status.name not in self.latency:
                self.latency[status.name] = LatencyWindow()
            self.bus.publish(StatusChanged(status, before, time.time()))
        self.transitions.clear()
        for at, service, state, health, reason in hello.get("transitions") or []:
            self.transitions.append(
                Transition(float(at), str(service), ProcState(state), Health(health), str(reason))
            )
        self._logs(hello.get("logs") or [], hello.get("counts") or {})
        if self.traces is not None:
            self.traces.clear()
        self._spans(hello.get("spans") or [])
        self._latency(hello.get("latency") or {})
        self.claims = dict(hello.get("claims") or {})
        self.viewers = list(hello.get("viewers") or [])
        self._faults(hello.get("faults") or [])
        self._start_state(bool(hello.get("starting")))
        steps = [
            wire.event_from_wire(d) for d in hello.get("progress") or [] if isinstance(d, dict)
        ]
        history = tuple(s for s in steps if isinstance(s, ActionProgress))
        self.recent_actions.clear()
        self.recent_actions.extend(history)
        if history:
            self.bus.publish(ActionHistory(history))
        self.version += 1
        detail = self.describe_source
        if not hello.get("connected", True):
            self.connection(False, sanitize(str(hello.get("detail") or "target disconnected")))
        else:
            self.connection(True, detail)

    def _on_message(self, m: dict[str, Any]) -> None:
        kind = m.get("t")
        if kind == "logs":
            self._logs(m.get("l") or [], m.get("c") or {})
        elif kind == "status":
            status = wire.status_from_wire(m["s"])
            before = self.statuses.get(status.name)
            if before is None:
                self.latency.setdefault(status.name, LatencyWindow())
                self.logs.ring(status.name)
            self.statuses[status.name] = status
            moved = before is None or (before.state, before.health) != (
                status.state,
                status.health,
            )
            if moved:
                self.transitions.append(
                    Transition(
                        status.since, status.name, status.state, status.health, status.reason
                    )
                )
            self.version += 1
            self.bus.publish(StatusChanged(status, before, float(m.get("at") or time.time())))
        elif kind == "spans":
            self._spans(m.get("s") or [])
        elif kind == "lat":
            self._latency(m.get("s") or {})
        elif kind == "claims":
            self.claims = dict(m.get("c") or {})
        elif kind == "faults":
            self._faults(m.get("f") or [])
        elif kind == "started":
            self._start_state(False)
        elif kind == "viewers":
            self.viewers = list(m.get("list") or [])
            self.version += 1
        elif kind == "lost":
            self.lost_lines += int(m.get("n") or 0)
            now = time.time()
            if now - self._lost_noticed > 10:
                self._lost_noticed = now
                self.bus.publish(
                    Notice(
                        f"{self.lost_lines} log lines skipped: this cockpit fell behind the flood",
                        "warning",
                    )
                )
        elif kind == "conn":
            ok = bool(m.get("ok"))
            self.connection(
                ok, self.describe_source if ok else sanitize(str(m.get("detail") or ""))
            )
        else:
            event = wire.event_from_wire(m)
            if event is not None:
                if isinstance(event, TargetConnection):
                    return
                if isinstance(event, RecipeReloaded) and not event.problems:
                    self._follow_recipe(m.get("ports") or {})
                self.bus.publish(event)

    def _follow_recipe(self, ports: dict[str, int]) -> None:
        """The environment process put a saved recipe in force: read the same file, so
        suites and views here see the services it now has (keeping its ports)."""
        from stagedeck.recipe.errors import ConfigError
        from stagedeck.recipe.model import load_recipe

        try:
            recipe = load_recipe(
                self.recipe.path, auto_ports=self.recipe.auto_ports, previous=self.recipe
            )
            recipe = recipe_with_ports(recipe, {str(k): int(v) for k, v in ports.items()})
        except (ConfigError, OSError, ValueError):
            return
        for name in [n for n in self.statuses if n not in recipe.services]:
            self.statuses.pop(name, None)
            self.latency.pop(name, None)
        for name in recipe.services:
            if name not in self.statuses:  # its first status change is on its way
                self.statuses[name] = ServiceStatus(name, since=time.time())
                self.latency.setdefault(name, LatencyWindow())
                self.logs.ring(name)
        if recipe.traces is not None and self.traces is None:
            from stagedeck.traces.store import TraceStore

            self.traces = TraceStore(recipe.traces.max_traces, recipe.traces.max_spans)
        self.recipe = recipe
        self.version += 1

    def _start_state(self, starting: bool) -> None:
        """Mirror the environment's first bring-up and seeding as :attr:`starting`, which
        suites wait for (``wait_for_dependencies``) exactly as on a local engine."""
        if starting:
            if self.starting is None or self.starting.done():
                self.starting = asyncio.get_running_loop().create_future()
        elif self.starting is not None and not self.starting.done():
            self.starting.set_result(None)

    def _faults(self, states: list[Any]) -> None:
        self.faults = {
            sanitize(str(d.get("id"))): d for d in states if isinstance(d, dict) and d.get("id")
        }

    def _logs(self, lines: list[list[Any]], counts: dict[str, list[int]]) -> None:
        if lines:
            self.logs.adopt(
                [
                    (float(ts), str(s), str(st), str(tx), str(lv), *more[:1])
                    for ts, s, st, tx, lv, *more in lines
                ]
            )
        for service, numbers in counts.items():
            received, dropped, errors, ceiling = (int(n) for n in numbers[:4])
            self.logs.set_counts(service, received, dropped, errors, ceiling)

    def _spans(self, rows: list[list[Any]]) -> None:
        if self.traces is None or not rows:
            return
        spans = []
        for row in rows:
            try:
                spans.append(wire.span_from_wire(row))
            except (TypeError, ValueError):
                continue  # a malformed row is dropped, as the receiver drops one
        self.traces.add(spans)

    def _latency(self, samples: dict[str, list[list[Any]]]) -> None:
        for name, items in samples.items():
            window = self.latency.setdefault(name, LatencyWindow())
            for at, ms, ok in items:
                window.add(float(ms), bool(ok), float(at))
            # Each sample is a probe the environment process made: whoever recomputes on
            # new probes (triage) does so here as on the engine that made them.
            self.probe_seq += len(items)

    def _on_closed(self, why: str) -> None:
        self.gone = True
        pid = self.hello.get("pid")
        text = why if why != GONE else f"{GONE} (pid {pid})"
        # Nobody vouches for the last known health any more: say unknown, not healthy.
        for name, status in list(self.statuses.items()):
            before = status
            after = dataclasses.replace(status, health=Health.UNKNOWN, reason=text)
            self.statuses[name] = after
            self.bus.publish(StatusChanged(after, before, time.time()))
        self.version += 1
        self._start_state(False)  # nobody will say it is over: do not keep suites waiting
        self.connection(False, text)
        self.bus.publish(Notice(text, "error"))
        self.on_gone(text)

    # ------------------------------------------------------------------ no probing here

    def _start_probe(self, name: str) -> None:
        """The environment process probes; a viewer never does."""

    async def apply_recipe(self, recipe: Recipe) -> Any:
        raise TargetError("the environment process applies recipe changes for every viewer")


async def wait_until(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.02)
    return predicate()
