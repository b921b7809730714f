"""Kubernetes faults against the emulated API over real HTTP: delete a pod, scale to zero.

Also the keeper: the owner is killed with SIGKILL while a workload is at zero,
and the keeper (a separate process, with the sync client) scales it back.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys
from pathlib import Path
from typing import Any

from stagedeck.deadline import within
from stagedeck.engine.events import ProcState
from stagedeck.operations import Decision, Operations, Refused, requests
from stagedeck.store import Store
from support import k8skit
from support.k8skit import recipe_for, running_engine, until
from support.operations import BOB_REASON

cluster = k8skit.cluster
YES = Decision(confirmed=True)


def audit(db: Path) -> list[Any]:
    return list(reversed(Store.open(db).recent_audit("k8s-test")))


def replicas(cluster: Any, name: str) -> int:
    obj = cluster.get("deployments", name)
    assert obj is not None
    return int(obj["spec"]["replicas"])


async def test_delete_pod_and_scale_to_zero_are_applied_and_lifted(
    cluster: Any, tmp_path: Path
) -> None:
    pods = await cluster.deployment("orders", 2)
    db = tmp_path / "shared.db"
    recipe = recipe_for(cluster, tmp_path, "[services.orders]\n")
    async with running_engine(recipe) as engine:
        await until(lambda: engine.statuses["orders"].state is ProcState.RUNNING)
        ops = Operations(engine, user="alice", store=Store.open(db))
        try:
            request = requests.fault(ops, "orders", "delete-pod", 1)
            assert "one pod of orders is deleted" in request.touches
            result = await ops.perform(request, YES)
            deleted = result.value.applied.detail.removeprefix("deleted pod ")
            assert deleted in pods
            await until(lambda: cluster.get("pods", deleted) is None, what="pod deleted")

            request = requests.fault(ops, "orders", "scale-zero", 1.5)
            assert "scaled to 0 replicas" in request.touches
            result = await ops.perform(request, YES)
            await until(lambda: replicas(cluster, "orders") == 0, what="scaled to 0")
            await result.value.wait()
            await until(lambda: replicas(cluster, "orders") == 2, what="scaled back")
            await until(lambda: all(e.ended is not None for e in audit(db)), what="audited")
            assert [(e.action, e.outcome) for e in audit(db)] == [
                ("fault delete-pod", "ok"),
                ("fault scale-zero", "ok"),
            ]
            Store.open(db).acquire_lease("k8s-test", "bob", BOB_REASON, 600)
            try:
                await ops.perform(requests.fault(ops, "orders", "scale-zero", 5), YES)
            except Refused as exc:
                assert BOB_REASON in str(exc)
            else:
                raise AssertionError("not refused under bob's lease")
            assert replicas(cluster, "orders") == 2
        finally:
            await ops.close()


OWNER = str(Path(__file__).parent / "support" / "fault_owner.py")


async def test_scale_to_zero_is_undone_by_the_keeper_after_sigkill(
    cluster: Any, tmp_path: Path
) -> None:
    await cluster.deployment("orders", 3)
    db = tmp_path / "shared.db"
    recipe = recipe_for(cluster, tmp_path, "[services.orders]\n")
    owner = await asyncio.create_subprocess_exec(
        sys.executable,
        OWNER,
        str(recipe.path),
        str(db),
        "orders",
        "scale-zero",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        assert owner.stdout is not None
        line = await within(owner.stdout.readline(), 30)
        assert line, (await owner.stderr.read()).decode() if owner.stderr else ""
        json.loads(line)
        assert replicas(cluster, "orders") == 0
        owner.send_signal(signal.SIGKILL)
        await owner.wait()
        await until(lambda: replicas(cluster, "orders") == 3, 20, "the keeper scaled it back")
    finally:
        if owner.returncode is None:
            owner.kill()
            await owner.wait()
    await until(lambda: audit(db)[-1].ended is not None, 10, "audit finished by the keeper")
    assert "after its owner died" in audit(db)[-1].details["detail"]


async def test_the_fault_command_scales_a_deployment_to_zero_and_back(
    cluster: Any, tmp_path: Path
) -> None:
    await cluster.deployment("orders", 2)
    db = tmp_path / "shared.db"
    recipe = recipe_for(cluster, tmp_path, "[services.orders]\n")
    command = [
        sys.executable, "-m", "stagedeck", "fault", str(recipe.path), "orders", "scale-zero",
        "--for", "2s", "--yes", "--json", "--db", str(db), "--user", "alice",
    ]  # fmt: skip
    proc = await asyncio.create_subprocess_exec(
        *command, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE
    )
    await until(lambda: replicas(cluster, "orders") == 0, 30, "scaled to 0 by the command")
    out, err = await within(proc.communicate(), 60)
    assert proc.returncode == 0, err.decode()
    report = json.loads(out)
    assert (report["kind"], report["lifted"]) == ("scale-zero", "expired")
    assert report["applied"] == "scaled deployment/orders from 2 to 0"
    assert replicas(cluster, "orders") == 2
    (entry,) = audit(db)
    assert entry.action == "fault scale-zero" and entry.ended is not None
