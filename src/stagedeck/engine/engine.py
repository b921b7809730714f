"""The engine: one environment, watched and acted on, with no UI in sight.

The engine is the single owner of service state. Targets report what the
platform says (process started, container died), probes report what the
services answer, and the engine folds both into one :class:`ServiceStatus`
per service, publishes a :class:`StatusChanged` when something a person would
notice changes, and keeps bounded history (transitions, logs, latency) for
the views and for failure context.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import importlib
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from stagedeck.deadline import within
from stagedeck.engine.clock import wall
from stagedeck.engine.events import (
    ActionProgress,
    Event,
    EventBus,
    Health,
    Notice,
    ProcState,
    ServiceStatus,
    StatusChanged,
    TargetConnection,
)
from stagedeck.engine.graph import DependencyGraph
from stagedeck.engine.http_probe import KeepAliveClient, handles
from stagedeck.engine.latency import LatencyWindow
from stagedeck.engine.logs import LogHub
from stagedeck.engine.probes import (
    HealthTracker,
    ProbeKind,
    ProbeRecord,
    ProbeResult,
    probe_http,
    probe_http_lean,
    probe_in_service,
    run_check,
)
from stagedeck.engine.recipe_diff import ReloadOutcome, diff_recipes
from stagedeck.recipe.model import HealthCheck, Recipe, Service
from stagedeck.recipe.secrets import install_masker
from stagedeck.targets import make_target
from stagedeck.targets.base import Target

if TYPE_CHECKING:
    from stagedeck.traces.otlp_logs import LogRecord
    from stagedeck.traces.receiver import OtlpReceiver
    from stagedeck.traces.store import TraceStore

log = logging.getLogger("stagedeck.engine")
T = TypeVar("T")

PROBES_KEPT = 120
"""Per service, the last probe outcomes kept for triage (a hang vs a crash vs an app error)."""
ACTIONS_KEPT = 300
"""Recent action steps kept for viewers that attach later (a reseed has a few per seed)."""

STARTING_PROBE_INTERVAL = 0.1
"""While a service starts we probe fast, so "healthy" shows the moment it is."""
STOP_TASKS_S = 5.0
"""How long stop() waits for its probes and background work before going on without them."""

PROBE_HEADERS = {"User-Agent": "stagedeck", "X-Request-Id": "stagedeck-probe"}
_ALIVE = (ProcState.STARTING, ProcState.RUNNING, ProcState.EXTERNAL)
_GONE = (ProcState.CRASHED, ProcState.FAILED, ProcState.STOPPED)
_RESTARTED_FROM = (
    ProcState.RESTARTING,
    ProcState.STOPPING,
    ProcState.STOPPED,
    ProcState.CRASHED,
    ProcState.FAILED,
)


@dataclass(frozen=True, slots=True)
class Transition:
    """One recorded change, kept for failure context and the graph's "last transition"."""

    at: float
    service: str
    state: ProcState
    health: Health
    reason: str


class Engine:
    """Wires a recipe to a target, probes, a log hub and subscribers."""

    def __init__(
        self,
        recipe: Recipe,
        *,
        target_factory: Callable[[Recipe, Engine], Target] | None = None,
        clock: Callable[[], float] = wall,
        attach: bool = False,
    ) -> None:
        self.recipe = recipe
        self.clock = clock
        self.bus = EventBus()
        self.logs = LogHub(per_service=recipe.environment.log_buffer)
        # Secrets never reach the screen: service output is masked at ingest.
        install_masker(self.logs, recipe)
        self.latency: dict[str, LatencyWindow] = {}
        self.statuses: dict[str, ServiceStatus] = {}
        self.transitions: deque[Transition] = deque(maxlen=5000)
        self.connected = False
        self.connection_detail = "not connected"
        self.version = 0
        """Bumped whenever any status changes: views compare it to skip redraws."""
        self.claims: dict[str, str] = {}
        """Service → the action working on it now (see ``actions.claim``)."""
        self.probe_log: dict[str, deque[ProbeRecord]] = {}
        """Per service, recent health-check and latency-probe outcomes with their kind."""
        self.api_answers: set[str] = set()
        """Services whose health endpoint answers unhealthy while their API works."""
        self.probe_seq = 0
        """Bumped on every recorded probe: triage recomputes only when something arrived."""
        self.probe_listeners: list[Callable[[str, ProbeResult], None]] = []
        """Called with the service's name and the result after each health check or latency
        sample is recorded: the environment process forwards them without polling."""
        self._trackers: dict[str, HealthTracker] = {}
        self._probe_tasks: dict[str, asyncio.Task[None]] = {}
        self._kick: dict[str, asyncio.Event] = {}
        self._background: set[asyncio.Task[Any]] = set()
        self._stopping = False
        self.starting: asyncio.Future[None] | None = None
        """The first bring-up (and seeding): suites started meanwhile wait for it."""
        self.recent_actions: deque[ActionProgress] = deque(maxlen=ACTIONS_KEPT)
        """The last action steps, so what attaches later still knows what was done."""
        self._client: asyncio.Future[Any] | None = None
        """An ``httpx.AsyncClient`` being made or made, once a probe needs one."""
        self._lean = KeepAliveClient(PROBE_HEADERS)
        """Plain-http checks go here: a fraction of httpx's CPU per request."""
        self._lean_ok: dict[str, bool] = {}
        self._started = False
        self.traces: TraceStore | None = None
        """Recent traces, when the recipe has a ``[traces]`` section."""
        self.otlp: OtlpReceiver | None = None
        """The OTLP receiver feeding :attr:`traces`, once listening."""
        if recipe.traces is not None:
            from stagedeck.traces.store import TraceStore

            self.traces = TraceStore(recipe.traces.max_traces, recipe.traces.max_spans)
        factory = target_factory or (lambda r, e: make_target(r, e, attach=attach))
        self.target: Target = factory(recipe, self)
        self._apply_services(recipe)
        self.bus.subscribe(self._keep_action)

    def _keep_action(self, event: Event) -> None:
        if isinstance(event, ActionProgress):
            self.recent_actions.append(event)

    # ------------------------------------------------------------------ basics

    @property
    def graph(self) -> DependencyGraph:
        return self.recipe.graph

    def service(self, name: str) -> Service:
        return self.recipe.services[name]

    def subscribe(self, subscriber: Callable[[Event], None]) -> Callable[[], None]:
        return self.bus.subscribe(subscriber)

    def down(self) -> set[str]:
        return {n for n, s in self.statuses.items() if s.health is Health.DOWN}

    def _apply_services(self, recipe: Recipe) -> None:
        for name, svc in recipe.services.items():
            if name not in self.statuses:
                self.statuses[name] = ServiceStatus(name, since=self.clock())
                self.latency[name] = LatencyWindow()
                self.logs.ring(name)
            self.probe_log.setdefault(name, deque(maxlen=PROBES_KEPT))
            check = svc.health
            self._trackers[name] = HealthTracker(
                check.retries if check else recipe.environment.failures_before_down,
                check.start_period if check else 0.0,
            )

    # ------------------------------------------------------------------ lifecycle

    async def start(self, *, bring_up: bool = True) -> None:
        """Connect the target and begin probing; for local targets, start the services."""
        self._started = True
        if any(self._needs_httpx(svc) for svc in self.recipe.services.values()):
            # httpx (and certifi) take a noticeable moment to import: in a thread, while
            # the target connects, instead of before it (that delayed the first container
            # list and log line by 0.15-0.25 s).
            self._http_client()
        await self.start_traces()
        try:
            await self.target.open()
        except Exception as exc:  # the cockpit keeps running, disconnected
            log.exception("target failed to open")
            self.connection(False, f"{self.recipe.environment.target}: {exc}")
        for name in self.recipe.services:
            self._start_probe(name)
        if bring_up and self.target.manages_processes:
            self.starting = self.spawn(self._bring_up_then_seed())
        if self.recipe.compose_services is not None and self.recipe.environment.target == "docker":
            from stagedeck.targets.docker.follow import follow_project

            self.spawn(follow_project(self))

    async def _bring_up_then_seed(self) -> None:
        """Bring up; then, when the recipe asks (``seed_on_start``), load its seeds once."""
        from stagedeck.engine.actions import bring_up as plan

        outcome = await plan(self)
        env = self.recipe.environment
        if not (env.seed_on_start and self.recipe.seeds):
            return
        if not outcome.ok:
            self.bus.publish(Notice("test data not loaded: bring-up failed; press s", "warning"))
            return
        from stagedeck.engine.seeding import reseed

        self.bus.publish(Notice("loading test data (seeds)…", "information"))
        await reseed(self)

    def _lean_handles(self, url: str) -> bool:
        ok = self._lean_ok.get(url)
        if ok is None:
            ok = self._lean_ok[url] = handles(url)
        return ok

    def _needs_httpx(self, svc: Service) -> bool:
        """Whether probing ``svc`` takes httpx (https, a proxy): most recipes never do."""
        check = svc.health
        urls = [*svc.latency, *([check.url] if check is not None and check.kind == "http" else [])]
        return any(not self._lean_handles(url) for url in urls)

    async def _get(
        self, url: str, timeout: float, status: tuple[int, int], body: str = ""
    ) -> ProbeResult:
        if self._lean_handles(url):
            return await probe_http_lean(self._lean, url, timeout, status, body)
        return await probe_http(await self._http_client(), url, timeout, status, body)

    async def _check(self, check: HealthCheck) -> ProbeResult:
        if check.kind == "http":
            return await self._get(check.url, check.timeout, check.status, check.body)
        return await run_check(None, check)

    def _http_client(self) -> asyncio.Future[Any]:
        """The shared ``httpx.AsyncClient``, made on first need (imported in a thread)."""
        if self._client is None:
            self._client = asyncio.ensure_future(_make_http_client())
        return self._client

    async def start_traces(self) -> None:
        """Listen for OTLP spans before the services start (they send from their first request)."""
        config = self.recipe.traces
        if config is None or self.traces is None or self.otlp is not None:
            return
        from stagedeck.traces.receiver import OtlpReceiver

        receiver = OtlpReceiver(
            self.traces,
            config.host,
            config.port,
            max_body=config.max_body,
            on_logs=self._otlp_logs,
        )
        try:
            await receiver.start()
        except OSError as exc:
            self.bus.publish(
                Notice(
                    f"traces: cannot listen on {config.host}:{config.port}: "
                    f"{exc.strerror or exc} (set another port in [traces])",
                    "warning",
                )
            )
            return
        self.otlp = receiver

    def _otlp_logs(self, records: list[LogRecord]) -> None:
        """Log records sent over OTLP join the service's log (recipe services only: a
        sender must not be able to create rings by naming services)."""
        services = self.recipe.services
        for record in records:
            if record.service in services:
                self.logs.append(record.service, record.line(), "otlp", record.ts)

    async def _retrace(self, recipe: Recipe) -> None:
        """A reload changed ``[traces]``: listen where it now says, keep what is held."""
        if self.otlp is not None:
            await self.otlp.close()
            self.otlp = None
        config = recipe.traces
        if config is None:
            self.traces = None
            return
        if self.traces is None:
            from stagedeck.traces.store import TraceStore

            self.traces = TraceStore(config.max_traces, config.max_spans)
        else:
            self.traces.max_traces, self.traces.max_spans = config.max_traces, config.max_spans
        await self.start_traces()
        self.bus.publish(
            Notice(
                f"traces: now received at {config.endpoint}; services started before "
                "the change send to the old address until they are redeployed",
                "information",
            )
        )

    def spawn(self, coro: Coroutine[Any, Any, T]) -> asyncio.Task[T]:
        """Run a background coroutine that the engine cancels on stop."""
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
        return task

    async def stop(self) -> None:
        """Stop probing and close the target (stopping services the target manages)."""
        self._stopping = True
        tasks = [*self._probe_tasks.values(), *self._background]
        for task in tasks:
            task.cancel()
        try:
            # Bounded: a task that swallowed its cancellation (a library's wait_for on
            # 3.11 can) must not keep the environment from stopping; it is told again.
            await within(asyncio.gather(*tasks, return_exceptions=True), STOP_TASKS_S)
        except TimeoutError:
            stuck = ", ".join(t.get_name() for t in tasks if not t.done())
            log.error("stopping: still running after %gs, left behind: %s", STOP_TASKS_S, stuck)
        self._probe_tasks.clear()
        if self.otlp is not None:
            await self.otlp.close()
            self.otlp = None
        try:
            await self.target.close(stop_services=True)
        finally:
            await self._lean.aclose()
            client, self._client = self._client, None
            if client is not None:
                if client.done() and not client.cancelled() and client.exception() is None:
                    await client.result().aclose()
                else:
                    client.cancel()

    # ------------------------------------------------------------------ state

    def _update(self, name: str, **changes: object) -> ServiceStatus:
        before = self.statuses.get(name)
        if before is None:
            before = ServiceStatus(name, since=self.clock())
        after = dataclasses.replace(before, **changes)  # type: ignore[arg-type]
        if after == before:
            return before
        moved = (after.state, after.health) != (before.state, before.health)
        if moved:
            after = dataclasses.replace(after, since=self.clock())
            self.transitions.append(
                Transition(after.since, name, after.state, after.health, after.reason)
            )
        self.statuses[name] = after
        self.version += 1
        if moved or after.reason != before.reason or after.restarts != before.restarts:
            self.bus.publish(StatusChanged(after, before, self.clock()))
        return after

    # TargetSink -----------------------------------------------------------

    def process_state(
        self,
        service: str,
        state: ProcState,
        *,
        reason: str = "",
        exit_code: int | None = None,
        pid: int | None = None,
    ) -> None:
        if service not in self.statuses:
            return
        current = self.statuses[service]
        changes: dict[str, object] = {"state": state}
        if pid is not None:
            changes["pid"] = pid
        if state in _GONE:
            changes["health"] = Health.DOWN
            changes["pid"] = None
            changes["exit_code"] = exit_code
            if state is ProcState.CRASHED:
                # Only a last line that reads like a cause: quoting a successful request
                # ("POST /payments 201") as the reason for a kill misleads.
                cause = _last_error_line(self.logs.last(service, 20))
                changes["reason"] = reason + (f": {cause}" if cause else "")
            else:
                changes["reason"] = reason or state.value
        elif state is ProcState.STARTING:
            self._trackers[service].restarted()
            changes["health"] = Health.UNKNOWN
            changes["reason"] = reason or "starting"
            changes["exit_code"] = None
            if self.service(service).health is None and pid is not None:
                # Nothing to probe: running is the best we can know, and we say so.
                changes["state"] = ProcState.RUNNING
                changes["health"] = Health.UNCHECKED
                changes["reason"] = "running (no health check)"
        elif state is ProcState.RESTARTING:
            changes["restarts"] = current.restarts + 1
            changes["reason"] = reason or "restarting"
            # Not serving while it restarts; and the old verdict says nothing about the new one.
            changes["health"] = Health.DOWN
            self._trackers[service].restarted()
        elif (
            state is ProcState.RUNNING
            and current.state in _RESTARTED_FROM
            and self.service(service).health is not None
        ):
            # Just (re)started by the platform (a container start after a restart): it is
            # starting until a probe says healthy, so a redeploy cannot pass on stale health.
            self._trackers[service].restarted()
            changes["state"] = ProcState.STARTING
            changes["health"] = Health.UNKNOWN
            changes["reason"] = reason or "starting"
        elif state in (ProcState.RUNNING, ProcState.EXTERNAL):
            if self.service(service).health is None:
                health, why = self._health_without_check(current)
                changes["health"] = health
                reason = reason or why
            changes["reason"] = reason
        else:
            changes["reason"] = reason or state.value
        self._update(service, **changes)
        kick = self._kick.get(service)
        if kick is not None:
            kick.set()

    def _health_without_check(self, status: ServiceStatus) -> tuple[Health, str]:
        """The health of a running service with no check of ours, and why.

        Kubernetes' running means ready (its readiness probe is the check). A Docker
        container reported running (not starting) has no HEALTHCHECK, or the platform's
        verdict is already known: it was called healthy here until that verdict came a
        moment later, and the history (which triage reads) kept a "healthy" that nothing
        had checked. A local process has no check at all.
        """
        target = self.recipe.environment.target
        if target == "docker" and status.platform_health == "healthy":
            return Health.HEALTHY, ""
        if target == "docker" and status.platform_health == "unhealthy":
            return Health.DOWN, "platform health check fails"
        if target in ("local", "docker"):
            return Health.UNCHECKED, "running (no health check)"
        return Health.HEALTHY, ""

    def probe_now(self, service: str) -> None:
        """Probe ``service`` now rather than at its next interval (a fault was just lifted)."""
        kick = self._kick.get(service)
        if kick is not None:
            kick.set()

    def platform_health(self, service: str, verdict: str, *, reason: str = "") -> None:
        if service not in self.statuses:
            return
        changes: dict[str, object] = {"platform_health": verdict}
        status = self.statuses[service]
        svc = self.recipe.services.get(service)
        if svc is not None and svc.health is None and status.state in _ALIVE:
            # No probe of our own: the platform's verdict (Docker HEALTHCHECK) is the health.
            if verdict == "healthy":
                changes.update(health=Health.HEALTHY, reason="")
                if status.state is ProcState.STARTING:
                    changes["state"] = ProcState.RUNNING
            elif verdict == "none":  # no HEALTHCHECK in the image: running is all we know
                changes.update(health=Health.UNCHECKED, reason="running (no health check)")
            elif verdict == "unhealthy":
                changes.update(health=Health.DOWN, reason=reason or "platform health check fails")
        self._update(service, **changes)

    def log(self, service: str, text: str, stream: str = "out", ts: float | None = None) -> None:
        self.logs.append(service, text, stream, ts)

    def log_many(
        self, service: str, lines: Sequence[str], stream: str = "out", *, admitted: bool = False
    ) -> None:
        self.logs.extend(service, lines, stream, admitted=admitted)

    def admit_lines(self, service: str, count: int) -> int:
        return self.logs.admit(service, count)

    def resources(self, service: str, cpu_percent: float | None, memory_bytes: int | None) -> None:
        """Record a CPU and memory sample. Not a change of ``version``: no view draws these,
        and every sample (each container, every few seconds) made the services table, the
        graph and its detail recompute and repaint."""
        status = self.statuses.get(service)
        if status is not None:
            self.statuses[service] = dataclasses.replace(
                status, cpu_percent=cpu_percent, memory_bytes=memory_bytes
            )

    def connection(self, connected: bool, detail: str = "") -> None:
        if (connected, detail) == (self.connected, self.connection_detail):
            return
        self.connected = connected
        self.connection_detail = detail
        self.version += 1
        self.bus.publish(TargetConnection(connected, detail, self.clock()))

    # ------------------------------------------------------------------ probes

    def _start_probe(self, name: str) -> None:
        self._kick[name] = asyncio.Event()
        self._probe_tasks[name] = asyncio.create_task(self._probe_loop(name), name=f"probe:{name}")

    async def _probe_loop(self, name: str) -> None:
        while not self._stopping:
            svc = self.recipe.services.get(name)
            if svc is None:
                return
            status = self.statuses[name]
            check = svc.health
            interval = check.interval if check else self.recipe.environment.probe_interval
            if status.state in _ALIVE or (
                status.state is ProcState.PENDING and not self.target.manages_processes
            ):
                if check is not None:
                    try:
                        await self._probe_once(svc)
                    except asyncio.CancelledError:
                        raise
                    except Exception:
                        log.exception("probe of %s failed", name)
                if self.statuses[name].state is ProcState.STARTING:
                    interval = STARTING_PROBE_INTERVAL
            kick = self._kick[name]
            if check is None:
                # Nothing to probe: sleep until a state change or a new definition kicks
                # (500 check-less services woke 250 times a second for nothing).
                await kick.wait()
            else:
                with contextlib.suppress(TimeoutError):
                    await within(kick.wait(), interval)
            kick.clear()

    async def _run_health(self, svc: Service) -> ProbeResult:
        """One run of the service's health check, where the recipe says it runs."""
        assert svc.health is not None
        if svc.health.in_service:
            return await probe_in_service(self.target, svc, svc.health)
        return await self._check(svc.health)

    async def _probe_once(self, svc: Service) -> None:
        assert svc.health is not None
        starting = self.statuses[svc.name].state is ProcState.STARTING
        if svc.latency and not starting:
            timeout = svc.health.timeout
            result, samples = await asyncio.gather(
                self._run_health(svc),
                asyncio.gather(*(self._get(url, timeout, (200, 499)) for url in svc.latency)),
            )
            for sample in samples:
                self.latency[svc.name].add(sample.ms, sample.ok)
                self._log_probe(svc.name, sample, latency=True)
            api_answers = bool(samples) and all(s.ok for s in samples)
        else:
            result = await self._run_health(svc)
            if not starting:
                self.latency[svc.name].add(result.ms, result.ok)
            api_answers = False
        self.record_probe(svc.name, result, api_answers=api_answers)

    def record_probe(self, name: str, result: ProbeResult, *, api_answers: bool = False) -> None:
        """Fold one health check result into the service's status.

        ``api_answers``: the service's latency URLs answered in the same round. A
        health endpoint that *answers* unhealthy (an HTTP status, a bad body) while
        the API works is then *degraded*, not down: not an outage, and suites that
        depend on it run (see ``api_answers`` on the engine).
        """
        status = self.statuses.get(name)
        if status is None:
            return
        if status.state not in _ALIVE and not (
            status.state is ProcState.PENDING and not self.target.manages_processes
        ):
            return  # the process went away while we were probing
        tracker = self._trackers[name]
        if result.detail and not result.ok:
            result = ProbeResult(result.ok, result.ms, self.recipe.mask(result.detail), result.kind)
        self._log_probe(name, result, latency=False)
        if status.state is ProcState.STARTING:
            if result.ok:
                tracker.record(result)
                self._update(name, state=ProcState.RUNNING, health=Health.HEALTHY, reason="")
            else:
                self._update(name, reason=f"waiting: {result.detail}")
            return
        health = tracker.record(result)
        reason = "" if result.ok else result.detail
        if not result.ok and api_answers and result.kind in _ANSWERED:
            self.api_answers.add(name)
            health = Health.DEGRADED
            reason = f"{result.detail} (health endpoint only: its API answers)"
        else:
            self.api_answers.discard(name)
        changes: dict[str, object] = {"health": health, "reason": reason}
        if status.state is ProcState.PENDING:
            changes["state"] = ProcState.EXTERNAL
        self._update(name, **changes)

    def _log_probe(self, name: str, result: ProbeResult, *, latency: bool) -> None:
        log_ = self.probe_log.get(name)
        if log_ is None:
            return
        try:
            kind = ProbeKind(result.kind) if result.kind else ProbeKind.OK
        except ValueError:
            kind = ProbeKind.ERROR
        if not result.ok and kind is ProbeKind.OK:
            kind = ProbeKind.ERROR
        detail = result.detail if result.ok else self.recipe.mask(result.detail)
        log_.append(ProbeRecord(self.clock(), name, result.ok, result.ms, kind, detail, latency))
        self.probe_seq += 1
        for listener in self.probe_listeners:
            listener(name, result)

    # ------------------------------------------------------------------ waiting

    async def wait_healthy(
        self, name: str, timeout: float, *, give_up_when_down: bool = False
    ) -> tuple[bool, str]:
        """Wait until ``name`` is healthy; (False, why) if it fails or time runs out.

        ``give_up_when_down`` is for steps that need a service already running
        (a seed): once probes say it is down there is nothing to wait for.
        Starts and restarts never give up early, since slow starters look down at first.
        """
        deadline = time.monotonic() + timeout
        while True:
            status = self.statuses[name]
            if status.ok and status.state in _ALIVE:
                return True, ""
            if give_up_when_down and status.health is Health.DOWN:
                return False, f"down: {status.reason or status.state.value}"
            if status.state in (ProcState.CRASHED, ProcState.FAILED):
                return False, f"{status.state.value}: {status.reason}"
            if time.monotonic() >= deadline:
                what = status.health.value if status.state in _ALIVE else status.state.value
                if status.state is ProcState.STARTING:
                    what = "still not healthy"
                return False, f"{what} after {timeout:g}s: {status.reason or 'no answer'}"
            await asyncio.sleep(0.05)

    # ------------------------------------------------------------------ living recipe

    _reload_lock: asyncio.Lock | None = None

    async def apply_recipe(self, recipe: Recipe) -> ReloadOutcome:
        """Put a new recipe in force without restarting what did not change.

        New services are watched at once (local ones start when their
        dependencies are healthy); removed ones are no longer watched (local ones
        are stopped); changed checks, dependencies and latency URLs take effect
        on the next probe, which is run now. A running local service whose
        command, env, cwd or port changed keeps running: it is listed in
        ``needs_restart`` for the user to confirm. Publishes ``RecipeReloaded``.
        """
        if self._reload_lock is None:
            self._reload_lock = asyncio.Lock()
        async with self._reload_lock:
            return await self._apply_recipe(recipe)

    async def _apply_recipe(self, recipe: Recipe) -> ReloadOutcome:
        from stagedeck.engine.events import RecipeReloaded
        from stagedeck.recipe.secrets import install_masker

        old = self.recipe
        outcome = diff_recipes(old, recipe, manages_processes=self.target.manages_processes)
        if outcome.rejected:
            self.bus.publish(RecipeReloaded(problems=(outcome.rejected,), at=self.clock()))
            return outcome
        install_masker(self.logs, recipe)
        await asyncio.gather(*(self._retire_service(old.services[n]) for n in outcome.removed))
        self.recipe = recipe
        if recipe.traces != old.traces:
            await self._retrace(recipe)
        self.target.update_recipe(recipe)
        for name in outcome.removed:
            for table in (self.statuses, self.latency, self._trackers, self.probe_log):
                table.pop(name, None)
        for name in outcome.changed:
            self._reconfigure_service(old.services[name], recipe.services[name])
        outcome.needs_restart = [
            n
            for n in outcome.needs_restart
            if self.statuses[n].state in (ProcState.STARTING, ProcState.RUNNING)
        ]
        for name in outcome.added:
            self.statuses[name] = ServiceStatus(name, since=self.clock())
            self.latency[name] = LatencyWindow()
            self.logs.ring(name)
            self.probe_log[name] = deque(maxlen=PROBES_KEPT)
            check = recipe.services[name].health
            self._trackers[name] = HealthTracker(
                check.retries if check else recipe.environment.failures_before_down,
                check.start_period if check else 0.0,
            )
            if self._started:  # started: watch it now (else start() will)
                self._start_probe(name)
        if outcome.added and self._started and self.target.manages_processes:
            self.spawn(self._bring_up_added(outcome.added))
        self.version += 1
        self.bus.publish(RecipeReloaded(at=self.clock()))
        return outcome

    async def _retire_service(self, svc: Service) -> None:
        """A service left the recipe: stop probing it and, if we run it, stop it."""
        task = self._probe_tasks.pop(svc.name, None)
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._kick.pop(svc.name, None)
        if self.target.manages_processes:
            try:
                await self.target.stop(svc)
            except Exception:
                log.exception("stopping removed service %s failed", svc.name)

    def _reconfigure_service(self, before: Service, after: Service) -> None:
        """A changed definition: new check timing keeps the failure count; probe now."""
        name = after.name
        if before.health != after.health:
            old = self._trackers[name]
            check = after.health
            tracker = HealthTracker(
                check.retries if check else self.recipe.environment.failures_before_down,
                check.start_period if check else 0.0,
            )
            tracker.failures, tracker.health = old.failures, old.health
            tracker.started_at, tracker.passed = old.started_at, old.passed
            self._trackers[name] = tracker
            status = self.statuses[name]
            if check is None and status.state in (ProcState.RUNNING, ProcState.EXTERNAL):
                health, why = self._health_without_check(status)
                self._update(name, health=health, reason=why)
        kick = self._kick.get(name)
        if kick is not None:
            kick.set()

    async def _bring_up_added(self, names: list[str]) -> None:
        """Start services a reload added, once the services they depend on are healthy."""
        from stagedeck.engine.actions import bring_up

        while True:
            present = [n for n in names if n in self.recipe.services]
            if not present:
                return
            waiting = sorted(
                {
                    dep
                    for n in present
                    for dep in self.recipe.services[n].depends_on
                    if dep not in names and (dep not in self.statuses or not self.statuses[dep].ok)
                }
            )
            if not waiting:
                break
            for name in present:
                if self.statuses[name].state is ProcState.PENDING:
                    self._update(name, reason=f"waiting for {', '.join(waiting)}")
            await asyncio.sleep(0.1)
        try:
            await bring_up(self, present)
        except KeyError:  # removed by a later reload while it was starting
            log.info("services %s left the recipe while starting", present)


_ANSWERED = ("http-5xx", "http-status", "bad-body")
"""Probe kinds where the health endpoint answered (as opposed to timing out or refusing)."""

_ROUTINE = ("info", "debug", "trace")
_CAUSE_WORDS = (
    "error",
    "exception",
    "traceback",
    "fatal",
    "panic",
    "killed",
    "exiting",
    "abort",
    "fail",
    "cannot",
    "unable",
    "refused",
    "denied",
    "timed out",
    "out of memory",
)


def _last_error_line(lines: Sequence[Any]) -> str:
    """The newest line among ``lines`` that reads like a cause, or ''.

    A cause: an error-level line, a line with words like "exception" or "fatal",
    or anything written to stderr that does not say it is routine (info, debug)."""
    for line in reversed(lines):
        text = line.text.strip()
        if not text:
            continue
        if (
            line.level == "error"
            or any(w in text.lower() for w in _CAUSE_WORDS)
            or (line.stream == "err" and line.level not in _ROUTINE)
        ):
            return str(text)
    return ""


async def _make_http_client() -> Any:
    httpx = await asyncio.to_thread(importlib.import_module, "httpx")
    return httpx.AsyncClient(
        limits=httpx.Limits(max_connections=50, max_keepalive_connections=20),
        headers=PROBE_HEADERS,
    )
