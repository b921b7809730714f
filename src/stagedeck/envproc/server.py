"""The environment process's socket: a snapshot on attach, then events, batched.

Design rules, because the cockpit is built for 20,000 log lines a second:

* **Encode once, write to all.** Every message is encoded a single time and
  the same bytes are written to every viewer.
* **Batch by time.** Log lines and latency samples are read from the engine's
  bounded buffers every ``FLUSH_SECONDS`` and sent as one message, never one
  per line; status changes are sent as they happen (they are few).
* **A slow viewer never blocks the environment.** Writes never wait. A viewer
  whose socket buffer is over ``LOG_BACKLOG`` misses log batches (counted,
  and told how many with the next one it gets); one that falls ``HARD_BACKLOG``
  behind even on status messages is disconnected.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stagedeck.deadline import within
from stagedeck.engine.engine import Engine
from stagedeck.engine.events import Event, FaultsChanged, RecipeReloaded, StatusChanged
from stagedeck.engine.probes import ProbeResult
from stagedeck.envproc import wire
from stagedeck.envproc.paths import Announcement, Sharing, announce, user_name, withdraw
from stagedeck.envproc.requests import Actions, Caller

log = logging.getLogger("stagedeck.envproc")

FLUSH_SECONDS = 0.025
"""Log batches leave at most this often: under the views' own frame (0.25 s), so
attaching adds little to how old a line looks. The flusher sleeps until something
arrives (a log line, a probe, a span, an event), so a quiet environment does not wake
forty times a second to find nothing."""
LATENCY_BATCH_SECONDS = 1.0
"""A latency sample that is fine (answered, within the SLO), or spans without an error,
wait this long at most for company: the six demo services' probes, spread over their
2 s period, and the spans each probed request exports, otherwise woke every viewer
about nine times a second, and its triage recomputed each time. A failed or too-slow
sample, a span with an error, a status change or a log line goes out at once (and
takes whatever waits with it)."""
QUIET_FLUSH_SECONDS = 1.0
"""With nothing announced, look anyway this often (every latency window, not only the
ones a probe announced): a sample added without a probe record still goes out."""
LOG_BACKLOG = 2 * 1024 * 1024
HARD_BACKLOG = 32 * 1024 * 1024
SNAPSHOT_LOG_LINES = 10_000
SNAPSHOT_TRANSITIONS = 1_000
SNAPSHOT_LATENCY = 600
SNAPSHOT_TRACES = 300
"""The newest traces a viewer gets on attach (the store holds more; the view shows these)."""
PENDING_SPANS = 20_000
"""Spans waiting for the next flush; a burst beyond it is dropped (the store still has it)."""
STARTUP_GRACE = 30.0
"""An ephemeral environment nobody ever attached to stops after this long."""


@dataclass(eq=False)
class Viewer:
    writer: asyncio.StreamWriter
    uid: int
    account: str
    access: str
    user: str = ""
    role: str = "cockpit"
    lost_lines: int = 0
    """Log lines this viewer missed because it was too slow (sent with the next batch)."""
    attached: float = field(default_factory=time.time)

    def backlog(self) -> int:
        transport = self.writer.transport
        return transport.get_write_buffer_size() if transport is not None else 0

    def describe(self) -> dict[str, Any]:
        return {"user": self.user, "account": self.account, "role": self.role}


def peer_credentials(sock: socket.socket) -> tuple[int, int, int]:
    """(pid, uid, gid) of the process at the other end of a Unix socket."""
    raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, gid = struct.unpack("3i", raw)
    return pid, uid, gid


def access_for(uid: int, gid: int, sharing: Sharing) -> str | None:
    """'read-write', 'read-only' or None (no access) for the Unix user ``uid``."""
    if uid == os.getuid():
        return "read-write"
    target = sharing.gid
    if target is None:
        return None
    groups = {gid}
    with contextlib.suppress(KeyError, OSError):
        groups.update(os.getgrouplist(user_name(uid), gid))
    return sharing.mode if target in groups else None


class EnvServer:
    """Serves one engine to any number of viewers on a Unix socket."""

    def __init__(
        self,
        engine: Engine,
        actions: Actions,
        *,
        key: str,
        path: Path,
        sharing: Sharing,
        idle_grace: float | None = None,
        on_stop: Callable[[str], None] | None = None,
    ) -> None:
        self.engine = engine
        self.actions = actions
        self.key = key
        self.path = path
        self.sharing = sharing
        self.idle_grace = idle_grace
        """Stop this long after the last viewer left (None: run until `down`)."""
        self.viewers: list[Viewer] = []
        self.stopped = asyncio.Event()
        self.stop_reason = ""
        self._on_stop = on_stop
        self._server: asyncio.base_events.Server | None = None
        self._log_cursor = engine.logs.seq
        self._latency_seen: dict[str, int] = {}
        self._latency_due: set[str] = set()
        """Services whose latency window a probe added to since the last flush."""
        self._due = asyncio.Event()
        """Something arrived for viewers: the flusher's wake-up."""
        self._latency_timer: asyncio.TimerHandle | None = None
        """Wakes the flusher for fine latency samples (see ``LATENCY_BATCH_SECONDS``)."""
        self._flusher: asyncio.Task[None] | None = None
        self._idle_timer: asyncio.TimerHandle | None = None
        self._unsubscribe: Callable[[], None] | None = None
        self._claims: dict[str, str] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        self._spans: list[Any] = []
        """Spans received since the last flush, to forward to viewers."""
        self._hooked_store: Any = None
        self.started = time.time()
        self.ready = False
        """The engine's first bring-up (and start-up seeding) is over: see :meth:`watch_start`."""

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._prepare_dir()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old_umask = os.umask(0o177 if not self.sharing.group else 0o117)
        try:
            self._server = await asyncio.start_unix_server(
                self._on_client, path=str(self.path), limit=wire.MAX_LINE
            )
        finally:
            os.umask(old_umask)
        gid = self.sharing.gid
        if gid is not None:
            os.chown(self.path, -1, gid)
            os.chmod(self.path, 0o660)
        else:
            os.chmod(self.path, 0o600)
        announce(
            Announcement(
                key=self.key,
                env=self.engine.recipe.name,
                recipe=str(self.engine.recipe.path),
                pid=os.getpid(),
                uid=os.getuid(),
                owner=user_name(os.getuid()),
                socket=str(self.path),
                group=self.sharing.group,
                mode=self.sharing.mode if self.sharing.group else "",
                started=self.started,
            )
        )
        self._latency_seen = {n: w.version for n, w in self.engine.latency.items()}
        self._hook_traces()
        self._unsubscribe = self.engine.subscribe(self._on_event)
        self.engine.probe_listeners.append(self._on_probe)
        self._flusher = asyncio.create_task(self._flush_loop(), name="envproc-flush")
        if self.idle_grace is not None:
            self._arm_idle(max(self.idle_grace, STARTUP_GRACE))

    def watch_start(self) -> None:
        """After ``engine.start()``: tell viewers when its bring-up and seeding end.

        A viewer that attached meanwhile waits for it before running a suite, as a
        cockpit with its own engine does (else the first suite races the seeds)."""
        starting = self.engine.starting
        if starting is None or starting.done():
            self._started()
        else:
            starting.add_done_callback(lambda _: self._started())

    def _started(self) -> None:
        if not self.ready:
            self.ready = True
            self._broadcast(wire.dumps({"t": "started"}))

    def _prepare_dir(self) -> None:
        base = self.path.parent
        gid = self.sharing.gid
        if self.sharing.group and gid is None:
            raise PermissionError(
                f"share_group {self.sharing.group!r} is not a Unix group on this host"
            )
        base.mkdir(parents=True, exist_ok=True, mode=0o700)
        info = base.stat()
        if info.st_uid != os.getuid():
            raise PermissionError(f"{base} belongs to {user_name(info.st_uid)}, not to you")
        if gid is not None:
            os.chown(base, -1, gid)
            # Members may enter (x) to connect; only the owner may add or remove files.
            os.chmod(base, 0o710)
        else:
            os.chmod(base, 0o700)

    def request_stop(self, reason: str) -> None:
        if not self.stopped.is_set():
            self.stop_reason = reason
            self.stopped.set()

    async def close(self) -> None:
        """Tell every viewer, stop listening, withdraw the announcement."""
        if self._unsubscribe is not None:
            self._unsubscribe()
        with contextlib.suppress(ValueError):
            self.engine.probe_listeners.remove(self._on_probe)
        if self._latency_timer is not None:
            self._latency_timer.cancel()
        if self._flusher is not None:
            self._flusher.cancel()
            await asyncio.gather(self._flusher, return_exceptions=True)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        withdraw(self.key, os.getpid())
        bye = wire.dumps({"t": "bye", "reason": self.stop_reason or "environment stopped"})
        for viewer in list(self.viewers):
            with contextlib.suppress(Exception):
                viewer.writer.write(bye)
                viewer.writer.close()
        if self._server is not None:
            self._server.close()
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        for task in list(self._tasks):
            task.cancel()

    # ------------------------------------------------------------------ idle stop

    def _arm_idle(self, delay: float) -> None:
        if self._idle_timer is not None:
            self._idle_timer.cancel()
        loop = asyncio.get_running_loop()
        self._idle_timer = loop.call_later(delay, self._idle_expired)

    def _idle_expired(self) -> None:
        self._idle_timer = None
        if not self.viewers:
            self.request_stop("nobody watching")

    # ------------------------------------------------------------------ connections

    async def _on_client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        try:
            _pid, uid, gid = peer_credentials(sock)
        except OSError:
            writer.close()
            return
        account = user_name(uid)
        access = access_for(uid, gid, self.sharing)
        if access is None:
            owner = user_name(os.getuid())
            writer.write(
                wire.dumps(
                    {
                        "t": "refused",
                        "detail": f"environment {self.engine.recipe.name!r} is run by {owner} "
                        f"and {account} has no access to it",
                    }
                )
            )
            writer.close()
            return
        viewer = Viewer(writer, uid, account, access)
        try:
            first = await within(reader.readline(), 10)
            hello = wire.loads(first) if first else {}
        except (TimeoutError, ValueError, ConnectionError):
            writer.close()
            return
        if hello.get("t") != "attach":
            writer.close()
            return
        viewer.user = str(hello.get("user") or account)[:64]
        viewer.role = str(hello.get("role") or "cockpit")[:16]
        # Flush first (to the others), then the snapshot: the new viewer's stream
        # starts exactly where its snapshot ends, with no line missing or doubled.
        self._flush_now()
        writer.write(wire.dumps(self.snapshot(viewer)))
        self.viewers.append(viewer)
        if self._idle_timer is not None:
            self._idle_timer.cancel()
            self._idle_timer = None
        self._broadcast(wire.dumps(self._viewers_message()))
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                try:
                    message = wire.loads(line)
                except ValueError:
                    continue
                if message.get("t") == "request":
                    task = asyncio.create_task(self._serve_request(viewer, message))
                    self._tasks.add(task)
                    task.add_done_callback(self._tasks.discard)
        except (ConnectionError, asyncio.LimitOverrunError, ValueError):
            pass
        finally:
            self._drop(viewer)

    def _drop(self, viewer: Viewer) -> None:
        if viewer in self.viewers:
            self.viewers.remove(viewer)
            with contextlib.suppress(Exception):
                viewer.writer.close()
            self._broadcast(wire.dumps(self._viewers_message()))
        if not self.viewers and self.idle_grace is not None and not self.stopped.is_set():
            self._arm_idle(self.idle_grace)

    async def _serve_request(self, viewer: Viewer, message: dict[str, Any]) -> None:
        action = str(message.get("action") or "")
        args = message.get("args") or {}
        if not isinstance(args, dict):
            args = {}
        caller = Caller(viewer.user, viewer.account, viewer.access)
        reply = await self.actions.perform(action, args, caller, forced=bool(message.get("forced")))
        with contextlib.suppress(Exception):
            viewer.writer.write(
                wire.dumps({"t": "reply", "id": message.get("id"), **reply.to_wire()})
            )

    # ------------------------------------------------------------------ what viewers get

    def _viewers_message(self) -> dict[str, Any]:
        return {"t": "viewers", "list": [v.describe() for v in self.viewers]}

    def snapshot(self, viewer: Viewer) -> dict[str, Any]:
        engine = self.engine
        hub = engine.logs
        records = hub.all.records(max(hub.all.start, hub.seq - SNAPSHOT_LOG_LINES), hub.seq)
        recipe = engine.recipe
        return {
            "t": "hello",
            "protocol": wire.PROTOCOL,
            "key": self.key,
            "env": recipe.name,
            "recipe": str(recipe.path),
            "pid": os.getpid(),
            "owner": user_name(os.getuid()),
            "started": self.started,
            "access": viewer.access,
            "target": engine.target.kind,
            "manages_processes": engine.target.manages_processes,
            "ports": self._ports(),
            "redeploy_how": {
                n: engine.target.describe_redeploy(svc) for n, svc in recipe.services.items()
            },
            "connected": engine.connected,
            "detail": engine.connection_detail,
            "statuses": [wire.status_to_wire(s) for s in engine.statuses.values()],
            "transitions": [
                [t.at, t.service, t.state.value, t.health.value, t.reason]
                for t in list(engine.transitions)[-SNAPSHOT_TRANSITIONS:]
            ],
            "logs": wire_lines(hub, records),
            "counts": self._counts(hub.services()),
            "latency": {
                n: [[round(a, 3), round(ms, 2), ok] for a, ms, ok in w.tail(SNAPSHOT_LATENCY)]
                for n, w in engine.latency.items()
            },
            "claims": dict(engine.claims),
            "progress": [wire.event_to_wire(step) for step in engine.recent_actions],
            "starting": not self.ready,
            "faults": self.actions.fault_states(),
            "spans": self._trace_snapshot(),
            "viewers": [v.describe() for v in self.viewers],
            "idle_grace": self.idle_grace,
        }

    def _hook_traces(self) -> None:
        """Forward spans as the environment's trace store takes them in.

        The receiver adds decoded spans to ``engine.traces``; wrapping that one
        store's ``add`` (not the class) is the least intrusive way to see them
        without a second copy or a change to the receiver."""
        store = self.engine.traces
        if store is None or store is self._hooked_store:
            return
        self._hooked_store = store
        original = store.add
        pending = self._spans

        def add(spans: Any, now: float | None = None) -> Any:
            spans = list(spans)
            result = original(spans, now)
            if self.viewers:
                pending.extend(spans)
                if len(pending) > PENDING_SPANS:
                    del pending[: len(pending) - PENDING_SPANS]
                if any(getattr(span, "error", False) for span in spans):
                    self._due.set()  # a failed request: evidence, at once
                else:
                    self._batch_soon()  # the probes' own spans, three batches a second
            return result

        store.add = add  # type: ignore[method-assign]

    def _trace_snapshot(self) -> list[list[Any]]:
        store = self.engine.traces
        if store is None:
            return []
        newest = store.newest()[:SNAPSHOT_TRACES]
        return [wire.span_to_wire(span) for trace in reversed(newest) for span in trace.spans]

    def _ports(self) -> dict[str, int]:
        from stagedeck.envproc.client import ports_of

        return ports_of(self.engine.recipe)

    def _counts(self, services: list[str]) -> dict[str, list[int]]:
        hub = self.engine.logs
        return {
            s: [hub.received(s), hub.dropped(s), hub.errors(s), hub.over_ceiling(s)]
            for s in services
        }

    def _wake(self) -> None:
        self._due.set()

    def _on_probe(self, service: str, result: ProbeResult) -> None:
        self._latency_due.add(service)
        spec = self.engine.recipe.services.get(service)
        slo = spec.slo_ms if spec is not None else None
        if not result.ok or (slo is not None and result.ms > slo):
            self._due.set()  # evidence for someone's triage: now
        else:
            self._batch_soon()

    def _batch_soon(self) -> None:
        if self._latency_timer is None:
            try:
                loop = asyncio.get_running_loop()
            except RuntimeError:  # called off the loop: no timer to arm, flush at the next wake
                self._due.set()
                return
            self._latency_timer = loop.call_later(LATENCY_BATCH_SECONDS, self._latency_batch)

    def _latency_batch(self) -> None:
        self._latency_timer = None
        self._due.set()

    def _on_event(self, event: Event) -> None:
        self._due.set()  # an action's event may come with claims to send
        if isinstance(event, FaultsChanged):
            self._broadcast(wire.dumps({"t": "faults", "f": self.actions.fault_states()}))
            return
        message = wire.event_to_wire(event)
        if message is None:
            return
        if isinstance(event, StatusChanged):
            # A crash reason quotes the last log lines: send those lines first.
            self._flush_now()
        elif isinstance(event, RecipeReloaded):
            # "auto" ports of new services are ours: viewers must not pick their own.
            message["ports"] = self._ports()
            self._hook_traces()  # a reload may have made a new trace store
        self._broadcast(wire.dumps(message))

    def _broadcast(self, data: bytes) -> None:
        for viewer in list(self.viewers):
            if viewer.backlog() > HARD_BACKLOG:
                log.warning("dropping viewer %s: %d bytes behind", viewer.user, viewer.backlog())
                self._drop(viewer)
                continue
            try:
                viewer.writer.write(data)
            except Exception:
                self._drop(viewer)

    async def _flush_loop(self) -> None:
        loop = asyncio.get_running_loop()
        last = last_full = loop.time()
        while True:
            self.engine.logs.call_on_next_line(self._wake)
            with contextlib.suppress(TimeoutError):
                await within(self._due.wait(), QUIET_FLUSH_SECONDS)
            self._due.clear()
            # A line after a quiet spell leaves at once; a stream, one batch per period.
            wait = last + FLUSH_SECONDS - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)
            last = loop.time()
            full = last - last_full >= QUIET_FLUSH_SECONDS
            if full:
                last_full = last
            if self._latency_timer is not None:
                self._latency_timer.cancel()  # the waiting samples leave with this flush
                self._latency_timer = None
            try:
                self._flush_now(every_window=full)
            except Exception:
                log.exception("flush failed")

    def _flush_now(self, every_window: bool = True) -> None:
        engine = self.engine
        hub = engine.logs
        if hub.seq != self._log_cursor:
            records = hub.records_since(self._log_cursor)
            self._log_cursor = hub.seq
            if records and self.viewers:
                services = sorted({r[2] for r in records})
                lines = wire_lines(hub, records)
                self._send_logs(lines, self._counts(services))
        samples: dict[str, list[list[Any]]] = {}
        due, self._latency_due = self._latency_due, set()
        if every_window:
            windows = list(engine.latency.items())
        else:
            windows = [(n, engine.latency[n]) for n in due if n in engine.latency]
        for name, window in windows:
            seen = self._latency_seen.get(name, 0)
            if window.version != seen:
                fresh = window.tail(min(window.version - seen, SNAPSHOT_LATENCY))
                self._latency_seen[name] = window.version
                samples[name] = [[round(a, 3), round(ms, 2), ok] for a, ms, ok in fresh]
        if samples and self.viewers:
            self._broadcast(wire.dumps({"t": "lat", "s": samples}))
        if self._spans:
            spans = [wire.span_to_wire(span) for span in self._spans]
            self._spans.clear()
            if self.viewers:
                self._send_batch(wire.dumps({"t": "spans", "s": spans}), len(spans))
        if engine.claims != self._claims:
            self._claims = dict(engine.claims)
            self._broadcast(wire.dumps({"t": "claims", "c": self._claims}))

    def _send_logs(self, lines: list[list[Any]], counts: dict[str, list[int]]) -> None:
        self._send_batch(wire.dumps({"t": "logs", "l": lines, "c": counts}), len(lines))

    def _send_batch(self, data: bytes, items: int) -> None:
        """A batch of log lines or spans: skipped (and counted) for a viewer too far behind."""
        for viewer in list(self.viewers):
            backlog = viewer.backlog()
            if backlog > LOG_BACKLOG:
                viewer.lost_lines += items
                continue
            try:
                if viewer.lost_lines:
                    viewer.writer.write(wire.dumps({"t": "lost", "n": viewer.lost_lines}))
                    viewer.lost_lines = 0
                viewer.writer.write(data)
            except Exception:
                self._drop(viewer)


def wire_lines(hub: Any, records: list[Any]) -> list[list[Any]]:
    """Log records as sent: ``[ts, service, stream, text, level]``, and the colour spans
    as a sixth item on the few lines that have them (a viewer checks them again)."""
    colours = hub.colours
    out: list[list[Any]] = []
    for r in records:
        line = [r[1], r[2], r[3], r[4], r[5]]
        spans = colours.get(r[0]) if colours else None
        if spans:
            line.append(spans)
        out.append(line)
    return out
