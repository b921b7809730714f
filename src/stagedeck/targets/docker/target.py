"""The Docker target: recipe services are containers on a Docker engine.

How it observes, cheaply and without polling each container:

* **State** comes from the engine's event stream, read by one thread
  (``docker-events``). For the few events that matter it inspects the
  container in that same thread, so the loop receives events in order with the
  container's state as of that event. A full inspect happens on open and after
  every reconnect.
* **Logs**: on a unix socket one :class:`LogMux` thread follows every
  container's log stream over plain connections of its own; otherwise (TCP,
  TLS, SSH) one :class:`LogFollower` thread per container does it through the
  SDK. Either way they feed one :class:`LogBatcher`, which wakes the loop about
  ten times a second at most, not once per line.
* **Resources**: with ``stats_interval``, one :class:`StatsSampler` thread takes a
  one-shot stats sample of each running container that often (off by default:
  no view shows them, see ``STATS_SECONDS``).
* **Engine loss**: when the event stream breaks and the engine does not answer
  a ping, the target says so (``sink.connection(False, ...)``), keeps the last
  state, and retries with backoff (0.5 s doubling to 10 s). When the engine is
  back it inspects everything again and reattaches the log streams from the
  last line it saw.

State rules (Docker has no "stopped on purpose" flag, so the events decide):
a container that dies after a stop signal (``docker stop``, our own stop) is
STOPPED; one that dies on its own or from ``docker kill`` is CRASHED with its
exit code; exit code 0 is STOPPED. Events older than the container's current
start are ignored, so a late ``die`` cannot undo a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import docker

from stagedeck.deadline import within
from stagedeck.engine.events import ProcState
from stagedeck.recipe.model import Recipe, Service
from stagedeck.targets.base import ExecResult, Target, TargetError, TargetSink
from stagedeck.targets.docker.logmux import LogMux, MuxFollower
from stagedeck.targets.docker.ops import (
    STOP_GRACE_SECONDS,
    ExecSession,
    connect,
    describe_error,
    inspect,
    recreate,
    snapshot,
    where,
)
from stagedeck.targets.docker.state import (
    PROJECT_LABEL,
    STOP_SIGNALS,
    ContainerView,
    Selector,
    exit_reason,
    selector_for,
)
from stagedeck.targets.docker.streams import (
    STREAM_ERRORS,
    LogBatcher,
    LogFollower,
    LogRecord,
    Stats,
    StatsSampler,
    post,
)

log = logging.getLogger("stagedeck.docker")

STATS_SECONDS: float | None = None
"""Between CPU/memory samples of the containers: none by default. No view draws these
figures (they would reach the engine's statuses and environment-process mirrors), and
a round asks the engine for one stats document per container, which it computes from
the cgroups, and parses each in Python: every 30 s that was a tenth of an idle
20-container cockpit's CPU, for nothing on screen. A view that shows them passes
``stats_interval``."""
T = TypeVar("T")

EVENT_ACTIONS = [
    "create",
    "start",
    "restart",
    "die",
    "kill",
    "stop",
    "oom",
    "pause",
    "unpause",
    "health_status",
    "destroy",
]
"""Container events worth a thought (exec_* events from health checks are left out)."""
INSPECT_ON = frozenset(
    {"start", "restart", "die", "stop", "oom", "pause", "unpause", "health_status"}
)
"""Events after which the watcher inspects the container before telling the loop."""

BACKOFF_START = 0.5
BACKOFF_MAX = 10.0
STABLE_SECONDS = 10.0
"""A connection that lasted this long resets the backoff."""
RECENT_NS = 5_000_000_000
"""Lines younger than this are stamped on arrival; older ones (a backfill) keep their time."""
BACKFILL_LINES = 5_000
"""Lines of log history read at start, shared among the containers (20 get 250 each)."""
MIN_TAIL = 50
CLEAN_EXIT_CODES = frozenset({0, 130, 143})
"""Exit codes of a process that was asked to stop (0, SIGINT, SIGTERM)."""


@dataclass
class _Bound:
    """The container one service is bound to, and what was last said about it."""

    container_id: str
    view: ContainerView
    reported: tuple[object, ...] | None = None
    platform: str | None = None
    started_ns: int = 0
    """Start time of the run that was last reported as up; older events are stale."""
    stop_asked: bool = False
    kill_signal: str = ""
    redeploy_from_ns: int = 0
    restart_count: int = -1
    """Docker's RestartCount last seen (-1: not yet); a rise means the policy restarted it."""


_Step = tuple[ProcState, str]
"""One process_state report: (state, reason)."""


@dataclass
class _Derived:
    """The reports one observation calls for (usually one; a crash-and-restart, two)."""

    steps: list[_Step]
    key: tuple[object, ...]
    """What was reported, so the same observation is not reported twice."""
    exit_code: int | None = None
    pid: int | None = None


@dataclass(frozen=True)
class _Event:
    services: tuple[str, ...]
    container_id: str
    verb: str
    attributes: Mapping[str, str]
    at_ns: int
    view: ContainerView | None


class DockerTarget(Target):
    kind = "docker"
    manages_processes = False

    def __init__(
        self,
        recipe: Recipe,
        sink: TargetSink,
        *,
        docker_host: str | None = None,
        stats_interval: float | None = STATS_SECONDS,
        log_tail: int = 500,
        batch_interval: float = 0.1,
        open_timeout: float = 10.0,
        log_mux: bool = True,
    ) -> None:
        super().__init__(recipe, sink)
        self.docker_host = docker_host
        """Engine address (``unix:///...``, ``tcp://...``); default: the standard environment."""
        self.stats_interval = stats_interval
        self.log_tail = log_tail
        self.batch_interval = batch_interval
        self.open_timeout = open_timeout
        self.log_mux = log_mux
        """Read logs on a unix socket in one thread (:class:`LogMux`); False: a thread each."""
        self.connected = False
        self._client: docker.DockerClient | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._selectors: dict[str, Selector] = self._make_selectors(recipe)
        self._bound: dict[str, _Bound] = {}
        self._missing: dict[str, str] = {}
        self._intent: dict[str, str] = {}
        self._followers: dict[str, LogFollower | MuxFollower] = {}
        self._all_followers: set[LogFollower | MuxFollower] = set()
        """Every follower thread not known to be finished (unbound ones too), for close()."""
        self._stat_targets: dict[str, str] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._closing = threading.Event()
        self._stream_lock = threading.Lock()
        self._events_stream: Any = None
        self._watcher: threading.Thread | None = None
        self._stats: StatsSampler | None = None
        self._batcher: LogBatcher | None = None
        self._logmux: LogMux | None = None
        self._project_watchers: dict[str, list[Callable[[], None]]] = {}
        """Compose project -> callbacks (on the loop) when one of its containers is created
        or destroyed, or the engine's state was read again (see :meth:`watch_project`)."""
        self._first: asyncio.Future[None] | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.resyncs = 0
        """How many times the full state was read (open, reconnects): for tests and the bench."""

    # ------------------------------------------------------------------ lifecycle

    @staticmethod
    def _make_selectors(recipe: Recipe) -> dict[str, Selector]:
        return {n: selector_for(s, recipe.environment) for n, s in recipe.services.items()}

    async def open(self) -> None:
        """Start watching; returns after the first connection attempt (or ``open_timeout``).

        An unreachable engine is not an error here: the target reports it as a
        lost connection and keeps trying, so the cockpit comes up anyway and
        fills in as soon as the engine answers.
        """
        loop = self._loop = asyncio.get_running_loop()
        self._first = loop.create_future()
        self._batcher = LogBatcher(loop, self._deliver_logs, self.batch_interval)
        self._watcher = threading.Thread(target=self._watch, name="docker-events", daemon=True)
        self._watcher.start()
        if self.stats_interval is not None:
            self._stats = StatsSampler(
                self._stats_api,
                lambda: self._stat_targets,
                lambda results: self._post(self._on_stats, results),
                self.stats_interval,
            )
            self._stats.start()
        with contextlib.suppress(TimeoutError):
            await within(asyncio.shield(self._first), self.open_timeout)

    async def close(self, *, stop_services: bool = True) -> None:
        """Stop watching. Containers are never stopped: this cockpit did not start them."""
        self._closing.set()
        with self._stream_lock:
            stream, self._events_stream = self._events_stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.close()
        for follower in self._all_followers:
            follower.stop()
        if self._stats is not None:
            self._stats.stop()
        if self._logmux is not None:
            self._logmux.close()
        for task in list(self._tasks):
            task.cancel()
        if self._batcher is not None:
            self._batcher.flush()
            self._batcher.close()
        followers = [f for f in self._all_followers if isinstance(f, LogFollower)]
        threads = [t for t in (self._watcher, self._stats, self._logmux, *followers) if t]
        await asyncio.to_thread(_join_all, threads, 3.0)
        self._followers.clear()
        self._all_followers.clear()
        client, self._client = self._client, None
        if client is not None:
            with contextlib.suppress(Exception):
                client.close()

    def update_recipe(self, recipe: Recipe) -> None:
        super().update_recipe(recipe)
        selectors = self._make_selectors(recipe)
        changed = {n for n, s in selectors.items() if self._selectors.get(n) != s}
        for gone in set(self._bound) - set(selectors):
            self._unbind(gone)
        self._selectors = selectors
        if changed and self.connected:
            self._spawn(self._resync())

    def watch_project(self, project: str, callback: Callable[[], None]) -> Callable[[], None]:
        """Call ``callback`` on the loop when ``project`` may have gained or lost a container:
        one of its containers was created or destroyed, or the engine was read again after
        a reconnect (events may have been missed). Returns the unsubscribe.

        The events come from the stream the target reads anyway, so following a compose
        project costs nothing while nothing happens to it (it listed the project every
        two seconds)."""
        callbacks = self._project_watchers.setdefault(project, [])
        callbacks.append(callback)

        def unwatch() -> None:
            if callback in callbacks:
                callbacks.remove(callback)

        return unwatch

    def _project_changed(self, project: str | None = None) -> None:
        for name, callbacks in list(self._project_watchers.items()):
            if project is None or name == project:
                for callback in list(callbacks):
                    callback()

    def _post(self, callback: Callable[..., object], *args: Any) -> None:
        if self._loop is not None:
            post(self._loop, callback, *args)

    def _spawn(self, coro: Awaitable[None]) -> None:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _resync(self) -> None:
        api = self._api()
        snap = await asyncio.to_thread(snapshot, api, dict(self._selectors))
        self._on_sync(snap, "")

    # ------------------------------------------------------------------ the watcher thread

    def _watch(self) -> None:
        """Connect, read state, follow events; on loss report it and retry with backoff."""
        assert self._loop is not None
        loop = self._loop
        backoff = BACKOFF_START
        while not self._closing.is_set():
            reason: str | None = None
            client = self._client
            subscribed_at = 0.0
            try:
                if client is None:
                    client = connect(self.docker_host)
                    self._client = client
                detail = f"docker {client.version().get('Version', '?')} at {where(client, None)}"
                events = client.api.events(
                    decode=True, filters={"type": "container", "event": EVENT_ACTIONS}
                )
                with self._stream_lock:
                    if self._closing.is_set():
                        events.close()
                        break
                    self._events_stream = events
                # Subscribed first, inspected second: nothing that happens between is lost.
                snap = snapshot(client.api, dict(self._selectors))
                post(loop, self._on_sync, snap, detail)
                subscribed_at = time.monotonic()
                for raw in events:
                    event = self._digest(client.api, raw)
                    if event is not None:
                        post(loop, self._on_event, event)
                if self._closing.is_set():
                    break
                client.ping()  # the stream ended: is the engine still there?
            except STREAM_ERRORS as exc:
                reason = describe_error(exc)
            except Exception as exc:  # a bug must not end the watching for good
                log.exception("docker watcher failed")
                reason = f"internal error: {exc}"
            finally:
                with self._stream_lock:
                    self._events_stream = None
            if self._closing.is_set():
                break
            if subscribed_at and time.monotonic() - subscribed_at > STABLE_SECONDS:
                backoff = BACKOFF_START  # it worked for a while: retry quickly
            if reason is None:
                # A hiccup (the stream ended, the engine answers): subscribe and read again.
                self._closing.wait(backoff / 2)
                backoff = min(backoff * 2, BACKOFF_MAX)
                continue
            self._client = None
            if client is not None:
                with contextlib.suppress(Exception):
                    client.close()
            log.info("docker engine lost: %s; retrying in %.1fs", reason, backoff)
            post(loop, self._on_lost, f"docker: {reason} ({where(None, self.docker_host)})")
            self._closing.wait(backoff)
            backoff = min(backoff * 2, BACKOFF_MAX)

    def _digest(self, api: docker.APIClient, raw: Mapping[str, Any]) -> _Event | None:
        """Runs in the watcher thread: which services an event concerns, and the fresh state."""
        action = str(raw.get("Action") or raw.get("status") or "")
        verb = action.split(":", 1)[0].strip()
        actor = raw.get("Actor") or {}
        attrs: Mapping[str, str] = actor.get("Attributes") or {}
        container_id = str(actor.get("ID") or raw.get("id") or "")
        name = attrs.get("name", "")
        project = attrs.get(PROJECT_LABEL)
        if verb in ("create", "destroy") and project in self._project_watchers and self._loop:
            post(self._loop, self._project_changed, project)
        services = tuple(s for s, sel in self._selectors.items() if sel.matches(name, attrs))
        if not services or not container_id:
            return None
        at_ns = int(raw.get("timeNano") or int(raw.get("time", 0)) * 1_000_000_000)
        view = None
        if verb in INSPECT_ON:
            try:
                view = inspect(api, container_id)
            except STREAM_ERRORS:
                view = None
        if verb == "health_status" and view is None:
            return None
        return _Event(services, container_id, verb, dict(attrs), at_ns, view)

    # ------------------------------------------------------------------ on the loop

    def _on_sync(self, snap: Mapping[str, ContainerView | None], detail: str) -> None:
        if self._closing.is_set():
            return
        self.resyncs += 1
        for service, view in snap.items():
            if service not in self._selectors:
                continue
            if view is None:
                self._unbind(service)
                why = f"no container with {self._selectors[service].describe()}"
                if self._missing.get(service) != why:
                    self._missing[service] = why
                    self.sink.process_state(service, ProcState.STOPPED, reason=why)
                continue
            bound = self._bound.get(service)
            if bound is None or bound.container_id != view.id:
                bound = self._bind(service, view)
            else:
                bound.view = view
            self._report(service, bound)
            self._ensure_logs(service, bound)
        self._update_stat_targets()
        if detail and not self.connected:
            self.connected = True
            self.sink.connection(True, detail)
        if detail:  # read again after (re)connecting: what changed meanwhile was not seen
            self._project_changed()
        self._resolve_first()

    def _on_lost(self, detail: str) -> None:
        if self._closing.is_set():
            return
        first_attempt = self._first is not None and not self._first.done()
        if self.connected or first_attempt:
            self.connected = False
            self.sink.connection(False, detail)
        self._resolve_first()

    def _resolve_first(self) -> None:
        if self._first is not None and not self._first.done():
            self._first.set_result(None)

    def _on_event(self, event: _Event) -> None:
        if self._closing.is_set():
            return
        for service in event.services:
            bound = self._bound.get(service)
            view = event.view
            if bound is None or bound.container_id != event.container_id:
                # Another container for this service (compose recreated it, or it was
                # missing at open): adopt it when it starts and ours is not running.
                adopt = event.verb == "start" and view is not None and view.running
                if adopt and (bound is None or not bound.view.running):
                    assert view is not None
                    self._bind(service, view)
                    self._report(service, self._bound[service], fresh=True)
                    self._ensure_logs(service, self._bound[service])
                    self._update_stat_targets()
                continue
            self._apply(service, bound, event)

    def _apply(self, service: str, bound: _Bound, event: _Event) -> None:
        verb = event.verb
        if verb == "destroy":
            self._unbind(service)
            why = "container removed"
            self._missing[service] = why
            self.sink.process_state(service, ProcState.STOPPED, reason=why)
            self._update_stat_targets()
            return
        if verb in ("die", "kill", "stop", "oom") and event.at_ns < bound.started_ns:
            return  # from a run that has already been replaced by a newer start
        if verb == "kill":
            signal = event.attributes.get("signal", "")
            bound.kill_signal = signal
            bound.stop_asked = bound.stop_asked or signal in STOP_SIGNALS
            return
        if verb == "stop":
            bound.stop_asked = True
        if event.view is not None:
            if event.view.started_ns < bound.view.started_ns:
                return  # inspected before a later start we already know about
            bound.view = event.view
        fresh = verb in ("start", "restart")
        self._report(service, bound, fresh=fresh)
        if event.view is not None and event.view.running and fresh:
            self._ensure_logs(service, bound)
        self._update_stat_targets()

    def _bind(self, service: str, view: ContainerView) -> _Bound:
        self._unbind(service)
        self._missing.pop(service, None)
        bound = _Bound(view.id, view, restart_count=view.restart_count)
        self._bound[service] = bound
        return bound

    def _unbind(self, service: str) -> None:
        bound = self._bound.pop(service, None)
        if bound is None:
            return
        follower = self._followers.pop(bound.container_id, None)
        if follower is not None and bound.view.running:
            # Still running but no longer this service's: its lines must stop coming.
            # (A stopped one ends by itself once its last lines are read.)
            follower.stop()

    def _folds_platform_health(self, service: str, view: ContainerView) -> bool:
        """No probe of our own but a HEALTHCHECK: Docker's verdict is the health."""
        svc = self.recipe.services.get(service)
        return svc is not None and svc.health is None and view.has_healthcheck

    def _derive(self, service: str, bound: _Bound, fresh: bool) -> _Derived | None:
        """What to report about the bound container now, or None to say nothing."""
        view = bound.view
        intent = self._intent.get(service)
        if intent == "redeploy" and not (view.running and view.started_ns > bound.redeploy_from_ns):
            return None  # mid-redeploy: RESTARTING stands until the new run is up
        if view.running:
            steps: list[_Step] = []
            if view.started_ns > bound.started_ns:
                bound.stop_asked = False
                bound.kill_signal = ""
                restarted = view.restart_count > bound.restart_count
                if restarted and bound.reported is not None and bound.reported[0] != "restarting":
                    # Its restart policy restarted it before we saw it in "restarting".
                    steps.append((ProcState.RESTARTING, "restarted by its restart policy"))
            bound.restart_count = max(bound.restart_count, view.restart_count)
            if self._folds_platform_health(service, view):
                steps.append((ProcState.STARTING, "container started"))
                return _Derived(steps, ("up", view.started_ns))
            steps.append((ProcState.STARTING if fresh else ProcState.RUNNING, ""))
            return _Derived(steps, ("up", view.started_ns), pid=view.pid)
        if view.status == "paused":
            return _Derived([(ProcState.STOPPED, "paused")], ("paused", view.started_ns))
        if view.status == "removing":
            return _Derived([(ProcState.STOPPING, "being removed")], ("removing",))
        if view.status == "created":
            return _Derived([(ProcState.STOPPED, "created, never started")], ("created",))
        code = view.exit_code
        reason = exit_reason(code, oom=view.oom_killed, signal=bound.kill_signal)
        if view.error:
            reason += f": {view.error}"
        if view.status == "restarting":
            # Crashed, and its restart policy will start it again: show both.
            bound.restart_count = max(bound.restart_count, view.restart_count)
            crash_key = (ProcState.CRASHED, view.finished_ns)
            steps = [] if bound.reported == crash_key else [(ProcState.CRASHED, reason)]
            steps.append((ProcState.RESTARTING, f"restarting after it {reason}"))
            return _Derived(steps, ("restarting", view.finished_ns), exit_code=code)
        stopped = (
            intent == "stop"
            or (bound.stop_asked and not view.oom_killed)
            or (code in CLEAN_EXIT_CODES and not bound.kill_signal and not view.oom_killed)
        )
        state = ProcState.STOPPED if stopped else ProcState.CRASHED
        if stopped:
            reason = "stopped, " + reason
        return _Derived([(state, reason)], (state, view.finished_ns), exit_code=code)

    def _report(self, service: str, bound: _Bound, *, fresh: bool = False) -> None:
        derived = self._derive(service, bound, fresh)
        if derived is not None and derived.key != bound.reported:
            if self._batcher is not None and any(
                state in (ProcState.CRASHED, ProcState.STOPPED) for state, _ in derived.steps
            ):
                # Its last words may still wait in the batcher's window: deliver them
                # first, so the crash reason quotes them.
                self._batcher.flush()
            bound.reported = derived.key
            if bound.view.running:
                bound.started_ns = max(bound.started_ns, bound.view.started_ns)
            for state, reason in derived.steps:
                alive = state in (ProcState.STARTING, ProcState.RUNNING)
                gone = state in (ProcState.CRASHED, ProcState.STOPPED)
                self.sink.process_state(
                    service,
                    state,
                    reason=reason,
                    exit_code=derived.exit_code if gone else None,
                    pid=derived.pid if alive else None,
                )
        verdict = (bound.view.health or "none") if bound.view.running else ""
        if verdict != bound.platform:
            bound.platform = verdict
            self.sink.platform_health(service, verdict, reason=bound.view.health_output)

    def _ensure_logs(self, service: str, bound: _Bound) -> None:
        client = self._client
        if client is None or self._batcher is None or self._closing.is_set():
            return
        follower = self._followers.get(bound.container_id)
        if follower is not None and follower.again():
            return
        resume = follower.last if follower is not None else None
        tail = self._backfill_tail()
        fresh: LogFollower | MuxFollower | None = None
        if self.log_mux:
            if self._logmux is None or not self._logmux.is_alive():  # (a bug may end it)
                self._logmux = LogMux(self._batcher)
                self._logmux.start()
            fresh = self._logmux.follow(
                client.api,
                bound.container_id,
                service,
                tty=bound.view.tty,
                resume=resume,
                tail=tail,
            )
        if fresh is None:  # not a unix socket: the SDK's thread per container
            thread = LogFollower(
                client.api,
                bound.container_id,
                service,
                self._batcher,
                tty=bound.view.tty,
                resume=resume,
                tail=tail,
            )
            thread.start()
            fresh = thread
        self._followers[bound.container_id] = fresh
        self._all_followers = {f for f in self._all_followers if not f.finished}
        self._all_followers.add(fresh)

    def _backfill_tail(self) -> int:
        """Lines of history each container's log starts with: ``log_tail``, shared out
        when there are many (all of them start at once, and the first frames wait on the
        back-fill being read and drawn), never fewer than :data:`MIN_TAIL`."""
        share = BACKFILL_LINES // max(1, len(self._selectors))
        return max(min(self.log_tail, MIN_TAIL), min(self.log_tail, share))

    def _update_stat_targets(self) -> None:
        self._stat_targets = {s: b.container_id for s, b in self._bound.items() if b.view.running}

    def _stats_api(self) -> docker.APIClient | None:
        client = self._client
        return client.api if client is not None and self.connected else None

    def _on_stats(self, results: list[Stats]) -> None:
        for service, cpu, memory in results:
            if service in self._stat_targets:
                self.sink.resources(service, cpu, memory)

    def _deliver_logs(self, records: list[LogRecord]) -> None:
        """One batch from the followers: recent lines in runs per service, backfill with times."""
        cut = time.time_ns() - RECENT_NS
        run_key: tuple[str, str] | None = None
        run: list[str] = []
        for service, stream, ts, text in records:
            if ts < cut:
                if run_key is not None:
                    self.sink.log_many(run_key[0], run, run_key[1])
                    run_key, run = None, []
                self.sink.log(service, text, stream, ts / 1e9)
                continue
            if (service, stream) != run_key:
                if run_key is not None:
                    self.sink.log_many(run_key[0], run, run_key[1])
                run_key, run = (service, stream), []
            run.append(text)
        if run_key is not None:
            self.sink.log_many(run_key[0], run, run_key[1])

    # ------------------------------------------------------------------ actions

    def _api(self) -> docker.APIClient:
        client = self._client
        if client is None or not self.connected:
            raise TargetError(
                f"the Docker engine is not reachable ({where(None, self.docker_host)}); "
                "stagedeck keeps retrying"
            )
        return client.api

    def _lock_for(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    async def _call(self, what: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking SDK call in a thread; SDK errors become a TargetError that says why."""
        try:
            return await asyncio.to_thread(func, *args, **kwargs)
        except docker.errors.NotFound as exc:
            raise TargetError(f"{what}: {describe_error(exc)}") from None
        except docker.errors.APIError as exc:
            raise TargetError(f"{what}: {describe_error(exc)}") from None
        except STREAM_ERRORS as exc:
            raise TargetError(f"{what}: Docker engine: {describe_error(exc)}") from None

    async def _bound_for(self, service: Service) -> _Bound:
        api = self._api()
        bound = self._bound.get(service.name)
        if bound is None:
            # Maybe created since we last looked (a `docker create` emits no start event).
            selector = {service.name: self._selectors[service.name]}
            snap = await self._call(f"find {service.name}", snapshot, api, selector)
            self._on_sync(snap, "")
            bound = self._bound.get(service.name)
        if bound is None:
            raise TargetError(
                f"{service.name}: {self._missing.get(service.name, 'no container')}; "
                "create it first (for example with docker compose up)"
            )
        return bound

    async def _refresh(self, service: str, container_id: str, *, fresh: bool) -> None:
        view = await self._call(service, inspect, self._api(), container_id)
        bound = self._bound.get(service)
        if view is None or bound is None or bound.container_id != container_id:
            return
        if view.started_ns >= bound.view.started_ns:
            bound.view = view
        self._report(service, bound, fresh=fresh)
        if view.running:
            self._ensure_logs(service, bound)
        self._update_stat_targets()

    async def start(self, service: Service) -> None:
        async with self._lock_for(service.name):
            bound = await self._bound_for(service)
            if bound.view.running:
                return
            api = self._api()
            if bound.view.status == "paused":
                await self._call(f"unpause {service.name}", api.unpause, bound.container_id)
            else:
                await self._call(f"start {service.name}", api.start, bound.container_id)
            await self._refresh(service.name, bound.container_id, fresh=True)

    async def stop(self, service: Service) -> None:
        async with self._lock_for(service.name):
            bound = await self._bound_for(service)
            api = self._api()
            self._intent[service.name] = "stop"
            try:
                self.sink.process_state(service.name, ProcState.STOPPING)
                bound.reported = None
                await self._call(
                    f"stop {service.name}",
                    api.stop,
                    bound.container_id,
                    timeout=STOP_GRACE_SECONDS,
                )
                await self._refresh(service.name, bound.container_id, fresh=False)
            finally:
                self._intent.pop(service.name, None)

    def container_id(self, name: str) -> str | None:
        """The id of the container ``name`` is bound to now (None: none found yet)."""
        bound = self._bound.get(name)
        return bound.container_id if bound is not None else None

    def describe_redeploy(self, service: Service) -> str:
        return "its container is " + ("recreated" if service.recreate else "restarted")

    async def redeploy(self, service: Service) -> None:
        """Restart the container, or with ``recreate = true`` replace it by a twin; then start.

        Returns once the container was started; the engine then waits for health.
        """
        async with self._lock_for(service.name):
            bound = await self._bound_for(service)
            api = self._api()
            self._intent[service.name] = "redeploy"
            bound.redeploy_from_ns = bound.view.started_ns
            self.sink.process_state(service.name, ProcState.RESTARTING)
            bound.reported = ("restarting",)
            container_id = bound.container_id
            try:
                if service.recreate:
                    container_id = await self._call(
                        f"recreate {service.name}", recreate, api, bound.container_id
                    )
                    view = await self._call(service.name, inspect, api, container_id)
                    if view is None:
                        raise TargetError(f"{service.name}: the new container vanished")
                    current = self._bound.get(service.name)
                    if current is None or current.container_id != container_id:
                        current = self._bind(service.name, view)
                    current.redeploy_from_ns = bound.redeploy_from_ns
                    current.reported = ("restarting",)
                else:
                    await self._call(
                        f"restart {service.name}",
                        api.restart,
                        bound.container_id,
                        timeout=STOP_GRACE_SECONDS,
                    )
                await self._refresh(service.name, container_id, fresh=True)
            except BaseException:
                self._intent.pop(service.name, None)
                current = self._bound.get(service.name)
                if current is not None:
                    current.reported = None
                    with contextlib.suppress(TargetError):
                        await self._refresh(service.name, current.container_id, fresh=False)
                raise
            finally:
                self._intent.pop(service.name, None)

    async def exec(
        self,
        service: Service,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
        *,
        log_output: bool = True,
    ) -> ExecResult:
        """Run ``argv`` inside the service's container; its output goes to the service's log."""
        bound = await self._bound_for(service)
        if not bound.view.running:
            raise TargetError(f"{service.name}: the container is not running")
        api = self._api()
        batcher = self._batcher
        assert batcher is not None
        tail: deque[str] = deque(maxlen=200)
        name = service.name

        def on_lines(lines: list[str]) -> None:  # in the exec thread
            tail.extend(lines)
            if log_output:
                now = time.time_ns()
                batcher.add([(name, "exec", now, text) for text in lines])

        session = ExecSession(api, bound.container_id, argv, env, on_lines)
        running = asyncio.ensure_future(self._call(f"exec in {name}", session.run))
        try:
            code = await within(asyncio.shield(running), timeout)
        except TimeoutError:
            session.cancel()
            with contextlib.suppress(Exception):
                await running
            tail.append(f"gave up after {timeout:g}s (the command may still run in the container)")
            code = -1
        except asyncio.CancelledError:
            session.cancel()
            raise
        batcher.flush()
        return ExecResult(code, "\n".join(tail))


def _join_all(threads: Sequence[threading.Thread], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    for thread in threads:
        if thread.is_alive() and thread is not threading.current_thread():
            thread.join(max(0.0, deadline - time.monotonic()))
