"""The Kubernetes target over real HTTP, driven through the Engine.

Every test runs against the API emulator (see ``k8skit``); with
STAGEDECK_K8S_CONTEXT set they run against that real cluster instead, in a
throwaway namespace, and the emulator-only manipulations skip.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

from stagedeck.engine.actions import redeploy
from stagedeck.engine.engine import Engine
from stagedeck.engine.events import Health, ProcState, StatusChanged
from stagedeck.targets.base import TargetError
from support import k8skit
from support.k8skit import (
    FAST,
    describe,
    emulator_only,
    recipe_for,
    running_engine,
    state_of,
    target_of,
    until,
)

cluster = k8skit.cluster  # the fixture: a namespace in the emulator or a real cluster
pytestmark = k8skit.real_cluster_is_slow

SERVICES = """
[services.orders]
[services.payments]
selector = { tier = "payments" }
[services.ledger]
deployment = "statefulset/db"
"""


def lines(engine: Engine, service: str) -> list[str]:
    return [line.text for line in engine.logs.ring(service)]


def all_known(engine: Engine) -> bool:
    return all(s.state is not ProcState.PENDING for s in engine.statuses.values())


async def test_discovery_by_name_and_selector(cluster: Any, tmp_path: Path) -> None:
    await cluster.deployment("orders", 2)
    await cluster.deployment("payments-v2", 1, labels={"tier": "payments"})
    await cluster.statefulset("db", 1)
    await cluster.deployment("unrelated", 1)
    recipe = recipe_for(
        cluster, tmp_path, SERVICES + '[services.ghost]\ndeployment = "nothing-here"\n'
    )
    async with running_engine(recipe) as engine:
        await until(lambda: all_known(engine), what=lambda: describe(engine))
        status = engine.statuses
        assert status["orders"].state is ProcState.RUNNING, describe(engine)
        assert status["orders"].health is Health.HEALTHY
        assert status["orders"].platform_health == "ready 2/2"
        assert status["payments"].state is ProcState.RUNNING
        assert status["payments"].platform_health == "ready 1/1"
        assert status["ledger"].state is ProcState.RUNNING
        assert status["ghost"].state is ProcState.FAILED
        assert "no Deployment or StatefulSet named 'nothing-here'" in status["ghost"].reason
        assert engine.connected and cluster.namespace in engine.connection_detail
        target = target_of(engine)
        # One watch per kind for the whole namespace, however many services there are.
        assert set(target.reflectors) == {"deployments", "statefulsets", "pods"}
        assert sorted(target._members["orders"]) == cluster.pods_of("orders")


@emulator_only
async def test_selector_may_name_bare_pods(cluster: Any, tmp_path: Path) -> None:
    await cluster.bare_pod("cron-runner", {"role": "cron"})
    recipe = recipe_for(cluster, tmp_path, '[services.cron]\nselector = { role = "cron" }\n')
    async with running_engine(recipe) as engine:
        await until(
            lambda: state_of(engine, "cron") is ProcState.RUNNING, what=lambda: describe(engine)
        )
        assert engine.statuses["cron"].platform_health == "ready 1/1"
        with pytest.raises(TargetError, match="bare pods"):
            await engine.target.redeploy(engine.service("cron"))


@emulator_only
async def test_readiness_and_crash_loop_reach_the_status_table(
    cluster: Any, tmp_path: Path
) -> None:
    pods = await cluster.deployment("orders", 3, state=["ready", "ready", "starting"])
    recipe = recipe_for(cluster, tmp_path, "[services.orders]\n")
    async with running_engine(recipe) as engine:
        changes: list[StatusChanged] = []
        engine.subscribe(lambda e: changes.append(e) if isinstance(e, StatusChanged) else None)
        await until(lambda: engine.statuses["orders"].platform_health == "ready 2/3")
        status = engine.statuses["orders"]
        assert status.state is ProcState.RUNNING and status.reason == "ready 2/3"

        await cluster.log(pods[0], "panic: cannot connect to ledger")
        # The log stream and the pods' watch are separate connections: the line must have
        # arrived before the crash does for the crash to quote it (under CI's load the
        # watch once won the race).
        await until(
            lambda: any("cannot connect" in ln.text for ln in engine.logs.last("orders", 5)),
            what="the last words in the engine's log",
        )
        for pod in pods:
            await cluster.set_pod(pod, "crashloop")
        await until(
            lambda: state_of(engine, "orders") is ProcState.CRASHED, what=lambda: describe(engine)
        )
        status = engine.statuses["orders"]
        assert status.health is Health.DOWN
        assert "CrashLoopBackOff" in status.reason
        assert "last exit: Error, code 1" in status.reason
        assert status.exit_code == 1
        assert status.platform_health.startswith("ready 0/3")
        assert "restarts" in status.platform_health

        await cluster.set_pod(pods[0], "ready")
        await cluster.set_pod(pods[1], "oom")
        await cluster.set_pod(pods[2], "ready")
        await until(lambda: engine.statuses["orders"].platform_health.startswith("ready 2/3"))
        assert state_of(engine, "orders") is ProcState.RUNNING
        assert engine.statuses["orders"].reason == (
            f"ready 2/3; {pods[1]}: CrashLoopBackOff (last exit: OOMKilled, code 137; 4 restarts)"
        )
        assert engine.statuses["orders"].health is Health.HEALTHY

        for pod in pods:
            await cluster.set_pod(pod, "ready")
        await until(lambda: engine.statuses["orders"].reason == "")
        # One move into "crashed", and the reason carried the service's last words.
        crashed = [
            c
            for c in changes
            if c.status.state is ProcState.CRASHED
            and (c.before is None or c.before.state is not ProcState.CRASHED)
        ]
        assert len(crashed) == 1
        assert crashed[0].status.reason.endswith("panic: cannot connect to ledger")


@emulator_only
async def test_image_pull_and_pending_pods_are_starting_with_a_reason(
    cluster: Any, tmp_path: Path
) -> None:
    await cluster.deployment("api", 1, state="creating")
    await cluster.deployment("web", 1, state="imagepull")
    recipe = recipe_for(cluster, tmp_path, "[services.api]\n[services.web]\n")
    async with running_engine(recipe) as engine:
        await until(lambda: all_known(engine), what=lambda: describe(engine))
        assert state_of(engine, "api") is ProcState.STARTING
        assert "ContainerCreating" in engine.statuses["api"].reason
        assert state_of(engine, "web") is ProcState.CRASHED
        assert "ImagePullBackOff" in engine.statuses["web"].reason
        assert "registry.invalid/api:nope" in engine.statuses["web"].reason


@emulator_only
async def test_a_cut_watch_resumes_from_its_resource_version(cluster: Any, tmp_path: Path) -> None:
    pods = await cluster.deployment("orders", 2)
    recipe = recipe_for(cluster, tmp_path, "[services.orders]\n")
    async with running_engine(recipe) as engine:
        await until(lambda: state_of(engine, "orders") is ProcState.RUNNING)
        await until(lambda: cluster.emu.open_streams("watch") == 3)
        reflector = target_of(engine).reflectors["pods"]
        seen = reflector.resource_version
        relists = reflector.relists
        # Cut every watch while new ones are held, and change things meanwhile.
        cluster.emu.watch_gate.clear()
        assert cluster.emu.cut_streams("watch") == 3
        for pod in pods:
            await cluster.set_pod(pod, "crashloop")
        cluster.emu.watch_gate.set()
        await until(
            lambda: state_of(engine, "orders") is ProcState.CRASHED, what=lambda: describe(engine)
        )
        watches = cluster.emu.requests_of("WATCH", "pods")
        assert watches[-1]["resourceVersion"] == seen
        assert reflector.relists == relists, "a resume must not relist"
        assert engine.connected


@emulator_only
async def test_410_gone_forces_a_relist(cluster: Any, tmp_path: Path) -> None:
    pods = await cluster.deployment("orders", 2)
    recipe = recipe_for(cluster, tmp_path, "[services.orders]\n")
    async with running_engine(recipe) as engine:
        await until(lambda: state_of(engine, "orders") is ProcState.RUNNING)
        await until(lambda: cluster.emu.open_streams("watch") == 3)
        reflector = target_of(engine).reflectors["pods"]
        relists = reflector.relists
        cluster.emu.watch_gate.clear()
        cluster.emu.cut_streams("watch")
        await cluster.set_pod(pods[0], "crashloop")
        await cluster.delete_pod(pods[1])
        cluster.emu.compact()  # the server forgets: our resourceVersion is now too old
        cluster.emu.watch_gate.set()
        await until(
            lambda: state_of(engine, "orders") is ProcState.CRASHED, what=lambda: describe(engine)
        )
        assert reflector.relists == relists + 1
        assert pods[1] not in target_of(engine).pods, "the relist dropped the deleted pod"
        assert engine.statuses["orders"].platform_health.startswith("ready 0/2")
        assert len(cluster.emu.requests_of("LIST", "pods")) == 2


async def test_logs_from_two_pods_interleave_and_follow_a_replaced_pod(
    cluster: Any, tmp_path: Path
) -> None:
    first, second = await cluster.deployment("orders", 2)
    await cluster.log(first, "booted before the cockpit opened")
    recipe = recipe_for(cluster, tmp_path, "[services.orders]\n")
    async with running_engine(recipe) as engine:
        target = target_of(engine)
        if not cluster.emulated:  # real pods print "hello N from POD" by themselves
            await until(
                lambda: {first, second} <= {ln.split(" | ")[0] for ln in lines(engine, "orders")},
                timeout=15,
            )
            return
        await until(
            lambda: f"{first} | booted before the cockpit opened" in lines(engine, "orders")
        )
        await until(lambda: all(f.opened for f in target.followers.values()))
        for i in range(3):
            await cluster.log(first, f"a{i} [bold]GET /orders rid=req-{i:04}")
            await cluster.log(second, f"b{i} GET /orders")
        await until(
            lambda: len(lines(engine, "orders")) >= 7, what=lambda: str(lines(engine, "orders"))
        )
        got = lines(engine, "orders")[1:]
        assert got == [
            f"{first} | a0 [bold]GET /orders rid=req-0000",
            f"{second} | b0 GET /orders",
            f"{first} | a1 [bold]GET /orders rid=req-0001",
            f"{second} | b1 GET /orders",
            f"{first} | a2 [bold]GET /orders rid=req-0002",
            f"{second} | b2 GET /orders",
        ]
        assert [ln.rid for ln in engine.logs.ring("orders")][1:3] == ["req-0000", ""]

        third = await cluster.replace_pod(first)
        await until(lambda: (third, "main") in target.followers)
        await until(lambda: (first, "main") not in target.followers)
        await cluster.log(third, "c0 fresh pod")
        await cluster.log(second, "b3 still here")
        await until(lambda: f"{third} | c0 fresh pod" in lines(engine, "orders"))
        await until(lambda: f"{second} | b3 still here" in lines(engine, "orders"))
        assert lines(engine, "orders").count(f"{first} | a2 [bold]GET /orders rid=req-0002") == 1

        # A log stream that breaks resumes without losing or repeating a line.
        cluster.emu.cut_streams("log")
        await cluster.log(second, "b4 after the break")
        await until(lambda: f"{second} | b4 after the break" in lines(engine, "orders"))
        assert target.followers[(second, "main")].opened >= 2
        got = lines(engine, "orders")
        assert len(got) == len(set(got)), got


@emulator_only
async def test_rollout_restart_waits_for_the_rollout(cluster: Any, tmp_path: Path) -> None:
    old = await cluster.deployment("orders", 2)
    cluster.rollout_step = 0.15
    recipe = recipe_for(cluster, tmp_path, "[services.orders]\nready_timeout = 10\n")
    async with running_engine(recipe) as engine:
        await until(lambda: state_of(engine, "orders") is ProcState.RUNNING)
        states: list[ProcState] = []
        engine.subscribe(
            lambda e: states.append(e.status.state) if isinstance(e, StatusChanged) else None
        )
        outcome = await redeploy(engine, "orders")
        assert outcome.ok, outcome.describe()
        # It returned only once the controller had finished: new pods, old ones gone.
        new = cluster.pods_of("orders")
        assert len(new) == 2 and not set(new) & set(old)
        deployment = cluster.get("deployments", "orders")
        annotations = deployment["spec"]["template"]["metadata"]["annotations"]
        assert "kubectl.kubernetes.io/restartedAt" in annotations
        assert deployment["metadata"]["generation"] == 2
        assert outcome.steps[0].seconds >= 4 * cluster.rollout_step
        assert states[0] is ProcState.RESTARTING
        assert engine.statuses["orders"].restarts == 1
        assert state_of(engine, "orders") is ProcState.RUNNING
        assert engine.statuses["orders"].reason == ""
        assert sorted(target_of(engine)._members["orders"]) == new


@emulator_only
async def test_a_statefulset_rolls_out_in_place(cluster: Any, tmp_path: Path) -> None:
    pods = await cluster.statefulset("db", 2)
    revision = cluster.workloads["db"].revision
    recipe = recipe_for(cluster, tmp_path, '[services.ledger]\ndeployment = "sts/db"\n')
    async with running_engine(recipe) as engine:
        await until(lambda: state_of(engine, "ledger") is ProcState.RUNNING)
        outcome = await redeploy(engine, "ledger")
        assert outcome.ok, outcome.describe()
        assert cluster.pods_of("db") == pods  # same names, new revision
        assert cluster.workloads["db"].revision != revision
        sts = cluster.get("statefulsets", "db")
        assert sts["status"]["currentRevision"] == sts["status"]["updateRevision"]


@emulator_only
async def test_a_stuck_rollout_is_reported_with_the_failing_pod(
    cluster: Any, tmp_path: Path
) -> None:
    old = await cluster.deployment("orders", 2)
    cluster.rollout_mode["orders"] = "crashloop"
    recipe = recipe_for(cluster, tmp_path, "[services.orders]\nready_timeout = 1.5\n")
    async with running_engine(recipe) as engine:
        await until(lambda: state_of(engine, "orders") is ProcState.RUNNING)
        outcome = await redeploy(engine, "orders")
        assert not outcome.ok
        detail = outcome.steps[0].detail
        assert "rollout of deployment/orders did not complete within 1.5s" in detail
        assert "1/2 updated" in detail
        # The report names the new pod that does not come up, and why.
        failing = [p for p in cluster.pods_of("orders") if f"{p}: CrashLoopBackOff" in detail]
        assert len(failing) == 1, detail
        assert failing[0] not in old
        # The old pods still serve: the service runs, the reason says what is wrong.
        assert state_of(engine, "orders") is ProcState.RUNNING
        assert "CrashLoopBackOff" in engine.statuses["orders"].reason


@emulator_only
async def test_no_permission_is_a_reason_not_a_crash(cluster: Any, tmp_path: Path) -> None:
    await cluster.deployment("orders", 2)
    await cluster.statefulset("db", 1)
    cluster.emu.forbidden.add(("pods", cluster.namespace))
    cluster.emu.forbidden.add(("statefulsets", cluster.namespace))
    recipe = recipe_for(
        cluster, tmp_path, '[services.orders]\n[services.ledger]\ndeployment = "db"\n'
    )
    async with running_engine(recipe) as engine:
        ns = cluster.namespace
        await until(
            lambda: engine.statuses["ledger"].reason and engine.statuses["orders"].reason,
            what=lambda: describe(engine),
        )
        orders, ledger = engine.statuses["orders"], engine.statuses["ledger"]
        # The Deployment is readable, so its own counts stand in for the pods.
        assert orders.state is ProcState.RUNNING
        assert orders.reason == f"no permission to list pods in {ns} (RBAC)"
        assert orders.platform_health == "ready 2/2"
        assert ledger.state is ProcState.PENDING
        assert ledger.reason == f"no permission to list statefulsets in {ns} (RBAC)"
        assert engine.connected, "RBAC is not an outage"
        assert not target_of(engine).followers

        cluster.emu.forbidden.clear()  # someone fixed the RoleBinding
        await until(
            lambda: (
                engine.statuses["ledger"].state is ProcState.RUNNING
                and engine.statuses["orders"].reason == ""
            ),
            what=lambda: describe(engine),
        )
        await until(lambda: len(target_of(engine).followers) == 3)


@emulator_only
async def test_losing_the_api_server_keeps_the_last_state_and_recovers(
    cluster: Any, tmp_path: Path
) -> None:
    pods = await cluster.deployment("orders", 2)
    recipe = recipe_for(cluster, tmp_path, "[services.orders]\n")
    async with running_engine(recipe) as engine:
        await until(lambda: state_of(engine, "orders") is ProcState.RUNNING)
        before = engine.statuses["orders"]
        async with cluster.outage():
            await until(lambda: not engine.connected, what=lambda: describe(engine))
            detail = engine.connection_detail
            assert detail.startswith("kubernetes: cannot reach http://127.0.0.1:")
            assert "connection refused" in detail
            await asyncio.sleep(0.3)  # several retries happen meanwhile
            assert engine.statuses["orders"] == before
        await until(lambda: engine.connected, what=lambda: describe(engine))
        await cluster.set_pod(pods[0], "crashloop")
        await until(lambda: engine.statuses["orders"].platform_health.startswith("ready 1/2"))
        await cluster.log(pods[1], "back after the outage")
        await until(lambda: f"{pods[1]} | back after the outage" in lines(engine, "orders"))


@emulator_only
async def test_an_api_server_down_at_start_is_reported_and_then_joined(
    cluster: Any, tmp_path: Path
) -> None:
    await cluster.deployment("orders", 1)
    recipe = recipe_for(cluster, tmp_path, "[services.orders]\n")
    await cluster.stop_server()
    timing = FAST.__class__(**{**FAST.__dict__, "open_wait": 0.5})
    async with running_engine(recipe, timing) as engine:
        assert not engine.connected
        assert state_of(engine, "orders") is ProcState.PENDING
        await cluster.start_server()
        await until(lambda: state_of(engine, "orders") is ProcState.RUNNING)
        await until(lambda: engine.connected, what=lambda: describe(engine))


@emulator_only
async def test_exec_runs_in_a_ready_pod(cluster: Any, tmp_path: Path) -> None:
    pods = await cluster.deployment("orders", 2, state=["starting", "ready"])
    calls: list[tuple[str, list[str]]] = []

    async def handler(pod: str, argv: list[str]) -> tuple[int, str]:
        calls.append((pod, argv))
        return (3 if "fail" in argv else 0), "seeded 12 rows\nbye\n"

    cluster.emu.exec_handler = handler
    recipe = recipe_for(cluster, tmp_path, "[services.orders]\n")
    async with running_engine(recipe) as engine:
        await until(lambda: state_of(engine, "orders") is ProcState.RUNNING)
        svc = engine.service("orders")
        result = await engine.target.exec(svc, ["seed", "--rows", "12"], env={"MODE": "test"})
        assert result.exit_code == 0
        assert result.output == "seeded 12 rows\nbye"
        assert calls[0] == (pods[1], ["env", "MODE=test", "seed", "--rows", "12"])
        assert f"{pods[1]} | seeded 12 rows" in lines(engine, "orders")
        assert engine.logs.ring("orders")[engine.logs.ring("orders").end - 1].stream == "exec"
        failed = await engine.target.exec(svc, ["fail"])
        assert failed.exit_code == 3


@emulator_only
async def test_in_service_health_check_runs_in_the_pod(cluster: Any, tmp_path: Path) -> None:
    """``in_service = true``: the check goes through the pod's exec, not this machine,
    and its output is not written to the service's log on every probe."""
    pods = await cluster.deployment("orders", 1)
    calls: list[tuple[str, list[str]]] = []
    ready = {"now": False}

    async def handler(pod: str, argv: list[str]) -> tuple[int, str]:
        calls.append((pod, argv))
        return (0, "accepting connections\n") if ready["now"] else (2, "no response\n")

    cluster.emu.exec_handler = handler
    recipe = recipe_for(
        cluster,
        tmp_path,
        """
        [services.orders]
        health = { command = ["pg_isready", "-q"], in_service = true, retries = 1 }
        """,
    )
    async with running_engine(recipe) as engine:
        await until(lambda: engine.statuses["orders"].health is Health.DOWN)
        assert engine.statuses["orders"].reason == "pg_isready exited 2: no response"
        ready["now"] = True
        await until(lambda: engine.statuses["orders"].health is Health.HEALTHY)
        assert calls[0] == (pods[0], ["pg_isready", "-q"])
        assert not any("accepting" in ln or "no response" in ln for ln in lines(engine, "orders"))


@emulator_only
async def test_exec_without_an_exec_endpoint_says_so(cluster: Any, tmp_path: Path) -> None:
    await cluster.deployment("orders", 1)
    recipe = recipe_for(cluster, tmp_path, "[services.orders]\n")
    async with running_engine(recipe) as engine:
        await until(lambda: state_of(engine, "orders") is ProcState.RUNNING)
        with pytest.raises(TargetError, match=r"exec is not available .*in_service = false"):
            await engine.target.exec(engine.service("orders"), ["true"])


async def test_an_unknown_context_is_a_clear_connection_error(cluster: Any, tmp_path: Path) -> None:
    recipe = recipe_for(cluster, tmp_path, "[services.orders]\n")
    env = recipe.environment.__class__(**{**recipe.environment.__dict__, "context": "nope"})
    recipe = recipe.__class__(recipe.path, env, recipe.services)
    async with running_engine(recipe) as engine:
        assert not engine.connected
        assert "context 'nope'" in engine.connection_detail
        assert cluster.context in engine.connection_detail  # the known ones are listed
