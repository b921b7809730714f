"""Zero-config: a namespace's workloads become a recipe; kubeconfig contexts are listed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stagedeck.engine.events import ProcState
from stagedeck.targets.base import TargetError
from stagedeck.targets.kubernetes.discovery import (
    build_recipe,
    current_context,
    discover_namespace,
    list_contexts,
    recipe_for_namespace,
)
from stagedeck.targets.kubernetes.model import WorkloadInfo
from support import k8skit
from support.k8skit import EMULATOR_CONTEXT, REAL_CONTEXT, emulator_only, running_engine, until

cluster = k8skit.cluster  # the fixture: a namespace in the emulator or a real cluster
pytestmark = k8skit.real_cluster_is_slow


async def test_a_namespace_becomes_a_recipe_with_its_dependencies(cluster: Any) -> None:
    await cluster.deployment(
        "orders", 1, annotations={"stagedeck.dev/depends-on": "payments, ledger"}
    )
    await cluster.deployment("payments", 1, annotations={"stagedeck.dev/depends-on": "ledger,tax"})
    await cluster.statefulset("ledger", 1)
    discovery = await discover_namespace(cluster.namespace, cluster.context)
    recipe = discovery.recipe
    assert recipe.environment.target == "kubernetes"
    assert (recipe.environment.context, recipe.environment.namespace) == (
        cluster.context,
        cluster.namespace,
    )
    assert sorted(recipe.services) == ["ledger", "orders", "payments"]
    assert recipe.services["orders"].depends_on == ("payments", "ledger")
    assert recipe.services["ledger"].deployment == "statefulset/ledger"
    assert recipe.graph.layers() == [["ledger"], ["payments"], ["orders"]]
    assert discovery.notes == [f"payments: depends on 'tax', which is not in {cluster.namespace}"]

    # The recipe drives an engine like a written one.
    async with running_engine(recipe) as engine:
        await until(lambda: all(s.state is ProcState.RUNNING for s in engine.statuses.values()))


@emulator_only
async def test_defaults_come_from_the_kubeconfig(cluster: Any) -> None:
    await cluster.deployment("orders", 1)
    recipe = await recipe_for_namespace()
    assert recipe.environment.context == EMULATOR_CONTEXT
    assert recipe.environment.namespace == cluster.namespace
    assert list(recipe.services) == ["orders"]


@emulator_only
async def test_no_permission_on_both_kinds_is_an_error(cluster: Any) -> None:
    cluster.emu.forbidden |= {("deployments", None), ("statefulsets", None)}
    with pytest.raises(TargetError, match=r"no permission to list deployments in .* \(RBAC\)"):
        await recipe_for_namespace(cluster.namespace)
    cluster.emu.forbidden.discard(("statefulsets", None))
    discovery = await discover_namespace(cluster.namespace)
    assert discovery.notes == [f"no permission to list deployments in {cluster.namespace} (RBAC)"]


@emulator_only
async def test_contexts_for_the_switcher(cluster: Any) -> None:
    assert list_contexts() == [EMULATOR_CONTEXT, "elsewhere"]
    assert current_context() == EMULATOR_CONTEXT


def test_no_kubeconfig_means_no_contexts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    assert list_contexts() == []
    assert current_context() is None


async def test_no_kubeconfig_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if REAL_CONTEXT:
        pytest.skip("uses its own (missing) kubeconfig")
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "missing"))
    with pytest.raises(TargetError, match=r"no kubeconfig at .*missing: set KUBECONFIG"):
        await recipe_for_namespace("shop")


def workload(kind: str, name: str, depends: str = "", health: str = "") -> WorkloadInfo:
    annotations = {"stagedeck.dev/depends-on": depends} if depends else {}
    if health:
        annotations["stagedeck.dev/health"] = health
    return WorkloadInfo(kind, name, annotations=annotations)  # type: ignore[arg-type]


def test_a_dependency_cycle_is_cut_and_reported() -> None:
    recipe, notes = build_recipe(
        [
            workload("Deployment", "a", "b"),
            workload("Deployment", "b", "c"),
            workload("Deployment", "c", "a,c", health="http://c.shop:8080/healthz"),
        ],
        "ctx",
        "shop",
    )
    assert recipe.graph.find_cycle() is None
    assert notes == ["dependency cycle a → b → c → a: ignored c → a"]
    assert recipe.services["c"].depends_on == ()
    check = recipe.services["c"].health
    assert check is not None and check.url == "http://c.shop:8080/healthz"


def test_a_statefulset_named_like_a_deployment_keeps_both() -> None:
    recipe, _ = build_recipe(
        [
            workload("StatefulSet", "cache"),
            workload("Deployment", "cache"),
            workload("Deployment", "web", "cache"),
        ],
        "ctx",
        "shop",
    )
    assert recipe.services["cache"].deployment == "deployment/cache"
    assert recipe.services["cache-statefulset"].deployment == "statefulset/cache"
    assert recipe.services["web"].depends_on == ("cache",)
