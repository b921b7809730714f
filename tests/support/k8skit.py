"""Kubernetes test support: an API emulator on real HTTP, and a cluster tests can drive.

The Kubernetes target is tested against kmock's ``KubernetesEmulator``, which
serves real HTTP on loopback; the official client reaches it through a
kubeconfig that points at ``http://127.0.0.1:PORT``. The emulator stores and
streams objects; :class:`Emulator` adds what stagedeck relies on and kmock
leaves out (its quirks, each handled here):

* **resourceVersions**: kmock stamps none. Every write gets the next version
  and the event history is kept, so a watch can resume from a version, and
  :meth:`Emulator.compact` makes older versions answer ``410 Gone``.
* **label selectors** are ignored by kmock; lists and watches filter here.
* **namespace-less objects** vanish from kmock's namespaced watches; objects
  created here get their namespace from the URL.
* **timeoutSeconds** is ignored: watches only end when a test cuts them
  (:meth:`Emulator.cut_streams`), which is what the target must survive anyway.
* **pod logs**: kmock answers ``.../log`` with the pod's JSON. Here it is
  ``text/plain`` with ``follow``, ``sinceSeconds``, ``tailLines`` and
  ``timestamps`` (fractions trimmed the way Go does).
* **exec**: no websocket in kmock; :attr:`Emulator.exec_handler` adds one
  speaking ``v4.channel.k8s.io`` (left unset, exec gets kmock's answer).
* kmock's pytest plugin needs pytest-asyncio; these fixtures are our own.

:class:`EmulatedCluster` creates Deployments, StatefulSets and their pods and
plays the controllers' part in a rollout. With ``STAGEDECK_K8S_CONTEXT`` set,
:class:`RealCluster` does the same on a real cluster in a throwaway
namespace, and the emulator-only manipulations skip.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import string
import textwrap
import time
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import aiohttp
import aiohttp.web
import kmock
import pytest
import pytest_asyncio

from stagedeck.engine.engine import Engine
from stagedeck.engine.events import ProcState
from stagedeck.recipe.model import Recipe, load_recipe
from stagedeck.targets.kubernetes.target import KubernetesTarget
from stagedeck.targets.kubernetes.watch import Timing
from support.wait import wait_until

REAL_CONTEXT = os.environ.get("STAGEDECK_K8S_CONTEXT", "")
EMULATOR_CONTEXT = "kmock"

FAST = Timing(
    watch_timeout=60,
    idle_timeout=60.0,
    backoff_initial=0.05,
    backoff_max=0.4,
    forbidden_retry=0.3,
    open_wait=5.0,
    log_since=600,
    log_tail=500,
    log_retry=0.2,
    rollout_poll=0.3,
)
"""Short delays so that recoveries happen within a test's patience."""

emulator_only = pytest.mark.skipif(
    bool(REAL_CONTEXT), reason="manipulates the API server itself: emulator only"
)
real_cluster_is_slow = [pytest.mark.slow] if REAL_CONTEXT else []
"""Module marks: against the emulator a test takes about a second; on a cluster, minutes."""


def rfc3339(ts: float) -> str:
    """A timestamp as Go prints RFC3339Nano: trailing zeros of the fraction trimmed."""
    whole = datetime.fromtimestamp(int(ts), UTC).strftime("%Y-%m-%dT%H:%M:%S")
    frac = f"{round((ts % 1) * 1e9):09d}"[:9].rstrip("0")
    return f"{whole}.{frac}Z" if frac else f"{whole}Z"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --------------------------------------------------------------------------- selectors


def selector_matcher(text: str) -> Callable[[Mapping[str, str]], bool]:
    """The API's labelSelector syntax: a=b, a!=b, a in (x,y), a notin (x), a, !a."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "(") - (ch == ")")
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    clauses: list[tuple[str, str, frozenset[str]]] = []
    for raw in (p.strip() for p in parts):
        if not raw:
            continue
        for op in (" notin ", " in ", "!=", "==", "="):
            if op in raw:
                key, _, rest = raw.partition(op)
                values = frozenset(v.strip() for v in rest.strip().strip("()").split(","))
                clauses.append((op.strip(), key.strip(), values))
                break
        else:
            negated = raw.startswith("!")
            clauses.append(
                ("absent" if negated else "present", raw.lstrip("!").strip(), frozenset())
            )

    def match(labels: Mapping[str, str]) -> bool:
        for op, key, values in clauses:
            value = labels.get(key)
            ok = {
                "notin": value not in values,
                "in": value in values,
                "!=": value not in values,
                "==": value in values,
                "=": value in values,
                "absent": key not in labels,
                "present": key in labels,
            }[op]
            if not ok:
                return False
        return True

    return match


def labels_of(obj: Mapping[str, Any]) -> dict[str, str]:
    return dict((obj.get("metadata") or {}).get("labels") or {})


# --------------------------------------------------------------------------- the emulator


class _RecordingBus(kmock.Bus[Any]):
    """kmock's event bus, also keeping (resourceVersion, event) for watch resumes."""

    def __init__(self) -> None:
        super().__init__()
        self.history: list[tuple[int, dict[str, Any]]] = []

    async def put(self, *items: Any) -> None:
        for item in items:
            if isinstance(item, dict):
                meta = (item.get("object") or {}).get("metadata") or {}
                with contextlib.suppress(TypeError, ValueError):
                    self.history.append((int(meta.get("resourceVersion") or 0), item))
        await super().put(*items)


@dataclass
class PodLog:
    """One container's log: lines with their times, and the live followers."""

    lines: list[tuple[float, str]] = field(default_factory=list)
    followers: set[asyncio.Queue[tuple[float, str] | None]] = field(default_factory=set)

    def add(self, text: str) -> None:
        item = (time.time(), text)
        self.lines.append(item)
        for queue in self.followers:
            queue.put_nowait(item)

    def end(self) -> None:
        """The container stopped: every follow stream ends."""
        for queue in self.followers:
            queue.put_nowait(None)


ExecHandler = Callable[[str, list[str]], Awaitable[tuple[int, str]]]
"""(pod, argv) -> (exit code, output)."""


class Emulator(kmock.KubernetesEmulator):
    """kmock's emulator with versions, selectors, logs, exec and fault injection."""

    def __attrs_post_init__(self) -> None:
        super().__attrs_post_init__()
        self._buses = defaultdict(_RecordingBus)
        self.rv = 0
        self.compacted: dict[str, int] = {}
        self.forbidden: set[tuple[str, str | None]] = set()
        """(plural, namespace or None for all): answered with 403."""
        self.logs: dict[tuple[str, str, str], PodLog] = defaultdict(PodLog)
        self.exec_handler: ExecHandler | None = None
        self.on_template_change: Callable[[str, str, str], None] | None = None
        """Called with (plural, namespace, name) when a workload's pod template is patched."""
        self.watch_gate = asyncio.Event()
        self.watch_gate.set()
        self.streams: dict[int, aiohttp.web.BaseRequest] = {}
        """Open watch and log connections by id (requests are not hashable)."""
        self.requests_log: list[tuple[str, str, dict[str, str]]] = []
        """(action, plural, params) of every Kubernetes request, for assertions."""
        self._mutations = asyncio.Lock()

    # -- test controls

    def compact(self) -> None:
        """Forget the history: watches from any version before now get 410 Gone."""
        for resource, bus in self._buses.items():
            self.compacted[_res_key(resource)] = self.rv
            bus.history.clear()

    def cut_streams(self, kind: str = "") -> int:
        """Drop every open watch and log connection (or only ``kind``: 'watch', 'log')."""
        count = 0
        for key, raw in list(self.streams.items()):
            if kind and raw.get("stagedeck-stream") != kind:
                continue
            if raw.transport is not None:
                raw.transport.close()
                count += 1
            self.streams.pop(key, None)
        return count

    def open_streams(self, kind: str) -> int:
        """How many 'watch' or 'log' connections are open right now."""
        return sum(1 for raw in self.streams.values() if raw.get("stagedeck-stream") == kind)

    def requests_of(self, action: str, plural: str) -> list[dict[str, str]]:
        return [p for a, pl, p in self.requests_log if a == action and pl == plural]

    def pod_log(self, namespace: str, pod: str, container: str = "main") -> PodLog:
        return self.logs[(namespace, pod, container)]

    # -- request handling

    async def _handle(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        # kmock keeps every request and matches each new one by walking all of them:
        # quadratic. Our assertions use requests_log, so kmock's list holds only the
        # requests in flight (the ones its matching needs).
        try:
            return await self._handle_one(request)
        finally:
            with contextlib.suppress(ValueError):
                self._requests.remove(request)

    async def _handle_one(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        res = request.resource
        if res is None or res.plural is None:
            return await super()._handle(request)
        action = request.action.value if request.action else request.method.value
        self.requests_log.append((action, res.plural, dict(request.params)))
        for key in ((res.plural, request.namespace), (res.plural, None)):
            if key in self.forbidden:
                verb = {"LIST": "list", "WATCH": "watch", "FETCH": "get", "UPDATE": "patch"}.get(
                    action, action.lower()
                )
                raise kmock.KubernetesError(
                    status=403,
                    reason="Forbidden",
                    message=(
                        f'{res.plural} is forbidden: User "system:serviceaccount:ci:stagedeck" '
                        f'cannot {verb} resource "{res.plural}" in API group "{res.group}" '
                        f'in the namespace "{request.namespace}"'
                    ),
                )
        if res.plural == "pods" and request.subresource == "log":
            self._requests.remove(request)  # served here, never matched: out of kmock's list
            return await self._serve_log(request)
        if res.plural == "pods" and request.subresource == "exec" and self.exec_handler:
            self._requests.remove(request)
            return await self._serve_exec(request)
        if request.action in (kmock.action.CREATE, kmock.action.UPDATE, kmock.action.DELETE):
            async with self._mutations:
                self._stamp(request)
                response = await super()._handle(request)
            if (
                request.action == kmock.action.UPDATE
                and res.plural in ("deployments", "statefulsets")
                and "template" in ((request.data or {}).get("spec") or {})
                and self.on_template_change is not None
            ):
                self.on_template_change(res.plural, request.namespace or "", request.name or "")
            if request.action == kmock.action.DELETE and res.plural == "pods":
                for (ns, pod, _), plog in self.logs.items():
                    if (ns, pod) == (request.namespace, request.name):
                        plog.end()
            return response
        return await super()._handle(request)

    def _stamp(self, request: kmock.Request) -> None:
        """Give the write a resourceVersion (and what else a real server fills in)."""
        self.rv += 1
        rv = str(self.rv)
        res = request.resource
        assert res is not None
        workload = res.plural in ("deployments", "statefulsets")
        if request.action == kmock.action.DELETE:
            key = (res, request.namespace, request.name)
            if key in self.objects and not self.objects[key].deleted:
                self.objects[key].patch({"metadata": {"resourceVersion": rv}})
            return
        if not isinstance(request.data, dict):
            return
        meta = request.data.setdefault("metadata", {})
        meta["resourceVersion"] = rv
        if request.action == kmock.action.CREATE:
            if request.namespace:
                meta.setdefault("namespace", request.namespace)
            meta.setdefault("uid", str(uuid.uuid4()))
            meta.setdefault("creationTimestamp", now_rfc3339())
            if workload:
                meta.setdefault("generation", 1)
        elif workload and "spec" in request.data:
            key = (res, request.namespace, request.name)
            if key in self.objects and not self.objects[key].deleted:
                current = (self.objects[key].get("metadata") or {}).get("generation") or 1
                meta["generation"] = int(current) + 1

    def _matching(self, request: kmock.Request) -> list[dict[str, Any]]:
        match = selector_matcher(request.params.get("labelSelector", ""))
        return [
            obj.raw
            for (res, ns, _), obj in self.objects.items()
            if res == request.resource
            and (request.namespace is None or ns == request.namespace)
            and not obj.deleted
            and match(labels_of(obj.raw))
        ]

    async def _serve_list(self, request: kmock.Request) -> Any:
        assert request.resource is not None
        return {
            "apiVersion": "v1",
            "kind": "List",
            "metadata": {"resourceVersion": str(self.rv)},
            "items": self._matching(request),
        }

    async def _serve_watch(self, request: kmock.Request) -> AsyncIterator[Any]:
        yield b""  # send the headers now: the client is waiting for them
        await self.watch_gate.wait()
        res = request.resource
        assert res is not None
        bus = self._buses[res]
        match = selector_matcher(request.params.get("labelSelector", ""))
        namespace = request.namespace
        raw = request._raw_request
        marker = await bus.mark()
        try:
            if raw is not None:
                raw["stagedeck-stream"] = "watch"
                self.streams[id(raw)] = raw
            since = request.params.get("resourceVersion", "")
            if since.isdigit() and since != "0":
                if int(since) < self.compacted.get(_res_key(res), 0):
                    yield {
                        "type": "ERROR",
                        "object": {
                            "apiVersion": "v1",
                            "kind": "Status",
                            "status": "Failure",
                            "code": 410,
                            "reason": "Expired",
                            "message": f"too old resource version: {since} ({self.rv})",
                        },
                    }
                    return
                backlog = [event for rv, event in bus.history if rv > int(since)]
            else:
                backlog = [{"type": "ADDED", "object": obj} for obj in self._matching(request)]
            for event in backlog:
                if _event_matches(event, namespace, match):
                    yield event
            async for event in bus.stream(since=marker):
                if _event_matches(event, namespace, match):
                    yield event
        finally:
            if raw is not None:
                self.streams.pop(id(raw), None)
            await bus.unmark(marker)

    async def _serve_log(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        ns, name = request.namespace or "", request.name or ""
        key = (kmock.resource("v1", "pods"), ns, name)
        if key not in self.objects or self.objects[key].deleted:
            raise kmock.KubernetesError(
                status=404, reason="NotFound", message=f'pods "{name}" not found'
            )
        pod = self.objects[key].raw
        containers = [c["name"] for c in (pod.get("spec") or {}).get("containers") or []]
        container = request.params.get("container") or (containers[0] if containers else "main")
        statuses = {
            c.get("name"): c for c in (pod.get("status") or {}).get("containerStatuses") or []
        }
        status = statuses.get(container) or {}
        state = status.get("state") or {}
        if not (state.get("running") or state.get("terminated") or status.get("lastState")):
            reason = (state.get("waiting") or {}).get("reason", "ContainerCreating")
            raise kmock.KubernetesError(
                status=400,
                reason="BadRequest",
                message=f'container "{container}" in pod "{name}" is waiting to start: {reason}',
            )
        plog = self.logs[(ns, name, container)]
        params = request.params
        follow = params.get("follow") == "true"
        stamps = params.get("timestamps") == "true"
        lines = plog.lines
        if params.get("sinceSeconds"):
            cutoff = time.time() - int(params["sinceSeconds"])
            lines = [line for line in lines if line[0] >= cutoff]
        if params.get("tailLines"):
            lines = lines[-int(params["tailLines"]) :] if int(params["tailLines"]) else []

        def render(item: tuple[float, str]) -> bytes:
            ts, text = item
            return ((rfc3339(ts) + " " if stamps else "") + text + "\n").encode()

        raw = request._raw_request
        assert raw is not None
        response = aiohttp.web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(raw)
        queue: asyncio.Queue[tuple[float, str] | None] = asyncio.Queue()
        running = bool(state.get("running"))
        if follow and running:
            plog.followers.add(queue)
            raw["stagedeck-stream"] = "log"
            self.streams[id(raw)] = raw
        try:
            if lines:
                await response.write(b"".join(render(item) for item in lines))
            while follow and running:
                item = await queue.get()
                if item is None:
                    break
                await response.write(render(item))
            await response.write_eof()
        except ConnectionError:
            pass
        finally:
            plog.followers.discard(queue)
            self.streams.pop(id(raw), None)
        return response

    async def _serve_exec(self, request: kmock.Request) -> aiohttp.web.StreamResponse:
        raw = request._raw_request
        assert raw is not None and self.exec_handler is not None
        argv = raw.query.getall("command", [])
        ws = aiohttp.web.WebSocketResponse(protocols=("v4.channel.k8s.io",))
        await ws.prepare(raw)
        code, output = await self.exec_handler(request.name or "", list(argv))
        if output:
            await ws.send_bytes(b"\x01" + output.encode())
        status: dict[str, Any] = {"metadata": {}, "status": "Success"}
        if code:
            status = {
                "metadata": {},
                "status": "Failure",
                "reason": "NonZeroExitCode",
                "message": f"command terminated with non-zero exit code: {code}",
                "details": {"causes": [{"reason": "ExitCode", "message": str(code)}]},
            }
        await ws.send_bytes(b"\x03" + json.dumps(status).encode())
        await ws.close()
        return ws


def _res_key(resource: Any) -> str:
    return f"{resource.group}/{resource.version}/{resource.plural}"


def _event_matches(
    event: Mapping[str, Any], namespace: str | None, match: Callable[[Mapping[str, str]], bool]
) -> bool:
    obj = event.get("object") or {}
    ns = (obj.get("metadata") or {}).get("namespace")
    return (namespace is None or ns == namespace) and match(labels_of(obj))


# --------------------------------------------------------------------------- objects


def _suffix(n: int = 5) -> str:
    return "".join(random.choices(string.ascii_lowercase + string.digits, k=n))


def container_status(state: str, restarts: int = 0, name: str = "main") -> dict[str, Any]:
    """A container status for 'ready', 'starting', 'creating', 'crashloop', 'oom', 'imagepull'."""
    started = {"running": {"startedAt": now_rfc3339()}}
    if state == "ready":
        return {"name": name, "ready": True, "restartCount": restarts, "state": started}
    if state == "starting":
        return {"name": name, "ready": False, "restartCount": restarts, "state": started}
    if state == "creating":
        return {
            "name": name,
            "ready": False,
            "restartCount": 0,
            "state": {"waiting": {"reason": "ContainerCreating"}},
        }
    if state == "imagepull":
        return {
            "name": name,
            "ready": False,
            "restartCount": 0,
            "state": {
                "waiting": {
                    "reason": "ImagePullBackOff",
                    "message": 'Back-off pulling image "registry.invalid/api:nope"',
                }
            },
        }
    last = "OOMKilled" if state == "oom" else "Error"
    code = 137 if state == "oom" else 1
    return {
        "name": name,
        "ready": False,
        "restartCount": max(restarts, 4),
        "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s"}},
        "lastState": {
            "terminated": {"reason": last, "exitCode": code, "finishedAt": now_rfc3339()}
        },
    }


def pod_status(state: str, restarts: int = 0) -> dict[str, Any]:
    status = container_status(state, restarts)
    ready = "True" if status["ready"] else "False"
    phase = "Pending" if state in ("creating", "imagepull") else "Running"
    return {
        "phase": phase,
        "conditions": [
            {"type": "PodScheduled", "status": "True"},
            {"type": "Ready", "status": ready},
        ],
        "containerStatuses": [status],
    }


@dataclass
class Workload:
    kind: str
    name: str
    replicas: int
    labels: dict[str, str]
    selector: dict[str, str]
    revision: str
    generation: int = 1

    @property
    def plural(self) -> str:
        return "deployments" if self.kind == "Deployment" else "statefulsets"

    @property
    def hash_label(self) -> str:
        return "pod-template-hash" if self.kind == "Deployment" else "controller-revision-hash"


class EmulatedCluster:
    """A namespace in the emulator, with Deployments, StatefulSets and the controllers' work."""

    emulated = True

    def __init__(self, emulator: Emulator, namespace: str, kubeconfig: Path) -> None:
        self.emu = emulator
        self.namespace = namespace
        self.context = EMULATOR_CONTEXT
        self.kubeconfig = kubeconfig
        self.server: kmock.Server | None = None
        self.port = 0
        self.workloads: dict[str, Workload] = {}
        self.rollout_mode: dict[str, str] = {}
        """Workload name -> the state new pods of a rollout reach ('ready' by default)."""
        self.rollout_step = 0.05
        self.owner: dict[str, str] = {}
        """Pod -> the workload it belongs to."""
        self._tasks: set[asyncio.Task[None]] = set()
        emulator.on_template_change = self._template_changed

    # -- server lifecycle

    async def start_server(self) -> None:
        server = kmock.Server(self.emu, port=self.port or None)
        await server.__aenter__()
        self.server = server
        self.port = server.port

    async def stop_server(self) -> None:
        """The API server goes away: open streams break, new connections are refused."""
        assert self.server is not None
        server, self.server = self.server, None
        # aiohttp waits for open requests before it finishes shutting down, and clients
        # reconnect in the meantime: keep cutting until the listening socket is gone.
        closing = asyncio.ensure_future(server.__aexit__(None, None, None))
        while not closing.done():
            self.emu.cut_streams()
            await asyncio.wait({closing}, timeout=0.05)
        closing.result()

    @contextlib.asynccontextmanager
    async def outage(self) -> AsyncIterator[None]:
        await self.stop_server()
        try:
            yield
        finally:
            await self.start_server()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for plog in self.emu.logs.values():
            plog.end()
        if self.server is not None:
            await self.stop_server()

    # -- HTTP helpers (the writes go through the API, so watches see them)

    def _url(self, plural: str, name: str = "", sub: str = "") -> str:
        base = "/api/v1" if plural == "pods" else "/apis/apps/v1"
        url = f"{base}/namespaces/{self.namespace}/{plural}"
        return url + (f"/{name}" if name else "") + (f"/{sub}" if sub else "")

    async def _send(self, method: str, url: str, body: Any = None) -> dict[str, Any]:
        async with self.emu.request(method, url, json=body) as response:
            data = await response.json()
            assert response.status < 400, f"{method} {url}: {response.status} {data}"
            return data  # type: ignore[no-any-return]

    async def create(self, plural: str, obj: dict[str, Any]) -> dict[str, Any]:
        return await self._send("POST", self._url(plural), obj)

    async def patch(self, plural: str, name: str, body: dict[str, Any]) -> dict[str, Any]:
        return await self._send("PATCH", self._url(plural, name), body)

    async def delete(self, plural: str, name: str) -> None:
        await self._send("DELETE", self._url(plural, name))

    def get(self, plural: str, name: str) -> dict[str, Any] | None:
        group = "v1" if plural == "pods" else "apps/v1"
        key = (kmock.resource(f"{group}/{plural}"), self.namespace, name)
        if key not in self.emu.objects or self.emu.objects[key].deleted:
            return None
        return dict(self.emu.objects[key].raw)

    # -- workloads and pods

    async def deployment(
        self,
        name: str,
        replicas: int = 2,
        *,
        state: str | Iterable[str] = "ready",
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        kind: str = "Deployment",
    ) -> list[str]:
        """A workload with ``replicas`` pods in ``state`` (one state, or one per pod)."""
        selector = {"app": name}
        workload = Workload(kind, name, replicas, dict(labels or selector), selector, _suffix(9))
        self.workloads[name] = workload
        obj = {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": {
                "name": name,
                "labels": workload.labels,
                "annotations": dict(annotations or {}),
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": selector},
                    "spec": {"containers": [{"name": "main", "image": f"example/{name}:1"}]},
                },
            },
        }
        await self.create(workload.plural, obj)
        states = [state] * replicas if isinstance(state, str) else list(state)
        pods = [await self.add_pod(name, s, index=i) for i, s in enumerate(states)]
        await self.sync_status(name)
        return pods

    async def statefulset(self, name: str, replicas: int = 1, **kwargs: Any) -> list[str]:
        return await self.deployment(name, replicas, kind="StatefulSet", **kwargs)

    async def add_pod(
        self, workload_name: str, state: str = "ready", *, index: int | None = None
    ) -> str:
        w = self.workloads[workload_name]
        if w.kind == "StatefulSet":
            pod = f"{w.name}-{index if index is not None else len(self.pods_of(w.name))}"
        else:
            pod = f"{w.name}-{w.revision}-{_suffix()}"
        await self.create(
            "pods",
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": pod, "labels": {**w.selector, w.hash_label: w.revision}},
                "spec": {"containers": [{"name": "main", "image": f"example/{w.name}:1"}]},
                "status": pod_status(state),
            },
        )
        self.owner[pod] = workload_name
        return pod

    async def bare_pod(self, name: str, labels: Mapping[str, str], state: str = "ready") -> str:
        await self.create(
            "pods",
            {
                "metadata": {"name": name, "labels": dict(labels)},
                "spec": {"containers": [{"name": "main", "image": "example/bare:1"}]},
                "status": pod_status(state),
            },
        )
        return name

    def pods_of(self, workload_name: str) -> list[str]:
        selector = self.workloads[workload_name].selector
        return sorted(
            raw["metadata"]["name"]
            for (res, ns, _), obj in self.emu.objects.items()
            if res.plural == "pods" and ns == self.namespace and not obj.deleted
            for raw in [obj.raw]
            if all(labels_of(raw).get(k) == v for k, v in selector.items())
            and not raw["metadata"].get("deletionTimestamp")
        )

    async def set_pod(self, pod: str, state: str, restarts: int = 0) -> None:
        await self.patch("pods", pod, {"status": pod_status(state, restarts)})
        if pod in self.owner:
            await self.sync_status(self.owner[pod])

    async def delete_pod(self, pod: str) -> None:
        await self.delete("pods", pod)
        if pod in self.owner:
            await self.sync_status(self.owner.pop(pod))

    async def replace_pod(self, pod: str, state: str = "ready") -> str:
        """What a ReplicaSet does when a pod goes: a new one with a new name."""
        owner = self.owner[pod]
        await self.delete_pod(pod)
        new = await self.add_pod(owner, state)
        await self.sync_status(owner)
        return new

    async def sync_status(self, name: str, **override: int) -> None:
        """Set the workload's status from its pods, as its controller would."""
        w = self.workloads[name]
        pods = [self.get("pods", p) or {} for p in self.pods_of(name)]
        ready = sum(
            1
            for p in pods
            for c in (p.get("status") or {}).get("conditions") or []
            if c.get("type") == "Ready" and c.get("status") == "True"
        )
        updated = sum(1 for p in pods if labels_of(p).get(w.hash_label) == w.revision)
        status = {
            "observedGeneration": w.generation,
            "replicas": len(pods),
            "readyReplicas": ready,
            "availableReplicas": ready,
            "updatedReplicas": updated,
        }
        if w.kind == "StatefulSet":
            status["currentRevision"] = w.revision if updated >= w.replicas else "old"
            status["updateRevision"] = w.revision
        status.update(override)
        await self.patch(w.plural, name, {"status": status})

    async def log(self, pod: str, *lines: str) -> None:
        """The pod prints ``lines`` (on a real cluster, pods print by themselves)."""
        plog = self.emu.pod_log(self.namespace, pod)
        for line in lines:
            plog.add(line)
        await asyncio.sleep(0)

    # -- the controllers' part of a rollout restart

    def _template_changed(self, plural: str, namespace: str, name: str) -> None:
        if namespace != self.namespace or name not in self.workloads:
            return
        task = asyncio.get_running_loop().create_task(self._rollout(name))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _rollout(self, name: str) -> None:
        """Replace the pods one by one; a new pod that does not come up stalls the rollout."""
        w = self.workloads[name]
        obj = self.get(w.plural, name) or {}
        w.generation = int((obj.get("metadata") or {}).get("generation") or w.generation + 1)
        old_revision, w.revision = w.revision, _suffix(9)
        mode = self.rollout_mode.get(name, "ready")
        await self.sync_status(name)
        old_pods = [
            p
            for p in self.pods_of(name)
            if labels_of(self.get("pods", p) or {}).get(w.hash_label) == old_revision
        ]
        for old in old_pods:
            await asyncio.sleep(self.rollout_step)
            if w.kind == "StatefulSet":  # in place, same name
                await self.delete_pod(old)
                new = await self.add_pod(name, "creating", index=int(old.rsplit("-", 1)[1]))
            else:  # surge first, then retire the old pod
                new = await self.add_pod(name, "creating")
            await self.sync_status(name)
            await asyncio.sleep(self.rollout_step)
            await self.set_pod(new, mode)
            if mode != "ready":
                return  # the new pod does not come up: the rollout is stuck here
            if w.kind == "Deployment":
                await self.delete_pod(old)
        await self.sync_status(name)


class RealCluster:
    """The same operations on a real cluster, in a throwaway namespace (STAGEDECK_K8S_CONTEXT)."""

    emulated = False
    IMAGE = os.environ.get("STAGEDECK_K8S_IMAGE", "busybox:1.36")

    def __init__(self, context: str, namespace: str, kubeconfig: Path) -> None:
        from kubernetes import client, config

        self.context = context
        self.namespace = namespace
        self.kubeconfig = kubeconfig
        api = config.new_client_from_config(context=context)
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.workloads: dict[str, str] = {}
        self.rollout_mode: dict[str, str] = {}
        self.emu: Any = None

    async def start_server(self) -> None:
        body = {"metadata": {"name": self.namespace, "labels": {"stagedeck.dev/test": "1"}}}
        await asyncio.to_thread(self.core.create_namespace, body)

    async def close(self) -> None:
        await asyncio.to_thread(self.core.delete_namespace, self.namespace)

    def _script(self, state: str) -> tuple[str, list[str]]:
        if state == "crashloop":
            return self.IMAGE, ["sh", "-c", 'echo "boom from $HOSTNAME"; exit 1']
        if state == "imagepull":
            return "registry.invalid/stagedeck/nope:0", ["true"]
        loop = 'i=0; while true; do echo "hello $i from $HOSTNAME"; i=$((i+1)); sleep 1; done'
        return self.IMAGE, ["sh", "-c", loop]

    async def deployment(
        self,
        name: str,
        replicas: int = 2,
        *,
        state: str | Iterable[str] = "ready",
        labels: Mapping[str, str] | None = None,
        annotations: Mapping[str, str] | None = None,
        kind: str = "Deployment",
    ) -> list[str]:
        if not isinstance(state, str):
            pytest.skip("per-pod states need the emulator")
        image, command = self._script(state)
        selector = {"app": name}
        body = {
            "apiVersion": "apps/v1",
            "kind": kind,
            "metadata": {
                "name": name,
                "labels": dict(labels or selector),
                "annotations": dict(annotations or {}),
            },
            "spec": {
                "replicas": replicas,
                "selector": {"matchLabels": selector},
                "template": {
                    "metadata": {"labels": selector},
                    "spec": {
                        "terminationGracePeriodSeconds": 1,
                        "containers": [{"name": "main", "image": image, "command": command}],
                    },
                },
            },
        }
        if kind == "StatefulSet":
            body["spec"]["serviceName"] = name
            await asyncio.to_thread(self.apps.create_namespaced_stateful_set, self.namespace, body)
        else:
            await asyncio.to_thread(self.apps.create_namespaced_deployment, self.namespace, body)
        self.workloads[name] = kind
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline:
            pods = self.pods_of(name)
            if len(pods) >= replicas:
                return pods
            await asyncio.sleep(1)
        raise AssertionError(f"{name}: pods did not appear")

    async def statefulset(self, name: str, replicas: int = 1, **kwargs: Any) -> list[str]:
        return await self.deployment(name, replicas, kind="StatefulSet", **kwargs)

    def pods_of(self, name: str) -> list[str]:
        pods = self.core.list_namespaced_pod(self.namespace, label_selector=f"app={name}")
        return sorted(p.metadata.name for p in pods.items if not p.metadata.deletion_timestamp)

    async def replace_pod(self, pod: str, state: str = "ready") -> str:
        owner = pod.rsplit("-", 2)[0]
        before = set(self.pods_of(owner))
        await asyncio.to_thread(self.core.delete_namespaced_pod, pod, self.namespace)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            new = set(self.pods_of(owner)) - before
            if new:
                return new.pop()
            await asyncio.sleep(1)
        raise AssertionError("no replacement pod")

    async def log(self, pod: str, *lines: str) -> None:
        """Real pods print 'hello N from POD' by themselves."""

    def __getattr__(self, name: str) -> Any:
        if name in ("set_pod", "sync_status", "bare_pod", "outage", "cut", "add_pod"):
            pytest.skip(f"{name} needs the emulator")
        raise AttributeError(name)


# --------------------------------------------------------------------------- fixtures


def write_kubeconfig(path: Path, server: str, namespace: str) -> Path:
    path.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "clusters": [{"name": "kmock", "cluster": {"server": server}}],
                "users": [{"name": "tester", "user": {"token": "not-checked"}}],
                "contexts": [
                    {
                        "name": EMULATOR_CONTEXT,
                        "context": {"cluster": "kmock", "user": "tester", "namespace": namespace},
                    },
                    {
                        "name": "elsewhere",
                        "context": {"cluster": "kmock", "user": "tester", "namespace": "other"},
                    },
                ],
                "current-context": EMULATOR_CONTEXT,
            }
        )
    )
    return path


Cluster = EmulatedCluster | RealCluster


@pytest_asyncio.fixture
async def cluster(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """A namespace to test in: the emulator, or a real cluster with STAGEDECK_K8S_CONTEXT."""
    namespace = f"sd-{_suffix(6)}"
    if REAL_CONTEXT:
        real = RealCluster(
            REAL_CONTEXT, namespace, Path(os.environ.get("KUBECONFIG", "~/.kube/config"))
        )
        await real.start_server()
        try:
            yield real
        finally:
            await real.close()
        return
    async with Emulator() as emulator:
        kubeconfig = tmp_path / "kubeconfig"
        c = EmulatedCluster(emulator, namespace, kubeconfig)
        await c.start_server()
        write_kubeconfig(kubeconfig, f"http://127.0.0.1:{c.port}", namespace)
        monkeypatch.setenv("KUBECONFIG", str(kubeconfig))
        try:
            yield c
        finally:
            await c.close()


def recipe_for(cluster: Any, tmp_path: Path, services: str, **environment: Any) -> Recipe:
    """A kubernetes recipe for ``cluster``'s namespace; ``services`` is TOML."""
    extra = "".join(f"{k} = {json.dumps(v)}\n" for k, v in environment.items())
    text = (
        textwrap.dedent(f"""
        [environment]
        name = "k8s-test"
        target = "kubernetes"
        context = "{cluster.context}"
        namespace = "{cluster.namespace}"
        probe_interval = 0.2
        """)
        + extra
        + textwrap.dedent(services)
    )
    path = tmp_path / "recipe.toml"
    path.write_text(text)
    return load_recipe(path)


@contextlib.asynccontextmanager
async def running_engine(recipe: Recipe, timing: Timing = FAST) -> AsyncIterator[Engine]:
    engine = Engine(recipe, target_factory=lambda r, e: KubernetesTarget(r, e, timing=timing))
    await engine.start()
    try:
        yield engine
    finally:
        await stop_engine(engine)


async def stop_engine(engine: Engine) -> None:
    """``engine.stop()``, cancelling the probe loops again if one swallowed the first cancel.

    On Python 3.11 ``asyncio.wait_for`` (used by the engine's probe loop) loses a
    cancellation that arrives as the awaited event fires; the loop then runs on and
    ``stop()`` waits for it forever. Python 3.12 fixed wait_for; the engine should
    use ``asyncio.timeout`` (reported to the lead).
    """
    stopping = asyncio.ensure_future(engine.stop())
    while True:
        done, _ = await asyncio.wait({stopping}, timeout=0.5)
        if done:
            stopping.result()
            return
        for task in list(engine._probe_tasks.values()):
            task.cancel()


def target_of(engine: Engine) -> KubernetesTarget:
    assert isinstance(engine.target, KubernetesTarget)
    return engine.target


async def until(
    check: Callable[[], bool], timeout: float = 10.0, what: str | Callable[[], str] = ""
) -> None:
    """``support.wait.wait_until``, with more time against a real cluster."""
    await wait_until(check, timeout * (12 if REAL_CONTEXT else 1), what, interval=0.01)


def state_of(engine: Engine, name: str) -> ProcState:
    return engine.statuses[name].state


def describe(engine: Engine) -> str:
    return (
        "; ".join(
            f"{s.name}={s.state.value}/{s.health.value} [{s.platform_health}] {s.reason!r}"
            for s in engine.statuses.values()
        )
        + f"; connected={engine.connected} {engine.connection_detail!r}"
    )
