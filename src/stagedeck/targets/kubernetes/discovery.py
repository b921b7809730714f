"""Zero-config: a recipe made from what a namespace already runs.

``stagedeck k8s --namespace shop`` needs no TOML: every Deployment and
StatefulSet becomes a service, and the annotation
``stagedeck.dev/depends-on: "orders,payments"`` on a workload draws the
dependency graph. An optional ``stagedeck.dev/health`` annotation (a URL)
gives the service an HTTP health check the engine probes.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path

from stagedeck.engine.graph import DependencyGraph
from stagedeck.recipe.model import Environment, HealthCheck, Recipe, Service
from stagedeck.targets.base import TargetError
from stagedeck.targets.kubernetes.client import (
    ConfigProblem,
    Forbidden,
    KubeClient,
    KubeError,
)
from stagedeck.targets.kubernetes.client import list_contexts as _list_contexts
from stagedeck.targets.kubernetes.model import DEPENDS_ON, HEALTH_URL, WorkloadInfo
from stagedeck.text import clean

log = logging.getLogger("stagedeck.k8s")


@dataclass
class Discovery:
    recipe: Recipe
    notes: list[str] = field(default_factory=list)
    """Things worth a line on screen: unknown dependencies, a cycle cut, an unreadable kind."""


def list_contexts(config_file: str | None = None) -> list[str]:
    """The kubeconfig's context names, for a context switcher ([] without a kubeconfig)."""
    try:
        names, _ = _list_contexts(config_file)
    except ConfigProblem:
        return []
    return names


def current_context(config_file: str | None = None) -> str | None:
    """The kubeconfig's current context, if there is one."""
    try:
        _, current = _list_contexts(config_file)
    except ConfigProblem:
        return None
    return current


async def recipe_for_namespace(
    namespace: str = "", context: str = "", *, config_file: str | None = None
) -> Recipe:
    """A kubernetes recipe with one service per Deployment and StatefulSet in ``namespace``.

    Empty ``context``/``namespace`` mean the kubeconfig's current context and
    that context's namespace. Raises :class:`TargetError` when the cluster
    cannot be asked (no kubeconfig, unreachable, no permission to list either kind).
    """
    return (await discover_namespace(namespace, context, config_file=config_file)).recipe


async def discover_namespace(
    namespace: str = "", context: str = "", *, config_file: str | None = None
) -> Discovery:
    """Like :func:`recipe_for_namespace`, with notes about what was left out and why."""
    try:
        client = await KubeClient.connect(context, namespace, config_file)
    except ConfigProblem as exc:
        raise TargetError(str(exc)) from None
    conn = client.connection
    notes: list[str] = []
    workloads: list[WorkloadInfo] = []
    try:
        results = await asyncio.gather(
            client.list("deployments", conn.namespace),
            client.list("statefulsets", conn.namespace),
            return_exceptions=True,
        )
    finally:
        await client.close()
    failures: list[str] = []
    for kind, label, result in zip(
        ("Deployment", "StatefulSet"), ("deployments", "statefulsets"), results, strict=True
    ):
        if isinstance(result, Forbidden):
            failures.append(f"no permission to list {label} in {conn.namespace} (RBAC)")
        elif isinstance(result, KubeError):
            failures.append(f"cannot list {label} in {conn.namespace} on {conn.server}: {result}")
        elif isinstance(result, BaseException):
            raise result
        else:
            workloads += [WorkloadInfo.from_json(kind, o) for o in result.items]  # type: ignore[arg-type]
    if len(failures) == 2:
        raise TargetError("; ".join(dict.fromkeys(failures)))
    notes += failures
    recipe, more = build_recipe(workloads, conn.context, conn.namespace)
    return Discovery(recipe, notes + more)


def build_recipe(
    workloads: list[WorkloadInfo], context: str, namespace: str
) -> tuple[Recipe, list[str]]:
    """The recipe for these workloads (pure: the cluster was already asked)."""
    notes: list[str] = []
    deployments = {w.name for w in workloads if w.kind == "Deployment"}
    names: dict[tuple[str, str], str] = {}
    for w in sorted(workloads, key=lambda w: (w.kind != "Deployment", w.name)):
        clash = w.kind == "StatefulSet" and w.name in deployments
        # Shown everywhere; the API checks names, but the answer is still outside text.
        names[(w.kind, w.name)] = clean(f"{w.name}-statefulset" if clash else w.name)
    by_workload_name = {w.name: names[(w.kind, w.name)] for w in workloads}
    deps: dict[str, list[str]] = {}
    for w in workloads:
        service = names[(w.kind, w.name)]
        wanted = [d.strip() for d in w.annotations.get(DEPENDS_ON, "").split(",") if d.strip()]
        known = []
        for dep in wanted:
            target = by_workload_name.get(dep, dep if dep in names.values() else "")
            if not target:
                notes.append(f"{service}: depends on '{dep}', which is not in {namespace}")
            elif target != service:
                known.append(target)
        deps[service] = list(dict.fromkeys(known))
    # A cycle would make the graph useless; drop the edge that closes it, and say so.
    while (cycle := DependencyGraph(deps).find_cycle()) is not None:
        user, dep = cycle[-2], cycle[-1]
        deps[user].remove(dep)
        notes.append(f"dependency cycle {' → '.join(cycle)}: ignored {user} → {dep}")
    services: dict[str, Service] = {}
    for w in sorted(workloads, key=lambda w: names[(w.kind, w.name)]):
        name = names[(w.kind, w.name)]
        url = w.annotations.get(HEALTH_URL, "")
        services[name] = Service(
            name=name,
            deployment=f"{w.kind.lower()}/{w.name}",
            depends_on=tuple(deps.get(name, ())),
            health=HealthCheck(kind="http", url=url) if url else None,
        )
    environment = Environment(
        name=f"{namespace} ({context})", target="kubernetes", context=context, namespace=namespace
    )
    path = Path(f"kubernetes:{context}/{namespace}")
    return Recipe(path, environment, services), [clean(n) for n in notes]  # annotations' text
