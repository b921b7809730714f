"""Two cockpits on one database: they see each other, and never act on one service at once."""

from __future__ import annotations

from pathlib import Path

from stagedeck.store import Store
from stagedeck.store.shared import SharedState


async def test_presence_and_busy_elsewhere(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    alice = SharedState(Store.open(path), "env", "alice", session="host:1")
    bob = SharedState(Store.open(path), "env", "bob", session="host:2")
    carol = SharedState(Store.open(path), "env", "carol", session="host:3")
    for s in (alice, bob, carol):
        await s.refresh(force=True)  # heartbeats
    await alice.refresh(force=True)
    assert alice.presence_text() == "3 watching: bob, carol, you"

    audit_id = await bob.audit_start("redeploy", ["payments"], {})
    await alice.refresh(force=True)
    refusal = alice.busy_elsewhere(["payments"])
    assert refusal is not None and refusal.startswith(
        "bob is already running 'redeploy' on payments"
    )
    assert alice.busy_elsewhere(["orders"]) is None
    assert bob.busy_elsewhere(["payments"]) is None  # your own action is not "elsewhere"
    await bob.audit_finish(audit_id, "ok", {})
    await alice.refresh(force=True)
    assert alice.busy_elsewhere(["payments"]) is None

    await bob.acquire_lease("load test", 1500)
    await alice.refresh(force=True)
    assert (
        alice.lease_refusal("reseed")
        == "reseed refused: leased by bob for 25 more minutes: load test"
    )
    assert bob.lease_refusal("reseed") is None
