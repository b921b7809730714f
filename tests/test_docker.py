"""The Docker target against a real engine: discovery, state, logs, actions, engine loss, demo.

Every test makes its own containers under a unique prefix (see ``dockerkit``)
and removes them in a ``finally``, also when it fails.
"""

from __future__ import annotations

import asyncio
import itertools
import re
import secrets
import textwrap
import time
from pathlib import Path
from typing import Any

import docker
import httpx
import pytest

from stagedeck.engine.actions import redeploy
from stagedeck.engine.engine import Engine
from stagedeck.engine.events import Event, Health, ProcState, TargetConnection
from stagedeck.engine.seeding import reseed
from stagedeck.recipe.model import Recipe, load_recipe
from stagedeck.targets.base import TargetError
from stagedeck.targets.docker.discovery import (
    DiscoveryError,
    choose_project,
    discover_project_recipe,
    list_compose_projects,
)
from stagedeck.targets.docker.target import DockerTarget
from support.dockerkit import (
    SocketProxy,
    in_thread,
    kit,
    require_engine,
    short_socket_path,
    wait_for,
)

pytestmark = pytest.mark.docker


def recipe(tmp_path: Path, project: str, services: str, env: str = "") -> Recipe:
    path = tmp_path / "recipe.toml"
    path.write_text(
        textwrap.dedent(f"""
            [environment]
            name = "t"
            target = "docker"
            project = "{project}"
            probe_interval = 0.3
            probe_timeout = 0.5
            failures_before_down = 1
            ready_timeout = 15
            {env}
            """)
        + textwrap.dedent(services)
    )
    return load_recipe(path)


async def started(r: Recipe, **target_options: Any) -> tuple[Engine, list[Event]]:
    options: dict[str, Any] = {"stats_interval": 1.0, **target_options}
    engine = Engine(r, target_factory=lambda rec, sink: DockerTarget(rec, sink, **options))
    events: list[Event] = []
    engine.subscribe(events.append)
    await engine.start()
    return engine, events


def healthy(engine: Engine, *names: str) -> bool:
    """Up: healthy, or running without any check (Docker has no HEALTHCHECK for it)."""
    return all(
        engine.statuses[n].ok
        and engine.statuses[n].state in (ProcState.RUNNING, ProcState.EXTERNAL)
        for n in names
    )


def lines_of(engine: Engine, service: str, stream: str | None = None) -> list[str]:
    return [
        ln.text
        for ln in engine.logs.since(0)
        if ln.service == service and (stream is None or ln.stream == stream)
    ]


async def test_discovers_a_compose_project_with_its_dependencies(tmp_path: Path) -> None:
    with kit() as k:
        project = k.prefix
        net = k.network("default")
        k.container("db", project=project, healthcheck=True, network=net)
        k.container("cache", project=project, network=net)
        k.container(
            "api",
            project=project,
            web=True,
            network=net,
            depends_on="db:service_healthy:false,cache:service_started:false",
        )
        k.container("migrate", project=project, service="api", oneoff=True, script="sleep 30")

        projects = await list_compose_projects()
        info = next(p for p in projects if p.name == project)
        assert info.services == ("api", "cache", "db")
        assert (info.containers, info.running) == (3, 3)
        assert await in_thread(choose_project, project) == project
        with pytest.raises(DiscoveryError, match=f"(?s)no compose project 'nope'.*{project}"):
            await in_thread(choose_project, "nope")

        overlay_path = tmp_path / "overlay.toml"
        overlay_path.write_text(
            textwrap.dedent("""
                [environment]
                name = "mine"
                target = "docker"
                probe_interval = 0.3
                probe_timeout = 0.5

                [services.api]
                health = "/health"
                """)
        )
        r = await discover_project_recipe(project, load_recipe(overlay_path))
        assert r.environment.target == "docker" and r.environment.project == project
        assert set(r.services) == {"api", "cache", "db"}
        assert r.services["api"].depends_on == ("db", "cache")
        assert r.graph.layers() == [["cache", "db"], ["api"]]
        api = r.services["api"]
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+", api.url), api.url
        assert api.health is not None and api.health.url == api.url + "/health"
        assert r.services["db"].health is None  # Docker's HEALTHCHECK decides for db

        engine, _ = await started(r)
        try:
            await wait_for(lambda: healthy(engine, "api", "cache", "db"), 15, "all healthy")
            assert engine.statuses["db"].platform_health == "healthy"
            assert engine.statuses["db"].health is Health.HEALTHY
            # No HEALTHCHECK and no probe: running, and said to be unchecked, not healthy.
            assert engine.statuses["cache"].health is Health.UNCHECKED
            assert engine.statuses["cache"].reason == "running (no health check)"
            assert engine.statuses["api"].platform_health == "none"  # no HEALTHCHECK of its own
            assert engine.statuses["api"].health is Health.HEALTHY  # the overlay's probe
            await wait_for(
                lambda: engine.statuses["api"].memory_bytes is not None, 5, "stats sampled"
            )
        finally:
            await engine.stop()


async def test_state_follows_stop_kill_and_a_failing_health_check(tmp_path: Path) -> None:
    with kit() as k:
        container = k.container("svc", project=k.prefix, healthcheck=True)
        r = recipe(tmp_path, k.prefix, "[services.svc]\n")
        engine, _ = await started(r)
        svc = r.services["svc"]
        status = engine.statuses
        try:
            await wait_for(lambda: healthy(engine, "svc"), 10, "svc healthy")

            await in_thread(container.stop, timeout=5)
            await wait_for(lambda: status["svc"].state is ProcState.STOPPED, 10, "stopped")
            assert status["svc"].health is Health.DOWN
            assert "stopped" in status["svc"].reason

            await engine.target.start(svc)
            await wait_for(lambda: healthy(engine, "svc"), 10, "healthy after start")

            await in_thread(container.kill)
            await wait_for(lambda: status["svc"].state is ProcState.CRASHED, 10, "crashed")
            assert status["svc"].exit_code == 137
            assert "SIGKILL" in status["svc"].reason

            await engine.target.start(svc)
            await wait_for(lambda: healthy(engine, "svc"), 10, "healthy after the kill")

            result = await engine.target.exec(svc, ["rm", "/tmp/healthy"])
            assert result.exit_code == 0
            await wait_for(
                lambda: (
                    status["svc"].platform_health == "unhealthy"
                    and status["svc"].health is Health.DOWN
                ),
                10,
                "unhealthy",
            )
            assert status["svc"].state is ProcState.RUNNING
            await engine.target.exec(svc, ["touch", "/tmp/healthy"])
            await wait_for(lambda: healthy(engine, "svc"), 10, "healthy again")

            await engine.target.stop(svc)
            assert status["svc"].state is ProcState.STOPPED
            assert status["svc"].exit_code == 0
        finally:
            await engine.stop()
        # Closing the cockpit never stops containers it did not start.
        assert (await in_thread(k.client.containers.get, container.id)).status == "exited"


async def test_logs_of_several_containers_arrive_interleaved_in_batches(tmp_path: Path) -> None:
    with kit() as k:
        for name in ("a", "b", "c"):
            k.container(name, project=k.prefix, period=0.05)
        r = recipe(tmp_path, k.prefix, "[services.a]\n[services.b]\n[services.c]\n")
        engine, _ = await started(r, log_tail=5)
        try:
            await wait_for(
                lambda: all(len(lines_of(engine, s, "out")) >= 30 for s in "abc"), 15, "lines"
            )
            for s in "abc":
                numbers = [
                    int(t.rsplit(" ", 1)[1]) for t in lines_of(engine, s, "out") if " out " in t
                ]
                assert numbers == list(range(numbers[0], numbers[0] + len(numbers))), s
                # stderr is stamped apart from stdout (sometimes a hair earlier): none is lost.
                errors = [int(t.rsplit(" ", 1)[1]) for t in lines_of(engine, s, "err")]
                assert errors == list(range(errors[0], errors[0] + len(errors))), s
            order = [ln.service for ln in engine.logs.since(0)]
            switches = sum(1 for x, y in itertools.pairwise(order) if x != y)
            assert switches > 10, "the three services' lines should interleave"
            target = engine.target
            assert isinstance(target, DockerTarget) and target._batcher is not None
            assert target._batcher.batches * 5 < len(order), "lines must come in batches"
            now = time.time()
            assert all(now - 60 < ln.ts <= now + 1 for ln in engine.logs.since(0))
        finally:
            await engine.stop()


async def test_redeploy_restarts_or_recreates_and_logs_follow(tmp_path: Path) -> None:
    with kit() as k:
        net = k.network("default")
        web = k.container("web", project=k.prefix, healthcheck=True, network=net, web=True)
        job = k.container(
            "job", project=k.prefix, healthcheck=True, network=net, web=True, env={"MODE": "x"}
        )
        r = recipe(
            tmp_path,
            k.prefix,
            """
            [services.web]
            [services.job]
            recreate = true
            """,
        )
        engine, _ = await started(r)
        try:
            await wait_for(lambda: healthy(engine, "web", "job"), 10, "healthy")
            before = await in_thread(k.client.api.inspect_container, web.id)

            outcome = await redeploy(engine, "web")
            assert outcome.ok, outcome.describe()
            after = await in_thread(k.client.api.inspect_container, web.id)
            assert after["State"]["StartedAt"] != before["State"]["StartedAt"]
            assert engine.statuses["web"].restarts == 1
            await wait_for(lambda: "bye" in lines_of(engine, "web"), 5, "the TERM trap's line")
            seen = len(lines_of(engine, "web", "out"))
            await wait_for(lambda: len(lines_of(engine, "web", "out")) > seen + 2, 5, "new lines")

            old = await in_thread(k.client.api.inspect_container, job.id)
            outcome = await redeploy(engine, "job")
            assert outcome.ok, outcome.describe()
            new = await in_thread(k.client.api.inspect_container, f"{k.prefix}-job")
            assert new["Id"] != old["Id"]
            for key in ("Image", "Env", "Labels", "Healthcheck", "Cmd", "ExposedPorts"):
                assert new["Config"][key] == old["Config"][key], key
            assert new["HostConfig"]["PortBindings"] == old["HostConfig"]["PortBindings"]
            assert list(new["NetworkSettings"]["Networks"]) == [net]
            with pytest.raises(docker.errors.NotFound):
                await in_thread(k.client.api.inspect_container, old["Id"])
            redeployed_at = time.time()
            await wait_for(
                lambda: any(
                    ln.service == "job" and ln.ts > redeployed_at and " out " in ln.text
                    for ln in engine.logs.since(0)
                ),
                5,
                "logs from the new container",
            )
            assert healthy(engine, "job")
        finally:
            await engine.stop()


async def test_replaced_containers_are_adopted_and_crash_loops_counted(tmp_path: Path) -> None:
    with kit() as k:
        first = k.container("svc", project=k.prefix)
        k.container(
            "loop",
            project=k.prefix,
            restart="always",
            script="echo starting; sleep 0.3; echo failing >&2; exit 1",
        )
        r = recipe(tmp_path, k.prefix, "[services.svc]\n[services.loop]\n")
        engine, _ = await started(r)
        status = engine.statuses
        try:
            await wait_for(lambda: status["svc"].state is ProcState.RUNNING, 10, "svc up")
            # `docker compose up` after a change: the old container goes, a new one comes.
            await in_thread(first.remove, force=True)
            await wait_for(lambda: status["svc"].reason == "container removed", 10, "removed")
            assert status["svc"].state is ProcState.STOPPED
            second = k.container("svc", project=k.prefix)
            await wait_for(lambda: status["svc"].state is ProcState.RUNNING, 10, "adopted")
            began = time.time()
            await wait_for(
                lambda: any(
                    ln.service == "svc" and ln.ts >= began - 1 and "svc out" in ln.text
                    for ln in engine.logs.since(0)
                ),
                10,
                "logs of the new container",
            )
            assert isinstance(engine.target, DockerTarget)
            assert engine.target._bound["svc"].container_id == second.id

            # A restart policy brings a crashing container back again and again.
            await wait_for(lambda: status["loop"].restarts >= 2, 20, "restarts counted")
            moves = [t for t in engine.transitions if t.service == "loop"]
            restarts = [t for t in moves if t.state is ProcState.RESTARTING]
            assert restarts and "after it exited with code 1" in restarts[-1].reason
            assert all(t.health is Health.DOWN for t in restarts)
            crashes = [t for t in moves if t.state is ProcState.CRASHED]
            # Its last words, when its log arrived before the engine's die event: with a
            # restart policy that race is lost now and then, never every time.
            assert any("failing" in t.reason for t in crashes), crashes
        finally:
            await engine.stop()


async def test_exec_runs_a_seed_step_inside_the_container(tmp_path: Path) -> None:
    with kit() as k:
        k.container("db", project=k.prefix)
        r = recipe(
            tmp_path,
            k.prefix,
            """
            [services.db]

            [seeds.rows]
            service = "db"
            in_service = true
            command = ["sh", "-c", "echo loading $TABLE; echo 3 rows >&2; exit 0"]
            env = { TABLE = "users" }
            """,
        )
        engine, _ = await started(r)
        db = r.services["db"]
        try:
            await wait_for(lambda: engine.statuses["db"].state is ProcState.RUNNING, 10, "up")
            outcome = await reseed(engine)
            assert outcome.ok, outcome.describe()
            # stdout and stderr are separate pipes: their relative order is not kept.
            assert sorted(outcome.steps[0].output) == ["3 rows", "loading users"]
            assert sorted(lines_of(engine, "db", "exec")) == ["3 rows", "loading users"]

            failed = await engine.target.exec(db, ["sh", "-c", "echo nope; exit 3"])
            assert (failed.exit_code, failed.output) == (3, "nope")

            began = time.monotonic()
            slow = await engine.target.exec(db, ["sleep", "10"], timeout=0.5)
            assert slow.exit_code == -1 and "gave up after 0.5s" in slow.output
            assert time.monotonic() - began < 3

            missing = await engine.target.exec(db, ["no-such-program"])
            assert missing.exit_code in (126, 127)
            assert "no-such-program" in missing.output
        finally:
            await engine.stop()


async def test_in_service_health_check_runs_inside_the_container(tmp_path: Path) -> None:
    """The check's file exists only inside the container: a check run on this machine
    would never pass. Its output, every probe, stays out of the service's log."""
    flag = f"/tmp/ready-{tmp_path.name}"
    assert not Path(flag).exists()
    with kit() as k:
        k.container("db", project=k.prefix)
        r = recipe(
            tmp_path,
            k.prefix,
            f"""
            [services.db]
            health = {{ command = ["sh", "-c", "cat {flag} && echo probed-inside"], in_service = true, retries = 1 }}
            """,
        )
        engine, _ = await started(r)
        statuses = engine.statuses
        try:
            await wait_for(lambda: statuses["db"].health is Health.DOWN, 10, "down: no flag yet")
            reason = statuses["db"].reason
            assert f"sh exited 1: cat: can't open '{flag}'" in reason, reason
            ready = await engine.target.exec(r.services["db"], ["sh", "-c", f"echo ok > {flag}"])
            assert ready.exit_code == 0
            await wait_for(lambda: statuses["db"].health is Health.HEALTHY, 10, "healthy, inside")
            seen = engine.probe_seq
            await wait_for(lambda: engine.probe_seq >= seen + 3, 10, "three more probes")
            last = engine.probe_log["db"][-1]
            assert last.ok and last.ms > 0 and last.detail == "probed-inside"
            assert not any("probed-inside" in ln for ln in lines_of(engine, "db"))
        finally:
            await engine.stop()


async def test_engine_loss_is_reported_and_recovered_through_a_proxy(tmp_path: Path) -> None:
    with kit() as k:
        container = k.container("a", project=k.prefix, period=0.1)
        proxy = SocketProxy(short_socket_path(tmp_path)).start()
        r = recipe(tmp_path, k.prefix, "[services.a]\n")
        engine, events = await started(r, docker_host=proxy.docker_host)
        status = engine.statuses
        try:
            await wait_for(lambda: engine.connected, 10, "connected")
            await wait_for(lambda: len(lines_of(engine, "a", "out")) > 5, 10, "first lines")

            proxy.cut()
            await wait_for(lambda: not engine.connected, 5, "the loss to be noticed")
            assert engine.connection_detail.startswith("docker: ")
            assert status["a"].state is ProcState.RUNNING  # the last state is kept
            with pytest.raises(TargetError, match="not reachable"):
                await engine.target.stop(r.services["a"])
            await asyncio.sleep(0.5)  # the container logs on while we are cut off

            proxy.restore()
            await wait_for(lambda: engine.connected, 15, "reconnected")
            lost = [e for e in events if isinstance(e, TargetConnection)]
            assert [e.connected for e in lost][-3:] == [True, False, True]
            # Logs resume from the last line seen: nothing lost, nothing twice.
            await wait_for(lambda: len(lines_of(engine, "a", "out")) > 30, 10, "lines after")
            numbers = [int(t.rsplit(" ", 1)[1]) for t in lines_of(engine, "a", "out")]
            assert numbers == list(range(numbers[0], numbers[0] + len(numbers)))

            # What changed while we were away is read again after the reconnect.
            proxy.cut()
            await wait_for(lambda: not engine.connected, 5, "second loss")
            await in_thread(container.stop, timeout=5)
            proxy.restore()
            await wait_for(lambda: status["a"].state is ProcState.STOPPED, 15, "stopped seen")
            assert engine.connected
        finally:
            await engine.stop()
            proxy.close()


async def test_unreachable_engine_at_open_is_reported_and_retried(tmp_path: Path) -> None:
    require_engine()
    path = short_socket_path(tmp_path, "late.sock")
    proxy = SocketProxy(path)
    r = recipe(tmp_path, "nothing-here", "[services.x]\n")
    engine, _ = await started(r, docker_host=f"unix://{path}")
    try:
        assert not engine.connected
        assert "docker: " in engine.connection_detail
        proxy.start()
        await wait_for(lambda: engine.connected, 15, "connected once the engine is there")
        await wait_for(lambda: engine.statuses["x"].state is ProcState.STOPPED, 5, "no container")
        assert "no container with labels" in engine.statuses["x"].reason
    finally:
        await engine.stop()
        proxy.close()


@pytest.mark.slow
async def test_demo_stack_on_docker_comes_up_healthy() -> None:
    require_engine()
    from stagedeck.demo.docker import (
        DEMO_LABEL,
        build_demo_image,
        cleanup_demo_stack,
        run_demo_stack,
    )

    with kit() as k:
        image = await in_thread(build_demo_image)
        stack = await in_thread(run_demo_stack, image, project=f"{k.prefix}-demo")
        try:
            r = stack.recipe
            assert r.environment.target == "docker" and r.environment.project == stack.project
            names = set(r.services)
            assert {"gateway", "orders", "ledger"} <= names
            gateway = r.services["gateway"]
            assert gateway.url == f"http://127.0.0.1:{stack.ports['gateway']}"
            for seed in r.seeds.values():
                assert "47105" not in " ".join(seed.command)
            engine, _ = await started(r)
            try:
                await wait_for(lambda: healthy(engine, *names), 60, "the demo to be healthy")
                await wait_for(
                    lambda: all(engine.statuses[n].platform_health == "healthy" for n in names),
                    30,
                    "Docker health checks",
                )
                assert any("listening on" in ln.text for ln in engine.logs.since(0))
                # Traces: the containers send to the receiver on the network's gateway.
                assert r.traces is not None and engine.otlp is not None
                tid = secrets.token_hex(16)
                async with httpx.AsyncClient(base_url=gateway.url, timeout=10) as http:
                    body = {"name": "traced", "price_cents": 100, "on_hand": 5}
                    await http.put("/api/inventory/TRACED-1", json=body)
                    placed = await http.post(
                        "/api/orders",
                        json={"customer": "t", "sku": "TRACED-1", "qty": 1},
                        headers={"traceparent": f"00-{tid}-{secrets.token_hex(8)}-01"},
                    )
                assert placed.status_code == 201, placed.text
                store = engine.traces
                assert store is not None
                path = {"gateway", "orders", "inventory", "payments", "ledger"}
                await wait_for(
                    lambda: (t := store.get(tid)) is not None and path <= set(t.services()),
                    20,
                    "the order's trace from the containers",
                )
            finally:
                await engine.stop()
        finally:
            await in_thread(cleanup_demo_stack, stack)
        left = await in_thread(
            k.client.containers.list, all=True, filters={"label": f"{DEMO_LABEL}={stack.project}"}
        )
        assert left == []
