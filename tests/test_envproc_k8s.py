"""An environment process on the Kubernetes target: one watch, many viewers.

The cluster is the API emulator over real HTTP (``k8skit``). The environment
process holds the namespace's watches; viewers attached to it hold none and
see what it sees, including a pod's crash loop and its last words.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from stagedeck.engine.events import Health, ProcState
from support import k8skit
from support.envproc import isolated_env, mirror_of, serve
from support.k8skit import emulator_only, recipe_for, until

cluster = k8skit.cluster
pytestmark = k8skit.real_cluster_is_slow


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in isolated_env(tmp_path).items():
        monkeypatch.setenv(key, value)


@emulator_only
async def test_viewers_see_the_namespace_through_the_environment_process(
    cluster: Any, tmp_path: Path
) -> None:
    pods = await cluster.deployment("orders", 2)
    recipe = recipe_for(cluster, tmp_path, "[services.orders]\n")
    async with serve(recipe, tmp_path) as (engine, _server):
        await until(lambda: engine.statuses["orders"].platform_health == "ready 2/2")
        alice, bob = await mirror_of(recipe, "alice"), await mirror_of(recipe, "bob")
        try:
            for viewer in (alice, bob):
                assert viewer.statuses["orders"].health is Health.HEALTHY
                assert viewer.statuses["orders"].platform_health == "ready 2/2"
                assert not viewer.target.manages_processes
            await cluster.log(pods[0], 'panic: cannot connect to ledger {"rid":"req-7f3a"}')
            for pod in pods:
                await cluster.set_pod(pod, "crashloop")
            for viewer in (alice, bob):
                await until(lambda v=viewer: v.statuses["orders"].state is ProcState.CRASHED)
                assert "CrashLoopBackOff" in viewer.statuses["orders"].reason
                await until(
                    lambda v=viewer: any(
                        "cannot connect to ledger" in ln.text for ln in v.logs.last("orders", 50)
                    )
                )
        finally:
            await alice.stop()
            await bob.stop()
