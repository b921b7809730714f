"""Kubernetes evidence in the ranking: crash loops, OOM kills, readiness, rollouts, a lost API.

Against the API emulator over real HTTP (see ``k8skit``), through the engine and
the live triage monitor, as the cockpit sees them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stagedeck.engine.actions import redeploy
from stagedeck.engine.events import ProcState
from stagedeck.triage.live import monitor_for
from stagedeck.triage.model import EvidenceKind, Fault, SubjectKind
from support import k8skit
from support.k8skit import describe, emulator_only, recipe_for, running_engine, state_of, until

cluster = k8skit.cluster
pytestmark = k8skit.real_cluster_is_slow

SERVICES = """
[services.payments]
[services.orders]
depends_on = ["payments"]
"""


@emulator_only
async def test_a_crash_looping_oom_killed_dependency_outranks_its_dependent(
    cluster: Any, tmp_path: Path
) -> None:
    pay = await cluster.deployment("payments", 2)
    await cluster.deployment("orders", 2)
    recipe = recipe_for(cluster, tmp_path, SERVICES)
    async with running_engine(recipe) as engine:
        monitor = monitor_for(engine)
        await until(lambda: all(s.state is ProcState.RUNNING for s in engine.statuses.values()))
        assert not monitor.recompute().abnormal
        for pod in pay:
            await cluster.set_pod(pod, "oom", restarts=4)
        await until(
            lambda: state_of(engine, "payments") is ProcState.CRASHED, what=lambda: describe(engine)
        )
        ranking = monitor.recompute()
        top = ranking.top
        assert top is not None and top.name == "payments", ranking.to_dict()
        assert top.fault is Fault.CRASH_LOOP
        texts = " ".join(e.text for e in top.evidence)
        assert "OOMKilled" in texts and "CrashLoopBackOff" in texts
        assert any(e.kind is EvidenceKind.RESTART for e in top.evidence)
        assert "orders" in top.impacted


@emulator_only
async def test_a_stuck_rollout_is_evidence_against_the_rolled_out_service(
    cluster: Any, tmp_path: Path
) -> None:
    await cluster.deployment("payments", 1)
    await cluster.deployment("orders", 2)
    cluster.rollout_mode["orders"] = "crashloop"
    recipe = recipe_for(cluster, tmp_path, SERVICES + "ready_timeout = 1.5\n")
    async with running_engine(recipe) as engine:
        monitor = monitor_for(engine)
        await until(lambda: all(s.state is ProcState.RUNNING for s in engine.statuses.values()))
        outcome = await redeploy(engine, "orders")
        assert not outcome.ok
        ranking = monitor.recompute()
        top = ranking.top
        assert top is not None and top.name == "orders", ranking.to_dict()
        assert top.fault is Fault.CRASH_LOOP
        kinds = {e.kind for e in top.evidence}
        assert EvidenceKind.CHANGE in kinds  # the redeploy just before
        change = next(e for e in top.evidence if e.kind is EvidenceKind.CHANGE)
        assert "redeploy orders" in change.text


@emulator_only
async def test_losing_the_api_server_makes_the_platform_the_suspect(
    cluster: Any, tmp_path: Path
) -> None:
    await cluster.deployment("payments", 1)
    await cluster.deployment("orders", 1)
    recipe = recipe_for(cluster, tmp_path, SERVICES)
    async with running_engine(recipe) as engine:
        monitor = monitor_for(engine)
        await until(lambda: all(s.state is ProcState.RUNNING for s in engine.statuses.values()))
        async with cluster.outage():
            await until(lambda: not engine.connected, what=lambda: describe(engine))
            ranking = monitor.recompute()
            assert ranking.top is not None
            assert ranking.top.kind is SubjectKind.PLATFORM
            assert "cannot reach" in ranking.top.verdict
        await until(lambda: engine.connected)
        assert not monitor.recompute().abnormal
