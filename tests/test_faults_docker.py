"""Faults on the real Docker engine: each kind injected and lifted, also after SIGKILL.

Container state is read back from the engine (``State.Paused``/``Running``),
not from stagedeck. Images are built locally (``dockerkit``), no registry.
"""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

from stagedeck.engine.engine import Engine
from stagedeck.operations import Decision, Operations, ReadOnly, Refused, requests
from stagedeck.recipe.model import load_recipe
from stagedeck.store import Store
from support.dockerkit import Kit, kit, wait_for
from support.operations import BOB_REASON, ENV, audit, bob_leases

pytestmark = pytest.mark.docker
YES = Decision(confirmed=True)


def docker_recipe(tmp_path: Path, k: Kit) -> Path:
    path = tmp_path / "docker.toml"
    path.write_text(
        textwrap.dedent(f"""
        [environment]
        name = "{ENV}"
        target = "docker"
        project = "{k.prefix}"
        probe_interval = 0.3
        ready_timeout = 20

        [services.api]
        """)
    )
    return path


def container_state(container: Any) -> dict[str, Any]:
    container.reload()
    return dict(container.attrs["State"])


async def started(path: Path, db: Path) -> tuple[Engine, Operations]:
    engine = Engine(load_recipe(path))
    await engine.start(bring_up=False)
    await wait_for(lambda: engine.target.container_id("api") is not None, 15, "bound")  # type: ignore[attr-defined]
    return engine, Operations(engine, user="alice", store=Store.open(db))


@pytest.mark.parametrize(
    ("kind", "during"),
    [
        ("pause", lambda s: s["Paused"] and s["Running"]),
        ("kill", lambda s: not s["Running"]),
        ("stop", lambda s: not s["Running"]),
    ],
)
async def test_each_fault_is_applied_and_lifted_when_it_expires(
    tmp_path: Path, kind: str, during: Any
) -> None:
    db = tmp_path / "shared.db"
    with kit() as k:
        container = k.container("api", project=k.prefix)
        engine, ops = await started(docker_recipe(tmp_path, k), db)
        try:
            request = requests.fault(ops, "api", kind, 2.0)
            assert "container is" in request.touches
            result = await ops.perform(request, YES)
            state = await asyncio.to_thread(container_state, container)
            assert during(state), state
            await result.value.wait()
            state = await asyncio.to_thread(container_state, container)
            assert state["Running"] and not state["Paused"], state
            await wait_for(lambda: audit(db)[-1].ended is not None, 10, "audit finished")
            (entry,) = audit(db)
            assert (entry.action, entry.outcome) == (f"fault {kind}", "ok")
            assert entry.details["lifted"] == "expired"
        finally:
            await ops.close()
            await engine.stop()


async def test_docker_faults_refused_read_only_and_under_a_lease(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    with kit() as k:
        container = k.container("api", project=k.prefix)
        engine, ops = await started(docker_recipe(tmp_path, k), db)
        try:
            ops.read_only = ReadOnly("read-only (--read-only)")
            with pytest.raises(Refused, match="read-only"):
                await ops.perform(requests.fault(ops, "api", "pause", 5), YES)
            ops.read_only = ReadOnly()
            bob_leases(db)
            with pytest.raises(Refused) as caught:
                await ops.perform(requests.fault(ops, "api", "pause", 5), YES)
            assert BOB_REASON in str(caught.value)
            assert not (await asyncio.to_thread(container_state, container))["Paused"]
        finally:
            await ops.close()
            await engine.stop()


OWNER = str(Path(__file__).parent / "support" / "fault_owner.py")


@pytest.mark.parametrize("kind", ["pause", "stop"])
def test_a_fault_is_lifted_by_the_keeper_after_the_owner_is_killed(
    tmp_path: Path, kind: str
) -> None:
    db = tmp_path / "shared.db"
    with kit() as k:
        container = k.container("api", project=k.prefix)
        path = docker_recipe(tmp_path, k)
        owner = subprocess.Popen(
            [sys.executable, OWNER, str(path), str(db), "api", kind],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert owner.stdout is not None
            line = owner.stdout.readline()
            assert line, owner.stderr.read() if owner.stderr else ""
            json.loads(line)
            state = container_state(container)
            assert state["Paused"] if kind == "pause" else not state["Running"], state
            owner.send_signal(signal.SIGKILL)
            owner.wait(10)
            deadline = time.monotonic() + 20
            while True:
                state = container_state(container)
                if state["Running"] and not state["Paused"]:
                    break
                assert time.monotonic() < deadline, state
                time.sleep(0.1)
        finally:
            if owner.poll() is None:
                owner.kill()
        deadline = time.monotonic() + 10
        while audit(db)[-1].ended is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        (entry,) = audit(db)
        assert entry.details["lifted"] == "by the fault keeper"
        assert "after its owner died" in entry.details["detail"]


def test_the_fault_command_holds_lists_clears_and_prints_only_json(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    with kit() as k:
        container = k.container("api", project=k.prefix)
        path = str(docker_recipe(tmp_path, k))
        base = [sys.executable, "-m", "stagedeck", "fault", path]
        common = ["--db", str(db), "--user", "alice"]

        # Refused under bob's lease, naming him; read-only too.
        bob_leases(db)
        out = subprocess.run(
            [*base, "api", "pause", "--yes", *common], capture_output=True, text=True
        )
        assert out.returncode == 1 and BOB_REASON in out.stderr and "--force" in out.stderr
        out = subprocess.run(
            [*base, "api", "pause", "--yes", "--read-only", "--force", *common],
            capture_output=True,
            text=True,
        )
        assert (
            out.returncode == 1 and "fault pause refused: this cockpit is read-only" in out.stderr
        )
        Store.open(db).release_lease(ENV, "bob")

        # Held for its duration; standard output is the JSON and nothing else.
        out = subprocess.run(
            [*base, "api", "pause", "--for", "2s", "--yes", "--json", *common],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert out.returncode == 0, out.stderr
        report = json.loads(out.stdout)
        assert (report["kind"], report["lifted"]) == ("pause", "expired")
        assert report["seconds"] >= 2
        assert not container_state(container)["Paused"]

        # A long one, from a command that is then killed: --list shows it, --clear lifts it.
        holder = subprocess.Popen(
            [*base, "api", "stop", "--for", "5m", "--yes", *common],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            assert holder.stdout is not None
            assert "stop api for 300s" in holder.stdout.readline()
            listed = subprocess.run(
                [*base, "--list", "--json", *common], capture_output=True, text=True
            )
            (item,) = json.loads(listed.stdout)
            assert (item["kind"], item["service"], item["user"]) == ("stop", "api", "alice")
            cleared = subprocess.run(
                [*base, "--clear", "--yes", *common], capture_output=True, text=True, timeout=60
            )
            assert cleared.returncode == 0, cleared.stderr
            assert container_state(container)["Running"]
            assert (
                json.loads(
                    subprocess.run(
                        [*base, "--list", "--json", *common], capture_output=True, text=True
                    ).stdout
                )
                == []
            )
        finally:
            holder.send_signal(signal.SIGINT)
            holder.wait(30)
        assert container_state(container)["Running"]
        actions = [(e.action, e.outcome) for e in audit(db)]
        assert ("fault clear", "ok") in actions


def test_a_real_cockpit_killed_with_sigkill_leaves_no_container_paused(tmp_path: Path) -> None:
    """The whole path in a real terminal: F, Inject, y; then kill -9 the cockpit."""
    import os

    from support.tmux import Terminal, have_tmux

    if not have_tmux():
        pytest.skip("tmux is not installed")
    db = tmp_path / "shared.db"
    with kit() as k:
        container = k.container("api", project=k.prefix)
        path = docker_recipe(tmp_path, k)
        with Terminal(
            [sys.executable, "-m", "stagedeck", "open", str(path)],
            env={
                "XDG_CONFIG_HOME": str(tmp_path / "config"),
                "STAGEDECK_DB": str(db),
                "USER": "alice",
            },
            cwd=tmp_path,
        ) as term:
            term.wait_for("running", timeout=30)
            term.send("F")
            term.wait_for("Inject a fault into api")
            term.send("Tab")  # from the list of kinds to the duration
            term.send("Enter")
            term.wait_for("Pause api for 30s?")
            assert "api's container is paused (docker pause)" in term.screen()
            term.send("y")
            deadline = time.monotonic() + 15
            while not container_state(container)["Paused"]:
                assert time.monotonic() < deadline, "not paused"
                time.sleep(0.1)
            os.kill(term.pid, signal.SIGKILL)
            deadline = time.monotonic() + 30  # a loaded dockerd can take a while to answer
            while container_state(container)["Paused"]:
                assert time.monotonic() < deadline, "still paused after the cockpit died"
                time.sleep(0.1)
        assert container_state(container)["Running"]
        deadline = time.monotonic() + 10
        while audit(db)[-1].ended is None:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        assert "after its owner died" in audit(db)[-1].details["detail"]
