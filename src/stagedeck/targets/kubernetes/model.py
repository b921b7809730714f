"""What stagedeck keeps of Kubernetes objects, and how it reads health from them.

The watch delivers whole objects (a pod is several kilobytes of JSON); the
target keeps only the fields below, as small frozen records. Everything in
this module is pure: no I/O, no event loop, so the rules that turn pods into
"crashed: CrashLoopBackOff" are plain unit-testable functions.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from stagedeck.engine.events import ProcState
from stagedeck.text import gate_fields

WorkloadKind = Literal["Deployment", "StatefulSet"]
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
DEPENDS_ON = "stagedeck.dev/depends-on"
HEALTH_URL = "stagedeck.dev/health"
DEFAULT_CONTAINER = "kubectl.kubernetes.io/default-container"

CRASH_REASONS = frozenset(
    {
        "CrashLoopBackOff",
        "ImagePullBackOff",
        "ErrImagePull",
        "ErrImageNeverPull",
        "InvalidImageName",
        "CreateContainerConfigError",
        "CreateContainerError",
        "RunContainerError",
        "OOMKilled",
        "Error",
    }
)
"""Waiting or terminated reasons that mean "this will not come up by itself"."""


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _str_map(value: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in _dict(value).items()}


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


# --------------------------------------------------------------------------- selectors


@dataclass(frozen=True)
class LabelSelector:
    """A Kubernetes label selector (``matchLabels`` and ``matchExpressions``)."""

    match_labels: Mapping[str, str] = field(default_factory=dict)
    expressions: tuple[tuple[str, str, tuple[str, ...]], ...] = ()
    """(key, operator, values) with operator In, NotIn, Exists or DoesNotExist."""

    @classmethod
    def from_json(cls, raw: Any) -> LabelSelector:
        raw = _dict(raw)
        expressions = tuple(
            (
                str(e.get("key", "")),
                str(e.get("operator", "")),
                tuple(map(str, e.get("values") or ())),
            )
            for e in raw.get("matchExpressions") or ()
            if isinstance(e, dict)
        )
        return cls(_str_map(raw.get("matchLabels")), expressions)

    @property
    def empty(self) -> bool:
        return not self.match_labels and not self.expressions

    def matches(self, labels: Mapping[str, str]) -> bool:
        if self.empty:
            return False  # an empty selector selects nothing here: never "every pod"
        for key, value in self.match_labels.items():
            if labels.get(key) != value:
                return False
        for key, op, values in self.expressions:
            present = key in labels
            if op == "In" and not (present and labels[key] in values):
                return False
            if op == "NotIn" and present and labels[key] in values:
                return False
            if op == "Exists" and not present:
                return False
            if op == "DoesNotExist" and present:
                return False
        return True

    def query(self) -> str:
        """The selector as the API's ``labelSelector`` query string."""
        parts = [f"{k}={v}" for k, v in sorted(self.match_labels.items())]
        for key, op, values in self.expressions:
            if op == "In":
                parts.append(f"{key} in ({','.join(values)})")
            elif op == "NotIn":
                parts.append(f"{key} notin ({','.join(values)})")
            elif op == "Exists":
                parts.append(key)
            elif op == "DoesNotExist":
                parts.append(f"!{key}")
        return ",".join(parts)

    def describe(self) -> str:
        return self.query() or "(empty selector)"


# --------------------------------------------------------------------------- pods


@dataclass(frozen=True, slots=True)
class ContainerInfo:
    name: str
    ready: bool = False
    restarts: int = 0
    started: bool = False
    """The container ran at some point, so it has a log to read."""
    waiting: str = ""
    waiting_message: str = ""
    terminated: str = ""
    """Reason of the *current* terminated state (a finished or crashed container)."""
    last_terminated: str = ""
    """Reason of the previous run's end (OOMKilled, Error, Completed)."""
    exit_code: int | None = None
    """The current or, failing that, the previous run's exit code."""

    def __post_init__(self) -> None:
        gate_fields(self, "waiting", "waiting_message", "terminated", "last_terminated")


@dataclass(frozen=True, slots=True)
class PodInfo:
    name: str
    uid: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)
    phase: str = "Pending"
    ready: bool = False
    containers: tuple[ContainerInfo, ...] = ()
    container_names: tuple[str, ...] = ()
    """From the spec, so logs can be asked for before any status arrives."""
    deleting: bool = False
    unschedulable: str = ""
    pod_reason: str = ""
    """Pod-level reason: Evicted, NodeLost, ..."""
    template_hash: str = ""
    """pod-template-hash (Deployment) or controller-revision-hash (StatefulSet)."""
    default_container: str = ""
    """kubectl.kubernetes.io/default-container: where exec goes in a multi-container pod."""

    def __post_init__(self) -> None:
        gate_fields(self, "phase", "unschedulable", "pod_reason")

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> PodInfo:
        meta = _dict(obj.get("metadata"))
        spec = _dict(obj.get("spec"))
        status = _dict(obj.get("status"))
        labels = _str_map(meta.get("labels"))
        ready = any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in status.get("conditions") or ()
            if isinstance(c, dict)
        )
        unschedulable = ""
        for c in status.get("conditions") or ():
            if (
                isinstance(c, dict)
                and c.get("type") == "PodScheduled"
                and c.get("status") == "False"
            ):
                unschedulable = str(c.get("message") or c.get("reason") or "not scheduled")
        containers = tuple(
            _container(c) for c in status.get("containerStatuses") or () if isinstance(c, dict)
        )
        names = tuple(
            str(c.get("name")) for c in spec.get("containers") or () if isinstance(c, dict)
        ) or tuple(c.name for c in containers)
        return cls(
            name=str(meta.get("name", "")),
            uid=str(meta.get("uid", "")),
            labels=labels,
            phase=str(status.get("phase") or "Pending"),
            ready=ready,
            containers=containers,
            container_names=names,
            deleting=bool(meta.get("deletionTimestamp")),
            unschedulable=unschedulable,
            pod_reason=str(status.get("reason") or ""),
            template_hash=labels.get("pod-template-hash")
            or labels.get("controller-revision-hash", ""),
            default_container=_str_map(meta.get("annotations")).get(DEFAULT_CONTAINER, ""),
        )

    @property
    def terminal(self) -> bool:
        return self.phase in ("Succeeded", "Failed")

    @property
    def restarts(self) -> int:
        return sum(c.restarts for c in self.containers)

    @property
    def has_logs(self) -> bool:
        """Some container has started, so the log endpoint will answer."""
        return any(c.started for c in self.containers)

    def failure(self) -> ContainerInfo | None:
        """The container that keeps this pod from coming up by itself, if any."""
        for c in self.containers:
            if c.waiting in CRASH_REASONS or c.terminated in CRASH_REASONS:
                return c
            if not c.ready and c.restarts and c.last_terminated in CRASH_REASONS:
                return c  # between two crashes of a crash loop: it ran, but will fall again
        return None

    def problem(self) -> str:
        """Why this pod is not ready, in a few words ('' when it is)."""
        if self.ready and not self.deleting:
            return ""
        bad = self.failure()
        if bad is not None:
            return f"{self.name}: {describe_failure(bad)}"
        if self.pod_reason:
            return f"{self.name}: {self.pod_reason}"
        if self.unschedulable:
            return f"{self.name}: unschedulable: {self.unschedulable}"
        for c in self.containers:
            if c.waiting:
                return f"{self.name}: {c.waiting}"
        if self.deleting:
            return f"{self.name}: terminating"
        if self.phase == "Running":
            return f"{self.name}: running, not ready"
        return f"{self.name}: {self.phase.lower()}"


def _container(raw: Mapping[str, Any]) -> ContainerInfo:
    state = _dict(raw.get("state"))
    last = _dict(_dict(raw.get("lastState")).get("terminated"))
    waiting = _dict(state.get("waiting"))
    terminated = _dict(state.get("terminated"))
    exit_code = terminated.get("exitCode", last.get("exitCode"))
    return ContainerInfo(
        name=str(raw.get("name", "")),
        ready=bool(raw.get("ready")),
        restarts=_int(raw.get("restartCount")),
        started=bool(state.get("running") or terminated or last),
        waiting=str(waiting.get("reason") or ""),
        waiting_message=str(waiting.get("message") or ""),
        terminated=str(
            terminated.get("reason") or ("Error" if _int(terminated.get("exitCode")) else "")
        )
        if terminated
        else "",
        last_terminated=str(last.get("reason") or ""),
        exit_code=None if exit_code is None else _int(exit_code),
    )


def describe_failure(c: ContainerInfo) -> str:
    """'CrashLoopBackOff (last exit: OOMKilled, code 137; 4 restarts)'."""
    what = c.waiting or c.terminated
    details: list[str] = []
    if not what:
        what = f"restarting after {c.last_terminated}"
    elif c.last_terminated and c.last_terminated != what:
        code = f", code {c.exit_code}" if c.exit_code is not None else ""
        details.append(f"last exit: {c.last_terminated}{code}")
    if c.exit_code is not None and not details:
        details.append(f"exit code {c.exit_code}")
    if c.restarts:
        details.append(f"{c.restarts} restart{'s' if c.restarts != 1 else ''}")
    text = what + (f" ({'; '.join(details)})" if details else "")
    if c.waiting_message and c.waiting in ("ImagePullBackOff", "ErrImagePull", "InvalidImageName"):
        text += f": {c.waiting_message[:160]}"
    return text


# --------------------------------------------------------------------------- workloads


@dataclass(frozen=True, slots=True)
class WorkloadInfo:
    kind: WorkloadKind
    name: str
    labels: Mapping[str, str] = field(default_factory=dict)
    annotations: Mapping[str, str] = field(default_factory=dict)
    template_labels: Mapping[str, str] = field(default_factory=dict)
    selector: LabelSelector = field(default_factory=LabelSelector)
    replicas: int = 1
    generation: int = 0
    observed_generation: int = 0
    status_replicas: int = 0
    ready_replicas: int = 0
    available_replicas: int = 0
    updated_replicas: int = 0
    current_revision: str = ""
    update_revision: str = ""
    stalled: str = ""
    """Why the controller gave up (ProgressDeadlineExceeded, ReplicaFailure), if it did."""

    def __post_init__(self) -> None:
        gate_fields(self, "stalled")

    @classmethod
    def from_json(cls, kind: WorkloadKind, obj: Mapping[str, Any]) -> WorkloadInfo:
        meta = _dict(obj.get("metadata"))
        spec = _dict(obj.get("spec"))
        status = _dict(obj.get("status"))
        stalled = ""
        for c in status.get("conditions") or ():
            if not isinstance(c, dict):
                continue
            if (c.get("type") == "Progressing" and c.get("status") == "False") or (
                c.get("type") == "ReplicaFailure" and c.get("status") == "True"
            ):
                stalled = f"{c.get('reason') or c.get('type')}: {c.get('message') or ''}".strip(
                    ": "
                )
        replicas = spec.get("replicas")
        return cls(
            kind=kind,
            name=str(meta.get("name", "")),
            labels=_str_map(meta.get("labels")),
            annotations=_str_map(meta.get("annotations")),
            template_labels=_str_map(
                _dict(_dict(spec.get("template")).get("metadata")).get("labels")
            ),
            selector=LabelSelector.from_json(spec.get("selector")),
            replicas=1 if replicas is None else _int(replicas, 1),
            generation=_int(meta.get("generation")),
            observed_generation=_int(status.get("observedGeneration")),
            status_replicas=_int(status.get("replicas")),
            ready_replicas=_int(status.get("readyReplicas")),
            available_replicas=_int(status.get("availableReplicas")),
            updated_replicas=_int(status.get("updatedReplicas")),
            current_revision=str(status.get("currentRevision") or ""),
            update_revision=str(status.get("updateRevision") or ""),
            stalled=stalled,
        )

    @property
    def ref(self) -> str:
        return f"{self.kind.lower()}/{self.name}"

    @property
    def plural(self) -> Literal["deployments", "statefulsets"]:
        return "deployments" if self.kind == "Deployment" else "statefulsets"

    def rollout_complete(self, generation: int | None = None) -> bool:
        """kubectl's "successfully rolled out": observed, updated, available, no leftovers."""
        want = self.generation if generation is None else max(generation, self.generation)
        if self.observed_generation < want:
            return False
        if self.kind == "StatefulSet":
            revision_ok = not self.update_revision or self.current_revision == self.update_revision
            return (
                revision_ok
                and self.updated_replicas >= self.replicas
                and self.ready_replicas >= self.replicas
            )
        return (
            self.updated_replicas == self.replicas
            and self.available_replicas == self.replicas
            and self.status_replicas == self.replicas
        )

    def rollout_progress(self) -> str:
        return (
            f"{self.updated_replicas}/{self.replicas} updated, "
            f"{self.available_replicas if self.kind == 'Deployment' else self.ready_replicas}"
            f"/{self.replicas} available"
        )


# --------------------------------------------------------------------------- verdicts


@dataclass(frozen=True, slots=True)
class Verdict:
    """What one service looks like from the platform: the sink calls it turns into."""

    state: ProcState
    reason: str = ""
    exit_code: int | None = None
    platform: str = ""
    """The platform_health verdict: 'ready 2/3'."""

    def __post_init__(self) -> None:
        gate_fields(self, "reason", "platform")


def verdict_for(
    workload: WorkloadInfo | None,
    pods: Iterable[PodInfo],
    *,
    pods_visible: bool = True,
    rolling: bool = False,
) -> Verdict:
    """Fold a workload and its pods into one service state.

    ``pods_visible`` is False when RBAC hides the pods: the workload's own
    status counts are then all there is to go on.
    """
    live = [p for p in pods if not p.terminal and not p.deleting]
    desired = workload.replicas if workload is not None else len(live)
    if not pods_visible:
        if workload is None:
            return Verdict(ProcState.PENDING)
        ready = workload.ready_replicas
        platform = f"ready {ready}/{desired}"
        if desired == 0:
            return Verdict(ProcState.STOPPED, "scaled to 0 replicas", platform=platform)
        state = ProcState.RUNNING if ready else ProcState.STARTING
        return Verdict(state, workload.stalled, platform=platform)

    ready = sum(1 for p in live if p.ready)
    restarts = sum(p.restarts for p in live)
    platform = f"ready {ready}/{desired}" + (
        f", {restarts} restart{'s' if restarts != 1 else ''}" if restarts else ""
    )
    if desired == 0 and not live:
        return Verdict(ProcState.STOPPED, "scaled to 0 replicas", platform=platform)
    failing = [(p, c) for p in live if (c := p.failure()) is not None]
    if ready == 0:
        if failing:
            pod, c = failing[0]
            more = f" (+{len(failing) - 1} more)" if len(failing) > 1 else ""
            return Verdict(
                ProcState.CRASHED,
                f"{pod.name}: {describe_failure(c)}{more}",
                exit_code=c.exit_code,
                platform=platform,
            )
        if workload is not None and workload.stalled:
            return Verdict(ProcState.STARTING, workload.stalled, platform=platform)
        if not live:
            return Verdict(ProcState.STARTING, f"no pods yet (0/{desired})", platform=platform)
        return Verdict(ProcState.STARTING, live[0].problem(), platform=platform)
    reasons: list[str] = []
    if rolling and workload is not None:
        reasons.append(f"rolling out: {workload.rollout_progress()}")
    elif ready < desired:
        reasons.append(f"ready {ready}/{desired}")
    if failing:
        pod, c = failing[0]
        reasons.append(f"{pod.name}: {describe_failure(c)}")
    return Verdict(ProcState.RUNNING, "; ".join(reasons), platform=platform)


def timestamp_key(stamp: str) -> str:
    """An RFC 3339 (nano) UTC timestamp as a string that sorts by time.

    Go trims trailing zeros of the fraction ('...:05.1Z' vs '...:05.123Z'),
    so the fraction is padded to nine digits before comparing.
    """
    if len(stamp) < 20 or stamp[4] != "-" or stamp[10] != "T":
        return ""
    base, _, rest = stamp[:19], stamp[19], stamp[20:]
    if stamp[19] == ".":
        frac = rest.rstrip("Z")
        digits = frac.split("+")[0].split("-")[0]
        return base + "." + digits.ljust(9, "0")[:9]
    return base + ".000000000"
