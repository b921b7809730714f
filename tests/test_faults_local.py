"""Faults on the local target: injected through the operations layer, always lifted.

Process state comes from the kernel (/proc): 'T' is a frozen process. The
SIGKILL test runs the owner as a real separate process and kills it.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from stagedeck.engine import actions
from stagedeck.engine.engine import Engine
from stagedeck.operations import Decision, Operations, ReadOnly, Refused, requests
from stagedeck.recipe.model import load_recipe
from stagedeck.store import Store
from support.operations import BOB_REASON, ENV, audit, bob_leases, write_recipe
from support.procstate import alive, frozen, state
from support.wait import wait_until

YES = Decision(confirmed=True)


async def started(tmp_path: Path, read_only: ReadOnly | None = None) -> tuple[Engine, Operations]:
    engine = Engine(load_recipe(write_recipe(tmp_path)))
    await engine.start(bring_up=False)
    assert (await actions.bring_up(engine)).ok
    ops = Operations(
        engine, user="alice", read_only=read_only, store=Store.open(tmp_path / "shared.db")
    )
    return engine, ops


def pid_of(engine: Engine, name: str) -> int:
    pid = engine.target.pid(name)  # type: ignore[attr-defined]
    assert pid is not None
    return int(pid)


async def test_pause_freezes_the_process_group_and_resumes_it_when_it_expires(
    tmp_path: Path,
) -> None:
    engine, ops = await started(tmp_path)
    try:
        pid = pid_of(engine, "api")
        request = requests.fault(ops, "api", "pause", 1.5)
        assert "process group is frozen (SIGSTOP)" in request.touches
        assert "After 1.5s it is resumed" in request.touches
        result = await ops.perform(request, YES)
        await wait_until(lambda: frozen(pid), 2)
        entry = audit(tmp_path / "shared.db")[-1]
        assert (entry.action, entry.services, entry.ended) == ("fault pause", ("api",), None)
        await result.value.wait()
        await wait_until(lambda: not frozen(pid), 2)
        assert alive(pid)
        await wait_until(lambda: audit(tmp_path / "shared.db")[-1].ended is not None)
        entry = audit(tmp_path / "shared.db")[-1]
        assert entry.outcome == "ok" and entry.details["lifted"] == "expired"
    finally:
        await ops.close()
        await engine.stop()


@pytest.mark.parametrize("kind", ["kill", "stop"])
async def test_kill_and_stop_take_the_service_down_and_start_it_again(
    tmp_path: Path, kind: str
) -> None:
    engine, ops = await started(tmp_path)
    try:
        pid = pid_of(engine, "api")
        result = await ops.perform(requests.fault(ops, "api", kind, 1.0), YES)
        await wait_until(lambda: not alive(pid))
        await wait_until(lambda: engine.target.pid("api") is None)  # type: ignore[attr-defined]
        assert result.value.active  # down for the fault's duration
        await result.value.wait()
        await wait_until(lambda: engine.target.pid("api") is not None)  # type: ignore[attr-defined]
        assert pid_of(engine, "api") != pid and alive(pid_of(engine, "api"))
    finally:
        await ops.close()
        await engine.stop()


async def test_lifting_early_and_quitting_lift_every_fault(tmp_path: Path) -> None:
    engine, ops = await started(tmp_path)
    try:
        api, worker = pid_of(engine, "api"), pid_of(engine, "worker")
        first = await ops.perform(requests.fault(ops, "api", "pause", 60), YES)
        await ops.perform(requests.fault(ops, "worker", "pause", 60), YES)
        await wait_until(lambda: frozen(api) and frozen(worker), 2)
        await first.value.lift()
        await wait_until(lambda: not frozen(api), 2)
        assert frozen(worker)
        await ops.close("the cockpit quit")  # quitting lifts what is left
        await wait_until(lambda: not frozen(worker), 2)
        entries = audit(tmp_path / "shared.db")
        assert [e.details["lifted"] for e in entries] == ["lifted early", "the cockpit quit"]
        assert all(e.ended is not None for e in entries)
    finally:
        await engine.stop()


async def test_faults_are_refused_read_only_and_under_someone_elses_lease(tmp_path: Path) -> None:
    engine, ops = await started(tmp_path, read_only=ReadOnly("read-only (--read-only)"))
    try:
        with pytest.raises(Refused, match="fault pause refused: this cockpit is read-only"):
            await ops.perform(requests.fault(ops, "api", "pause", 5), YES)
        ops.read_only = ReadOnly()
        bob_leases(tmp_path / "shared.db")
        with pytest.raises(Refused) as caught:
            await ops.perform(requests.fault(ops, "api", "pause", 5), YES)
        assert "leased by bob" in str(caught.value) and BOB_REASON in str(caught.value)
        assert not frozen(pid_of(engine, "api"))
        assert audit(tmp_path / "shared.db") == []
        with pytest.raises(ValueError, match=r"delete-pod is not possible on api .local target."):
            requests.fault(ops, "api", "delete-pod", 5)
    finally:
        await ops.close()
        await engine.stop()


OWNER = str(Path(__file__).parent / "support" / "fault_owner.py")


def test_a_pause_does_not_outlive_an_owner_killed_with_sigkill(tmp_path: Path) -> None:
    recipe, db = write_recipe(tmp_path), tmp_path / "shared.db"
    owner = subprocess.Popen(
        [sys.executable, OWNER, str(recipe), str(db), "api", "pause"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert owner.stdout is not None
        info = json.loads(owner.stdout.readline() or "{}")
        pid, keeper = info["pid"], info["keeper"]
        deadline = time.monotonic() + 2
        while not frozen(pid):
            assert time.monotonic() < deadline, state(pid)
            time.sleep(0.02)
        owner.send_signal(signal.SIGKILL)
        owner.wait(10)
        deadline = time.monotonic() + 15
        while alive(pid) or alive(keeper):
            assert time.monotonic() < deadline, (state(pid), state(keeper))
            time.sleep(0.05)
    finally:
        if owner.poll() is None:
            owner.kill()
    # The service went with its owner (the local watchdog), never left frozen; the keeper
    # lifted the fault and closed its audit entry.
    (entry,) = Store.open(db).recent_audit(ENV)
    assert entry.ended is not None and entry.outcome == "ok"
    assert entry.details["lifted"] == "by the fault keeper"
    assert "after its owner died" in entry.details["detail"]
