"""The Kubernetes target: Deployments and StatefulSets in one namespace, watched.

Three watches feed everything (deployments, statefulsets, pods; one each
for the whole namespace, however many services there are), so the cost of a
status table does not grow with the number of services. Each recipe service
binds to a workload (by name, or by a label selector) and through the
workload's own selector to its pods; the pods' readiness, restarts and
waiting reasons become the service's state, and every pod with a started
container gets a log follower.

Nothing here waits on the network while holding state: observers are plain
callbacks on the event loop, actions are coroutines, and when the API server
goes away the last known state stays on screen while the reflectors retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import logging
import time
from collections.abc import Coroutine, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from stagedeck.engine.events import ProcState
from stagedeck.recipe.model import Recipe, Service
from stagedeck.targets.base import ExecResult, Target, TargetError, TargetSink
from stagedeck.targets.kubernetes.client import (
    ConfigProblem,
    ExecUnavailable,
    Forbidden,
    Json,
    Kind,
    KubeClient,
    KubeError,
    NotFound,
    Unreachable,
)
from stagedeck.targets.kubernetes.logs import LogFollower
from stagedeck.targets.kubernetes.model import (
    RESTARTED_AT,
    LabelSelector,
    PodInfo,
    Verdict,
    WorkloadInfo,
    verdict_for,
)
from stagedeck.targets.kubernetes.watch import Link, Observer, Reflector, Timing

log = logging.getLogger("stagedeck.k8s")

WorkloadPlural = Literal["deployments", "statefulsets"]
WORKLOAD_KINDS: dict[WorkloadPlural, Literal["Deployment", "StatefulSet"]] = {
    "deployments": "Deployment",
    "statefulsets": "StatefulSet",
}
REPLICAS_BEFORE_STOP = "stagedeck.dev/replicas-before-stop"
DRAIN_GRACE = 1.0
"""Seconds a finished pod's log stream may still deliver its last lines."""


def no_permission(kind: str, namespace: str, verb: str = "list") -> str:
    return f"no permission to {verb} {kind} in {namespace} (RBAC)"


def parse_workload_ref(ref: str) -> tuple[tuple[WorkloadPlural, ...], str]:
    """'api' -> both kinds; 'statefulset/db' or 'sts/db' -> only StatefulSets."""
    kind, sep, name = ref.partition("/")
    if not sep:
        return ("deployments", "statefulsets"), ref
    kind = kind.lower()
    if kind in ("deployment", "deployments", "deploy"):
        return ("deployments",), name
    if kind in ("statefulset", "statefulsets", "sts"):
        return ("statefulsets",), name
    return ("deployments", "statefulsets"), ref


@dataclass(frozen=True)
class Binding:
    """Which workload (and so which pods) one service is, or why it cannot be told."""

    workload: WorkloadInfo | None = None
    pods: LabelSelector | None = None
    problem: Verdict | None = None


class KubernetesTarget(Target, Observer):
    """Watches workloads and pods in one namespace; rolls out, scales and execs on request."""

    kind = "kubernetes"
    manages_processes = False

    def __init__(
        self,
        recipe: Recipe,
        sink: TargetSink,
        *,
        timing: Timing | None = None,
        config_file: str | None = None,
    ) -> None:
        super().__init__(recipe, sink)
        self.timing = timing or Timing()
        self.config_file = config_file
        self.client: KubeClient | None = None
        self.namespace = recipe.environment.namespace
        self.context = recipe.environment.context
        self.reflectors: dict[Kind, Reflector] = {}
        self.pods: dict[str, PodInfo] = {}
        self.workloads: dict[WorkloadPlural, dict[str, WorkloadInfo]] = {
            "deployments": {},
            "statefulsets": {},
        }
        self.followers: dict[tuple[str, str], LogFollower] = {}
        self._links: dict[Kind, tuple[Link, str]] = {}
        self._synced: set[Kind] = set()
        self._bindings: dict[str, Binding] = {}
        self._members: dict[str, set[str]] = {}
        self._pod_services: dict[str, tuple[str, ...]] = {}
        self._log_owners: dict[str, tuple[str, ...]] = {}
        self._reported: dict[str, Verdict] = {}
        self._rolling: set[str] = set()
        self._changed: dict[str, asyncio.Event] = {}
        self._locks: dict[str, asyncio.Lock] = {}
        self._background: set[asyncio.Task[None]] = set()
        self._connected: tuple[bool, str] | None = None
        self.reports = 0
        """How many sink calls this target made (the benchmark reads it)."""

    # ------------------------------------------------------------------ lifecycle

    async def open(self) -> None:
        env = self.recipe.environment
        try:
            self.client = await KubeClient.connect(env.context, env.namespace, self.config_file)
        except ConfigProblem as exc:
            raise TargetError(str(exc)) from None
        self.context = self.client.connection.context
        self.namespace = self.client.connection.namespace
        for kind in ("deployments", "statefulsets", "pods"):
            reflector = Reflector(self.client, kind, self.namespace, self, self.timing)
            self.reflectors[kind] = reflector
            reflector.start()
        # Return with a complete first picture when the server answers; if it does not,
        # the reflectors keep trying and the cockpit shows "disconnected" meanwhile.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.timing.open_wait):
                for reflector in self.reflectors.values():
                    await reflector.first_attempt.wait()

    async def close(self, *, stop_services: bool = True) -> None:
        """Stop watching. ``stop_services`` is ignored: a shared cluster outlives the cockpit."""
        await asyncio.gather(*(r.stop() for r in self.reflectors.values()))
        self.reflectors.clear()
        followers = list(self.followers.values())
        self.followers.clear()
        await asyncio.gather(*(f.stop() for f in followers))
        for task in list(self._background):
            task.cancel()
        await asyncio.gather(*self._background, return_exceptions=True)
        if self.client is not None:
            await self.client.close()
            self.client = None

    def update_recipe(self, recipe: Recipe) -> None:
        super().update_recipe(recipe)
        for name in list(self._reported):
            if name not in recipe.services:
                del self._reported[name]
        self._rebind_all()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    # ------------------------------------------------------------------ observer

    def replaced(self, kind: Kind, objects: Sequence[Json]) -> None:
        if kind == "pods":
            self.pods = {p.name: p for p in map(PodInfo.from_json, objects) if p.name}
            self._synced.add("pods")
            for gone in [p for p in self._log_owners if p not in self.pods]:
                self._drop_pod_logs(gone)
            self._rebind_all(rebuild=True)
            return
        plural: WorkloadPlural = "deployments" if kind == "deployments" else "statefulsets"
        self.workloads[plural] = {
            w.name: w
            for w in (WorkloadInfo.from_json(WORKLOAD_KINDS[plural], o) for o in objects)
            if w.name
        }
        self._synced.add(kind)
        self._rebind_all()

    def changed(self, kind: Kind, event_type: str, obj: Json) -> None:
        name = str((obj.get("metadata") or {}).get("name") or "")
        if not name:
            return
        if kind == "pods":
            self._pod_changed(name, event_type, obj)
            return
        plural: WorkloadPlural = "deployments" if kind == "deployments" else "statefulsets"
        store = self.workloads[plural]
        if event_type == "DELETED":
            store.pop(name, None)
        else:
            store[name] = WorkloadInfo.from_json(WORKLOAD_KINDS[plural], obj)
        self._rebind_all(touched=(plural, name))

    def link(self, kind: Kind, state: Link, detail: str) -> None:
        before = self._links.get(kind)
        self._links[kind] = (state, detail)
        if state is Link.FORBIDDEN and (before is None or before[0] is not Link.FORBIDDEN):
            self._synced.discard(kind)
            if kind == "pods":
                self.pods.clear()
                for pod in list(self._log_owners):
                    self._drop_pod_logs(pod)
                self._rebuild_members()
                self._report_all()
            else:
                self.workloads["deployments" if kind == "deployments" else "statefulsets"].clear()
                self._rebind_all()
        if (
            state is Link.OK
            and before is not None
            and before[0] in (Link.UNREACHABLE, Link.FAILING)
        ):
            # The server answers again: everyone retries now rather than at its next backoff.
            for other in self.reflectors.values():
                if other.link_state in (Link.UNREACHABLE, Link.FAILING):
                    other.wake()
            for follower in self.followers.values():
                follower.kick()
        self._update_connection()

    def _update_connection(self) -> None:
        server = self.client.server if self.client else "the API server"
        down = [
            (kind, detail)
            for kind, (health, detail) in self._links.items()
            if health in (Link.UNREACHABLE, Link.FAILING)
        ]
        if down:
            kind, detail = down[0]
            health = self._links[kind][0]
            if health is Link.UNREACHABLE:
                text = f"kubernetes: cannot reach {server}: {detail}; retrying, last state shown"
            else:
                text = f"kubernetes: {server} fails to list {kind}: {detail}; retrying"
            state = (False, text)
        elif any(h is Link.OK for h, _ in self._links.values()):
            state = (True, f"kubernetes: {self.context} · namespace {self.namespace}")
        elif self._links and all(h is Link.FORBIDDEN for h, _ in self._links.values()):
            state = (
                True,
                f"kubernetes: {self.context} · {no_permission('anything', self.namespace)}",
            )
        else:
            return
        if state != self._connected:
            self._connected = state
            self.sink.connection(*state)

    # ------------------------------------------------------------------ pods

    def _pod_changed(self, name: str, event_type: str, obj: Json) -> None:
        before = self._pod_services.get(name, ())
        if event_type == "DELETED":
            self.pods.pop(name, None)
            after: tuple[str, ...] = ()
        else:
            pod = PodInfo.from_json(obj)
            self.pods[name] = pod
            after = self._services_of(pod)
        self._set_pod_services(name, before, after)
        pod_now = self.pods.get(name)
        if pod_now is None:
            self._drop_pod_logs(name)
        else:
            self._sync_followers(pod_now)
        for service in {*before, *after}:
            self._report(service)
        if self._pod_bound:
            self._rebind_all()  # selectors that name bare pods follow the pods themselves

    @property
    def _pod_bound(self) -> bool:
        return any(
            svc.selector and (b is None or b.workload is None)
            for name, svc in self.recipe.services.items()
            for b in [self._bindings.get(name)]
        )

    def _services_of(self, pod: PodInfo) -> tuple[str, ...]:
        return tuple(
            name
            for name, binding in self._bindings.items()
            if binding.pods is not None and binding.pods.matches(pod.labels)
        )

    def _set_pod_services(self, pod: str, before: tuple[str, ...], after: tuple[str, ...]) -> None:
        if before == after:
            return
        for service in before:
            self._members.get(service, set()).discard(pod)
        for service in after:
            self._members.setdefault(service, set()).add(pod)
        if after:
            self._pod_services[pod] = after
            self._log_owners[pod] = after
        else:
            self._pod_services.pop(pod, None)

    def _rebuild_members(self) -> None:
        self._members = {name: set() for name in self._bindings}
        self._pod_services = {}
        for pod in self.pods.values():
            self._set_pod_services(pod.name, (), self._services_of(pod))

    # ------------------------------------------------------------------ logs

    def _sync_followers(self, pod: PodInfo) -> None:
        wanted = bool(self._pod_services.get(pod.name)) and not pod.terminal and pod.has_logs
        containers = pod.container_names
        for container in containers:
            key = (pod.name, container)
            follower = self.followers.get(key)
            if wanted and follower is None and self.client is not None:
                label = pod.name if len(containers) == 1 else f"{pod.name}/{container}"
                follower = LogFollower(
                    self.client,
                    self.namespace,
                    pod.name,
                    container if len(containers) > 1 else None,
                    label,
                    functools.partial(self._deliver, pod.name),
                    since_seconds=self.timing.log_since,
                    tail_lines=self.timing.log_tail,
                    retry=self.timing.log_retry,
                )
                self.followers[key] = follower
                follower.start()
            elif wanted and follower is not None:
                follower.kick()
            elif not wanted and follower is not None:
                del self.followers[key]
                self._spawn(follower.stop(grace=DRAIN_GRACE))

    def _drop_pod_logs(self, pod: str) -> None:
        for key in [k for k in self.followers if k[0] == pod]:
            follower = self.followers.pop(key)
            self._spawn(self._stop_follower(pod, follower))

    async def _stop_follower(self, pod: str, follower: LogFollower) -> None:
        await follower.stop(grace=DRAIN_GRACE)
        if not any(k[0] == pod for k in self.followers) and pod not in self._pod_services:
            self._log_owners.pop(pod, None)

    def _deliver(self, pod: str, lines: list[str]) -> None:
        for service in self._log_owners.get(pod, ()):
            self.sink.log_many(service, lines, "out")

    # ------------------------------------------------------------------ binding

    def _bind(self, svc: Service) -> Binding | None:
        ns = self.namespace
        if svc.selector:
            wanted = LabelSelector(dict(svc.selector))
            everything = [w for store in self.workloads.values() for w in store.values()]
            found = sorted(
                (w for w in everything if wanted.matches(w.labels)), key=lambda w: w.ref
            ) or sorted(
                (w for w in everything if wanted.matches(w.template_labels)), key=lambda w: w.ref
            )
            if found:
                return self._binding_for(found[0])
            both: tuple[WorkloadPlural, ...] = ("deployments", "statefulsets")
            missing: list[Kind] = [k for k in both if k not in self._synced]
            if missing:
                return self._unknown(missing)
            if (
                "pods" not in self._synced
                and self._links.get("pods", (None,))[0] is not Link.FORBIDDEN
            ):
                return None
            # No workload: the selector may name bare pods.
            if any(wanted.matches(p.labels) for p in self.pods.values()):
                return Binding(None, wanted)
            return Binding(
                problem=Verdict(
                    ProcState.FAILED,
                    f"nothing in namespace {ns} matches selector {wanted.describe()}",
                )
            )
        kinds, name = parse_workload_ref(svc.deployment or svc.name)
        for plural in kinds:
            workload = self.workloads[plural].get(name)
            if workload is not None:
                return self._binding_for(workload)
        unlisted: list[Kind] = [k for k in kinds if k not in self._synced]
        if unlisted:
            return self._unknown(unlisted)
        what = " or ".join(WORKLOAD_KINDS[k] for k in kinds)
        return Binding(
            problem=Verdict(ProcState.FAILED, f"no {what} named '{name}' in namespace {ns}")
        )

    def _binding_for(self, workload: WorkloadInfo) -> Binding:
        pods = workload.selector
        if pods.empty and workload.template_labels:
            pods = LabelSelector(dict(workload.template_labels))
        return Binding(workload, pods)

    def _unknown(self, kinds: Sequence[Kind]) -> Binding | None:
        for kind in kinds:
            health = self._links.get(kind)
            if health is not None and health[0] is Link.FORBIDDEN:
                return Binding(
                    problem=Verdict(
                        ProcState.PENDING, no_permission(kind, self.namespace), platform="no access"
                    )
                )
        return None  # not listed yet: say nothing rather than something wrong

    def _rebind_all(
        self, touched: tuple[WorkloadPlural, str] | None = None, *, rebuild: bool = False
    ) -> None:
        """Bind services anew (with ``touched``, only those that workload can concern).

        Pod membership is recomputed where a binding's pod selector changed, and
        only the services whose binding could have moved are reported.
        """
        names = list(self.recipe.services)
        if touched is not None and not rebuild:
            names = [n for n in names if self._may_bind_to(n, touched[1])]
        selectors_changed = rebuild
        for name in names:
            binding = self._bind(self.recipe.services[name])
            old = self._bindings.get(name)
            if binding is None:
                self._bindings.pop(name, None)
            else:
                self._bindings[name] = binding
            if (old.pods if old else None) != (binding.pods if binding else None):
                selectors_changed = True
        for name in [n for n in self._bindings if n not in self.recipe.services]:
            del self._bindings[name]
            selectors_changed = True
        if selectors_changed:
            self._rebuild_members()
            for info in self.pods.values():
                self._sync_followers(info)
            names = list(self.recipe.services)
        for name in names:
            self._report(name)

    def _may_bind_to(self, service: str, workload: str) -> bool:
        """Could a change to a workload named ``workload`` change how ``service`` binds?"""
        svc = self.recipe.services[service]
        binding = self._bindings.get(service)
        if svc.selector or binding is None or binding.workload is None:
            return True
        return parse_workload_ref(svc.deployment or svc.name)[1] == workload

    # ------------------------------------------------------------------ reporting

    def verdict(self, name: str) -> Verdict | None:
        """What the platform says about ``name`` right now (None: not known yet)."""
        binding = self._bindings.get(name)
        if binding is None:
            return None
        if binding.problem is not None:
            return binding.problem
        health = self._links.get("pods")
        if health is not None and health[0] is Link.FORBIDDEN:
            v = verdict_for(binding.workload, (), pods_visible=False)
            why = no_permission("pods", self.namespace)
            return dataclasses.replace(v, reason=why + (f"; {v.reason}" if v.reason else ""))
        if "pods" not in self._synced:
            return None
        members = sorted(self._members.get(name, ()))
        return verdict_for(
            binding.workload,
            [self.pods[p] for p in members if p in self.pods],
            rolling=name in self._rolling,
        )

    def _report(self, name: str) -> None:
        event = self._changed.get(name)
        if event is not None:
            event.set()
        if name not in self.recipe.services:
            return
        verdict = self.verdict(name)
        if verdict is None:
            return
        before = self._reported.get(name)
        if before == verdict:
            return
        self._reported[name] = verdict
        if before is None or before.platform != verdict.platform:
            self.reports += 1
            self.sink.platform_health(name, verdict.platform)
        if before is None or (before.state, before.reason, before.exit_code) != (
            verdict.state,
            verdict.reason,
            verdict.exit_code,
        ):
            self.reports += 1
            self.sink.process_state(
                name, verdict.state, reason=verdict.reason, exit_code=verdict.exit_code
            )

    def _report_all(self) -> None:
        for name in self.recipe.services:
            self._report(name)

    # ------------------------------------------------------------------ actions

    def _lock(self, name: str) -> asyncio.Lock:
        return self._locks.setdefault(name, asyncio.Lock())

    def _require_client(self) -> KubeClient:
        if self.client is None:
            raise TargetError("not connected to Kubernetes (the kubeconfig could not be loaded)")
        return self.client

    def _workload_of(self, service: Service) -> WorkloadInfo:
        binding = self._bindings.get(service.name)
        if binding is not None and binding.workload is not None:
            return binding.workload
        if binding is not None and binding.problem is not None:
            raise TargetError(binding.problem.reason)
        if binding is not None:
            raise TargetError(
                f"{service.name} is bare pods, not a Deployment or StatefulSet: nothing to roll out"
            )
        raise TargetError(
            f"{service.name}: its workload has not been seen yet; is the cluster reachable?"
        )

    def _action_error(
        self, exc: KubeError, what: str, workload: WorkloadInfo, verb: str
    ) -> TargetError:
        if isinstance(exc, Forbidden):
            return TargetError(no_permission(workload.plural, self.namespace, verb))
        if isinstance(exc, NotFound):
            return TargetError(f"{workload.ref} no longer exists in namespace {self.namespace}")
        if isinstance(exc, Unreachable):
            return TargetError(f"{what}: cannot reach the API server: {exc}")
        return TargetError(f"{what} failed: {exc}")

    def describe_redeploy(self, service: Service) -> str:
        binding = self._bindings.get(service.name)
        workload = binding.workload if binding is not None else None
        what = workload.ref if workload is not None else "its Deployment"
        return f"{what} gets a rollout restart (pods replaced one by one)"

    async def redeploy(self, service: Service) -> None:
        """``kubectl rollout restart``, then wait for the rollout to finish (or say why not)."""
        async with self._lock(service.name):
            client = self._require_client()
            workload = self._workload_of(service)
            stamp = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            body = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: stamp}}}}}
            self._rolling.add(service.name)
            self._reported.pop(service.name, None)
            self.sink.process_state(
                service.name, ProcState.RESTARTING, reason=f"rollout restart of {workload.ref}"
            )
            try:
                try:
                    patched = await client.patch(
                        workload.plural, self.namespace, workload.name, body
                    )
                except KubeError as exc:
                    raise self._action_error(
                        exc, f"rollout restart of {workload.ref}", workload, "patch"
                    ) from None
                latest = WorkloadInfo.from_json(workload.kind, patched)
                generation = max(latest.generation, workload.generation + 1)
                await self._wait_rollout(service, workload, generation)
            finally:
                self._rolling.discard(service.name)
                self._reported.pop(service.name, None)
                self._report(service.name)

    async def _wait_rollout(
        self, service: Service, workload: WorkloadInfo, generation: int
    ) -> None:
        client = self._require_client()
        event = self._changed.setdefault(service.name, asyncio.Event())
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + service.ready_timeout
        while True:
            current = self.workloads[workload.plural].get(workload.name, workload)
            if current.rollout_complete(generation):
                return
            if current.stalled and current.observed_generation >= generation:
                raise TargetError(self._rollout_failure(service, current, current.stalled))
            remaining = deadline - loop.time()
            if remaining <= 0:
                why = f"did not complete within {service.ready_timeout:g}s"
                raise TargetError(self._rollout_failure(service, current, why))
            event.clear()
            try:
                async with asyncio.timeout(min(remaining, self.timing.rollout_poll)):
                    await event.wait()
            except TimeoutError:
                # The watch may be behind or down: ask directly.
                with contextlib.suppress(KubeError):
                    obj = await client.get(workload.plural, self.namespace, workload.name)
                    self.workloads[workload.plural][workload.name] = WorkloadInfo.from_json(
                        workload.kind, obj
                    )

    def _rollout_failure(self, service: Service, workload: WorkloadInfo, why: str) -> str:
        members = sorted(self._members.get(service.name, ()))
        problems = [text for p in members if p in self.pods and (text := self.pods[p].problem())]
        text = f"rollout of {workload.ref} {why} ({workload.rollout_progress()})"
        if problems:
            shown = problems[:5]
            more = f"; +{len(problems) - 5} more" if len(problems) > 5 else ""
            return f"{text}: {'; '.join(shown)}{more}"
        return f"{text}: no pod reported a problem (the controller may be slow or blocked)"

    async def start(self, service: Service) -> None:
        """Scale a workload that was scaled to 0 back up (to its replicas before the stop)."""
        async with self._lock(service.name):
            client = self._require_client()
            workload = self._workload_of(service)
            if workload.replicas > 0:
                return
            try:
                replicas = max(1, int(workload.annotations.get(REPLICAS_BEFORE_STOP, "1")))
            except ValueError:
                replicas = 1
            try:
                await client.patch(
                    workload.plural, self.namespace, workload.name, {"spec": {"replicas": replicas}}
                )
            except KubeError as exc:
                raise self._action_error(
                    exc, f"scaling {workload.ref}", workload, "patch"
                ) from None
            self._reported.pop(service.name, None)
            self.sink.process_state(
                service.name, ProcState.STARTING, reason=f"scaling {workload.ref} to {replicas}"
            )

    async def stop(self, service: Service) -> None:
        """Scale to 0, remembering the replicas so that ``start`` can restore them."""
        async with self._lock(service.name):
            client = self._require_client()
            workload = self._workload_of(service)
            if workload.replicas == 0:
                return
            body = {
                "metadata": {"annotations": {REPLICAS_BEFORE_STOP: str(workload.replicas)}},
                "spec": {"replicas": 0},
            }
            try:
                await client.patch(workload.plural, self.namespace, workload.name, body)
            except KubeError as exc:
                raise self._action_error(
                    exc, f"scaling {workload.ref}", workload, "patch"
                ) from None
            self._reported.pop(service.name, None)
            self.sink.process_state(
                service.name, ProcState.STOPPING, reason=f"scaling {workload.ref} to 0"
            )

    def workload_of(self, service: Service) -> WorkloadInfo:
        """The Deployment or StatefulSet ``service`` is bound to; TargetError when none."""
        return self._workload_of(service)

    def require_client(self) -> KubeClient:
        return self._require_client()

    def exec_pod(self, name: str) -> PodInfo | None:
        """The pod an exec goes to: a ready one if any, else a running one."""
        pods = [self.pods[p] for p in sorted(self._members.get(name, ())) if p in self.pods]
        pods = [p for p in pods if not p.deleting and not p.terminal]
        return next((p for p in pods if p.ready), None) or next(
            (p for p in pods if p.phase == "Running"), None
        )

    async def exec(
        self,
        service: Service,
        argv: Sequence[str],
        env: Mapping[str, str] | None = None,
        timeout: float = 120.0,
        *,
        log_output: bool = True,
    ) -> ExecResult:
        """Run ``argv`` in a pod of the service through the API server's exec endpoint."""
        client = self._require_client()
        pod = self.exec_pod(service.name)
        if pod is None:
            raise TargetError(f"no running pod of {service.name} to run {argv[0]} in")
        command = list(argv)
        if env:
            # The exec API has no environment: `env` (in every base image) sets it.
            command = ["env", *(f"{k}={v}" for k, v in env.items()), *command]
        tail: list[str] = []
        pending = bytearray()

        def on_output(data: bytes) -> None:
            pending.extend(data)
            if b"\n" not in pending:
                return
            *complete, rest = bytes(pending).split(b"\n")
            pending[:] = rest
            lines = [line.decode(errors="replace").rstrip("\r") for line in complete]
            tail.extend(lines)
            del tail[:-200]
            if log_output:
                self.sink.log_many(service.name, [f"{pod.name} | {ln}" for ln in lines], "exec")

        container = pod.default_container or None
        started = time.monotonic()
        try:
            async with asyncio.timeout(timeout):
                code = await client.exec(
                    self.namespace, pod.name, command, container=container, on_output=on_output
                )
        except TimeoutError:
            code = -1
            tail.append(
                f"timed out after {timeout:g}s (the command may still be running in {pod.name})"
            )
        except Forbidden:
            raise TargetError(no_permission("pods/exec", self.namespace, "create")) from None
        except ExecUnavailable as exc:
            raise TargetError(
                f"exec is not available on this API server ({exc}); "
                "run this step locally instead (in_service = false)"
            ) from None
        except Unreachable as exc:
            raise TargetError(f"exec in {pod.name}: cannot reach the API server: {exc}") from None
        except KubeError as exc:
            raise TargetError(f"exec in {pod.name} failed: {exc}") from None
        if pending:
            line = bytes(pending).decode(errors="replace")
            tail.append(line)
            if log_output:
                self.sink.log_many(service.name, [f"{pod.name} | {line}"], "exec")
        log.debug("exec in %s took %.1fs", pod.name, time.monotonic() - started)
        return ExecResult(code, "\n".join(tail))
