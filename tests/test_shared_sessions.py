"""Two cockpits on one database: they see each other, and never act on one service at once."""

from __future__ import annotations

from pathlib import Path

from stagedeck.operations.core import busy_elsewhere
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

    # What another session is doing is decided by the operations layer from the audit log.
    store = bob.store
    assert store is not None
    audit_id = store.audit_start("env", "bob", "redeploy", ["payments"], {"session": bob.session})
    entries = store.recent_audit("env")
    now = store.clock()
    refusal = busy_elsewhere(entries, ["payments"], alice.session, now)
    assert refusal is not None and refusal.startswith(
        "bob is already running 'redeploy' on payments"
    )
    assert busy_elsewhere(entries, ["orders"], alice.session, now) is None
    assert busy_elsewhere(entries, ["payments"], bob.session, now) is None  # yours is not elsewhere
    store.audit_finish(audit_id, "ok", {})
    assert busy_elsewhere(store.recent_audit("env"), ["payments"], alice.session, now) is None
