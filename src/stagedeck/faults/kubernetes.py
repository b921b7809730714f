"""Kubernetes faults: delete a pod, scale a workload to zero for a while.

Deleting a pod needs no undo: its controller replaces it, which is what the
fault tests (does the service ride out losing a pod?). Scaling to zero uses
the target's own stop and start, which remember the replicas in an
annotation; the keeper gets the replica count too, so it can scale back if
this process dies with the workload at zero.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from stagedeck.faults.apply import Applied
from stagedeck.faults.model import FaultKind, FaultSpec, Undo
from stagedeck.targets.base import TargetError

if TYPE_CHECKING:
    from stagedeck.engine.engine import Engine


def scale_undo(engine: Engine, spec: FaultSpec) -> Undo:
    """Scale the workload back to the replicas it has now (the keeper's sync client)."""
    target: Any = engine.target
    try:
        workload = target.workload_of(engine.service(spec.service))
    except TargetError:
        return {"kind": "none"}
    if workload.replicas == 0:
        return {"kind": "none"}
    return {
        "kind": "k8s-scale",
        "plural": workload.plural,
        "name": workload.name,
        "namespace": target.namespace,
        "context": target.context,
        "kubeconfig": target.config_file or os.environ.get("KUBECONFIG", ""),
        "replicas": workload.replicas,
    }


async def inject_kubernetes(engine: Engine, spec: FaultSpec) -> Applied:
    from stagedeck.targets.kubernetes.client import KubeError

    target: Any = engine.target
    svc = engine.service(spec.service)
    if spec.kind is FaultKind.DELETE_POD:
        pod = target.exec_pod(spec.service)
        if pod is None:
            raise TargetError(f"{spec.service} has no running pod to delete")
        try:
            await target.require_client().delete_pod(target.namespace, pod.name)
        except KubeError as exc:
            raise TargetError(f"deleting pod {pod.name}: {exc}") from None

        async def over() -> str:
            return f"pod {pod.name} was deleted; its controller replaces it"

        return Applied(over, {"kind": "none"}, f"deleted pod {pod.name}")

    workload = target.workload_of(svc)
    replicas = workload.replicas
    if replicas == 0:
        raise TargetError(f"{workload.ref} is already scaled to 0")
    undo = scale_undo(engine, spec)
    await target.stop(svc)

    async def scale_back() -> str:
        await target.start(svc)
        return f"scaled {workload.ref} back to {replicas}"

    return Applied(scale_back, undo, f"scaled {workload.ref} from {replicas} to 0")
