"""The operations layer with no front end: every action under every rule.

Each mutating action is refused read-only and under someone else's lease
(naming the holder and the reason), runs when forced with the override in
the audit log, and leaves an audit entry that is finished however it ends:
ok, failed, error or cancelled.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

import pytest

from stagedeck.engine import actions
from stagedeck.engine.engine import Engine
from stagedeck.operations import (
    Decision,
    NotConfirmed,
    Operations,
    ReadOnly,
    Refused,
    Request,
    requests,
)
from stagedeck.recipe.model import load_recipe
from stagedeck.store import Store
from support.operations import BOB_REASON, ENV, audit, bob_leases, write_recipe

YES = Decision(confirmed=True)
FORCE = Decision(confirmed=True, forced=True)


async def _run_nothing() -> str:
    return "suite ran"


BUILDERS: dict[str, Callable[[Operations], Request]] = {
    "redeploy": lambda ops: requests.redeploy(ops, "api", with_dependents=True),
    "bring-up": requests.bring_up,
    "reseed": requests.reseed,
    "restart changed": lambda ops: requests.restart_changed(ops, ["worker"]),
    "exclusive suite": lambda ops: requests.run_suites(ops, ["load"], _run_nothing),
    "lease acquire": lambda ops: requests.acquire_lease(ops, "deploy check", 600),
    "lease release": requests.release_lease,
}


def make_ops(
    tmp_path: Path, *, seed: str = "ok", read_only: ReadOnly | None = None, user: str = "alice"
) -> tuple[Engine, Operations, Path]:
    db = tmp_path / "shared.db"
    engine = Engine(load_recipe(write_recipe(tmp_path, seed=seed)))
    ops = Operations(engine, user=user, read_only=read_only, store=Store.open(db))
    return engine, ops, db


async def start(engine: Engine, *, up: bool = True) -> None:
    """Start the engine and, unless ``up`` is False, wait until every service is running."""
    await engine.start(bring_up=False)
    if up:
        assert (await actions.bring_up(engine)).ok


@pytest.mark.parametrize("name", list(BUILDERS))
async def test_read_only_refuses_every_action_and_writes_nothing(tmp_path: Path, name: str) -> None:
    _, ops, db = make_ops(tmp_path, read_only=ReadOnly("read-only (--read-only)"))
    request = BUILDERS[name](ops)
    review = await ops.review(request)
    assert review.refusal.endswith("refused: this cockpit is read-only (--read-only)")
    with pytest.raises(Refused) as caught:
        await ops.perform(request, FORCE)
    assert "read-only" in str(caught.value)
    assert audit(db) == []


@pytest.mark.parametrize("name", list(BUILDERS))
async def test_someone_elses_lease_refuses_until_forced_and_the_override_is_audited(
    tmp_path: Path, name: str
) -> None:
    engine, ops, db = make_ops(tmp_path)
    bob_leases(db)
    request = BUILDERS[name](ops)
    review = await ops.review(request)
    assert review.needs_force and review.lease is not None and review.lease.owner == "bob"
    assert review.lease_refusal.startswith(f"{request.action} refused: leased by bob for 2")
    assert review.lease_refusal.endswith(BOB_REASON)
    with pytest.raises(Refused) as caught:
        await ops.perform(request, YES)
    assert caught.value.kind == "lease" and BOB_REASON in str(caught.value)
    assert audit(db) == []

    await start(engine, up=name != "bring-up")
    try:
        result = await ops.perform(request, FORCE)
    finally:
        await engine.stop()
    assert result.forced
    (entry,) = [e for e in audit(db) if e.forced]
    assert entry.user == "alice" and entry.ended is not None and entry.outcome == "ok"
    if request.audited:
        assert entry.action == request.action and "leased by bob" in entry.details["overrode_lease"]
        assert BOB_REASON in entry.details["overrode_lease"]
    else:  # the store audits a lease takeover itself, atomically with it
        assert entry.action in ("lease.force", "lease.force_release")
        assert entry.details["previous_owner"] == "bob"
        assert entry.details["previous_reason"] == BOB_REASON


async def test_own_lease_and_no_lease_need_no_force(tmp_path: Path) -> None:
    _, ops, db = make_ops(tmp_path)
    assert not (await ops.review(requests.reseed(ops))).needs_force
    Store.open(db).acquire_lease(ENV, "alice", "mine", 600)
    assert not (await ops.review(requests.reseed(ops))).needs_force


async def test_audit_is_finished_on_success_failure_error_and_cancel(tmp_path: Path) -> None:
    # success
    engine, ops, db = make_ops(tmp_path)
    await start(engine)
    try:
        ok = await ops.perform(requests.reseed(ops), YES)
    finally:
        await engine.stop()
    assert ok.ok

    # failure: the seed exits 3 with a JSON body; the audit keeps the words
    engine, ops, _ = make_ops(tmp_path, seed="fail")
    await start(engine)
    try:
        failed = await ops.perform(requests.reseed(ops), YES)
    finally:
        await engine.stop()
    assert not failed.ok

    # error: the work raises
    async def boom(_: Decision) -> None:
        raise RuntimeError("docker: 500 Server Error: Internal Server Error (req-88c1)")

    exploding = Request("redeploy", ("api",), "Redeploy api?", "its process restarts", "Go", boom)
    with pytest.raises(RuntimeError):
        await ops.perform(exploding, YES)

    # cancel: Ctrl-C or quitting while the seed runs
    engine, ops, _ = make_ops(tmp_path, seed="slow")
    await start(engine)
    try:
        task = asyncio.create_task(ops.perform(requests.reseed(ops), YES))
        for _ in range(200):
            if any(e.ended is None for e in audit(db)):
                break
            await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    finally:
        await engine.stop()

    entries = audit(db)
    assert [(e.action, e.outcome) for e in entries] == [
        ("reseed", "ok"),
        ("reseed", "failed"),
        ("redeploy", "error"),
        ("reseed", "cancelled"),
    ]
    assert all(e.ended is not None for e in entries)
    assert "req-7f3a9c" in entries[1].details["detail"]
    assert "req-88c1" in entries[2].details["detail"]


async def test_confirmation_is_required_where_the_request_says_so(tmp_path: Path) -> None:
    _, ops, db = make_ops(tmp_path)
    request = requests.redeploy(ops, "api")
    assert request.confirm and "stopped (SIGTERM, then SIGKILL)" in request.touches
    assert request.option is not None and "worker" in request.option
    with pytest.raises(NotConfirmed):
        await ops.perform(request, Decision())
    assert audit(db) == []
    assert not requests.bring_up(ops).confirm  # starting what is not running disturbs nobody


async def test_busy_here_and_busy_elsewhere_refuse(tmp_path: Path) -> None:
    engine, ops, db = make_ops(tmp_path)
    engine.claims["api"] = "redeploy api"
    refused = ops.check_now(requests.reseed(ops))
    assert refused is not None and "already in progress on api (redeploy api)" in str(refused)
    del engine.claims["api"]

    Store.open(db).audit_start(ENV, "carol", "redeploy", ["api"], {"session": "elsewhere:1"})
    review = await ops.review(requests.reseed(ops))
    assert review.refusal.startswith("reseed refused: carol is already running 'redeploy' on api")
    with pytest.raises(Refused):
        await ops.perform(requests.reseed(ops), FORCE)  # forcing is for leases, not collisions


async def test_unknown_names_are_clear_errors(tmp_path: Path) -> None:
    _, ops, _ = make_ops(tmp_path)
    with pytest.raises(ValueError, match=r"no service .paymnts.*services: api, worker"):
        requests.redeploy(ops, "paymnts")
    with pytest.raises(ValueError, match=r"no seed nope.*seeds: data"):
        requests.reseed(ops, ["nope"])
    with pytest.raises(ValueError, match=r"no suite nope.*suites: smoke, load"):
        requests.run_suites(ops, ["nope"], _run_nothing)


async def test_refusals_say_what_kind_they_are(tmp_path: Path) -> None:
    _, ops, db = make_ops(tmp_path)
    Store.open(db).audit_start(ENV, "carol", "reseed", ["api"], {"session": "elsewhere:1"})
    with pytest.raises(Refused) as caught:
        await ops.perform(requests.reseed(ops), YES)
    assert caught.value.kind == "busy-elsewhere"
    ops.read_only = ReadOnly("read-only (--read-only)")
    with pytest.raises(Refused) as caught:
        await ops.perform(requests.reseed(ops), YES)
    assert caught.value.kind == "read-only"
