"""The pure parts of the Kubernetes target: selectors, pod and workload reading, verdicts."""

from __future__ import annotations

from typing import Any

import pytest

from stagedeck.engine.events import ProcState
from stagedeck.targets.kubernetes.client import (
    Forbidden,
    Gone,
    KubeError,
    Unreachable,
    error_for,
    exit_code_of,
)
from stagedeck.targets.kubernetes.logs import LogFollower
from stagedeck.targets.kubernetes.model import (
    LabelSelector,
    PodInfo,
    WorkloadInfo,
    timestamp_key,
    verdict_for,
)
from stagedeck.targets.kubernetes.target import parse_workload_ref
from support.k8skit import container_status, pod_status, rfc3339


def pod(name: str, state: str = "ready", restarts: int = 0, **extra: Any) -> PodInfo:
    return PodInfo.from_json(
        {
            "metadata": {"name": name, "labels": {"app": "api"}, **extra},
            "spec": {"containers": [{"name": "main"}]},
            "status": pod_status(state, restarts),
        }
    )


def deployment(desired: int = 2, **status: int) -> WorkloadInfo:
    return WorkloadInfo.from_json(
        "Deployment",
        {
            "metadata": {"name": "api", "generation": 2},
            "spec": {"replicas": desired, "selector": {"matchLabels": {"app": "api"}}},
            "status": status,
        },
    )


def test_label_selectors_match_like_the_api_server() -> None:
    selector = LabelSelector.from_json(
        {
            "matchLabels": {"app": "api"},
            "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["web", "edge"]},
                {"key": "canary", "operator": "DoesNotExist"},
            ],
        }
    )
    assert selector.matches({"app": "api", "tier": "web"})
    assert not selector.matches({"app": "api", "tier": "db"})
    assert not selector.matches({"app": "api", "tier": "web", "canary": "1"})
    assert selector.query() == "app=api,tier in (web,edge),!canary"
    assert not LabelSelector().matches({"app": "api"}), "an empty selector selects nothing"


def test_pods_are_read_into_small_records() -> None:
    crashing = pod("api-1", "oom")
    assert not crashing.ready and crashing.restarts == 4
    failure = crashing.failure()
    assert failure is not None and failure.waiting == "CrashLoopBackOff"
    assert failure.last_terminated == "OOMKilled" and failure.exit_code == 137
    assert (
        crashing.problem() == "api-1: CrashLoopBackOff (last exit: OOMKilled, code 137; 4 restarts)"
    )
    assert pod("api-2", "creating").problem() == "api-2: ContainerCreating"
    assert not pod("api-2", "creating").has_logs
    assert pod("api-3").ready and pod("api-3").problem() == ""
    leaving = pod("api-4", deletionTimestamp="2024-01-01T00:00:00Z")
    assert leaving.deleting and leaving.problem() == "api-4: terminating"


def test_between_two_crashes_a_pod_still_counts_as_failing() -> None:
    raw = container_status("starting", restarts=3)
    raw["lastState"] = {"terminated": {"reason": "Error", "exitCode": 2}}
    p = PodInfo.from_json({"metadata": {"name": "api-1"}, "status": {"containerStatuses": [raw]}})
    failure = p.failure()
    assert failure is not None and failure.exit_code == 2
    assert p.problem() == "api-1: restarting after Error (exit code 2; 3 restarts)"


def test_verdicts() -> None:
    d = deployment(3)
    assert verdict_for(d, [pod("a"), pod("b"), pod("c")]).state is ProcState.RUNNING
    partial = verdict_for(d, [pod("a"), pod("b"), pod("c", "starting")])
    assert (partial.state, partial.reason, partial.platform) == (
        ProcState.RUNNING,
        "ready 2/3",
        "ready 2/3",
    )
    crashed = verdict_for(d, [pod("a", "crashloop"), pod("b", "crashloop"), pod("c", "creating")])
    assert crashed.state is ProcState.CRASHED and crashed.exit_code == 1
    assert crashed.reason == "a: CrashLoopBackOff (last exit: Error, code 1; 4 restarts) (+1 more)"
    assert crashed.platform == "ready 0/3, 8 restarts"
    starting = verdict_for(d, [pod("a", "creating")])
    assert (starting.state, starting.reason) == (ProcState.STARTING, "a: ContainerCreating")
    assert verdict_for(d, []).reason == "no pods yet (0/3)"
    stopped = verdict_for(deployment(0), [])
    assert (stopped.state, stopped.reason) == (ProcState.STOPPED, "scaled to 0 replicas")
    blind = verdict_for(deployment(3, readyReplicas=1), [], pods_visible=False)
    assert (blind.state, blind.platform) == (ProcState.RUNNING, "ready 1/3")
    rolling = verdict_for(
        deployment(2, updatedReplicas=1, availableReplicas=2), [pod("a"), pod("b")], rolling=True
    )
    assert rolling.reason == "rolling out: 1/2 updated, 2/2 available"


def test_rollout_completion_follows_kubectl() -> None:
    done = dict(observedGeneration=2, replicas=2, updatedReplicas=2, availableReplicas=2)
    assert deployment(2, **done).rollout_complete()
    assert not deployment(2, **{**done, "observedGeneration": 1}).rollout_complete()
    assert not deployment(2, **{**done, "replicas": 3}).rollout_complete(), "an old pod is left"
    assert not deployment(2, **done).rollout_complete(generation=3)
    sts = WorkloadInfo.from_json(
        "StatefulSet",
        {
            "metadata": {"name": "db", "generation": 4},
            "spec": {"replicas": 1},
            "status": {
                "observedGeneration": 4,
                "readyReplicas": 1,
                "updatedReplicas": 1,
                "currentRevision": "db-1",
                "updateRevision": "db-2",
            },
        },
    )
    assert not sts.rollout_complete()
    stalled = WorkloadInfo.from_json(
        "Deployment",
        {
            "metadata": {"name": "api"},
            "status": {
                "conditions": [
                    {
                        "type": "Progressing",
                        "status": "False",
                        "reason": "ProgressDeadlineExceeded",
                        "message": 'ReplicaSet "api-7c" has timed out progressing.',
                    }
                ]
            },
        },
    )
    assert (
        stalled.stalled
        == 'ProgressDeadlineExceeded: ReplicaSet "api-7c" has timed out progressing.'
    )


def test_timestamps_sort_even_when_go_trims_their_zeros() -> None:
    a, b, c = (
        timestamp_key(s)
        for s in (
            "2024-05-01T10:00:05.1Z",
            "2024-05-01T10:00:05.099999999Z",
            "2024-05-01T10:00:05Z",
        )
    )
    assert c < b < a
    assert timestamp_key("hello world") == ""
    assert timestamp_key(rfc3339(1714557605.25)) == "2024-05-01T10:00:05.250000000"


def test_a_resumed_log_drops_what_was_already_delivered() -> None:
    got: list[str] = []
    f = LogFollower(
        None, "ns", "api-1", None, "api-1", got.extend, since_seconds=60, tail_lines=10, retry=1
    )  # type: ignore[arg-type]
    f._feed(b"2024-05-01T10:00:01.5Z one\n2024-05-01T10:00:02Z two\n2024-05-01T10:00:0")
    f._feed(b"3Z three\n")
    assert got == ["api-1 | one", "api-1 | two", "api-1 | three"]
    f._skip_until = f._last_key  # what a resume does
    f._feed(
        b"2024-05-01T10:00:02Z two\n2024-05-01T10:00:03Z three\n2024-05-01T10:00:04Z four\nno stamp\n"
    )
    assert got[3:] == ["api-1 | four", "api-1 | no stamp"]
    f._feed(b"x" * 20000)
    f._flush()
    assert got[-1].endswith(" …") and len(got[-1]) < 17000


def test_api_errors_become_our_vocabulary() -> None:
    assert isinstance(error_for(403, "nope"), Forbidden)
    assert isinstance(error_for(410, "old"), Gone)
    assert isinstance(error_for(503, "busy"), Unreachable)
    assert exit_code_of({"status": "Success"}) == 0
    assert (
        exit_code_of(
            {
                "status": "Failure",
                "reason": "NonZeroExitCode",
                "details": {"causes": [{"reason": "ExitCode", "message": "7"}]},
            }
        )
        == 7
    )
    with pytest.raises(KubeError, match="executable file not found"):
        exit_code_of(
            {"status": "Failure", "message": 'exec: "seed": executable file not found in $PATH'}
        )


def test_workload_references() -> None:
    assert parse_workload_ref("api") == (("deployments", "statefulsets"), "api")
    assert parse_workload_ref("sts/db") == (("statefulsets",), "db")
    assert parse_workload_ref("deployment/web") == (("deployments",), "web")
