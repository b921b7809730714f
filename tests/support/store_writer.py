"""A separate process hammering one store, for tests/test_store_concurrency.py.

    python tests/support/store_writer.py annotate DB WRITER COUNT GO [--hold-after N]
    python tests/support/store_writer.py lease DB OWNER ENVS GO [--ttl S] [--force]

Each prints ``ready`` once its store is open, then waits for the file GO to exist,
so that every process starts writing at the same moment. ``annotate`` prints
``<seq> <id>`` after each committed annotation; with ``--hold-after N`` it commits
N annotations, then opens a write transaction with one more row, prints
``holding`` and sleeps, holding the write lock until it is killed. ``lease``
tries to acquire each of ENVS (comma-separated) and prints one JSON line each.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "src"))

from sqlite_utils import Database

from stagedeck.store import LeaseHeld, Store


def wait_for(go: str) -> None:
    deadline = time.monotonic() + 60
    while not os.path.exists(go):
        if time.monotonic() > deadline:
            sys.exit("never told to go")
        time.sleep(0.002)


def annotate(store: Store, writer: int, count: int, hold_after: int | None) -> None:
    for seq in range(count):
        if hold_after is not None and seq == hold_after:
            hold(store, writer, seq)
        annotation_id = store.add_annotation(
            f"sig-{writer}",
            f"tests.t::w{writer}",
            "shared",
            f"writer{writer}",
            "flaky",
            f"{writer}:{seq}",
        )
        print(seq, annotation_id, flush=True)


def hold(store: Store, writer: int, seq: int) -> None:
    """Die (by SIGKILL from the test) inside a write transaction, holding the lock."""

    def tx(db: Database) -> None:
        db.conn.execute(
            "INSERT INTO annotations (signature, test_id, environment, author, tag, note, created, updated) "
            "VALUES (?, ?, 'shared', ?, 'flaky', ?, 'x', 'x')",
            (f"sig-{writer}", f"tests.t::w{writer}", f"writer{writer}", f"{writer}:{seq}"),
        )
        print("holding", flush=True)
        time.sleep(120)

    store._write(tx)


def lease(store: Store, owner: str, envs: list[str], ttl: float, force: bool) -> None:
    for env in envs:
        try:
            got = store.acquire_lease(env, owner, f"{owner}'s test", ttl, force=force)
            print(json.dumps({"env": env, "won": True, "taken_from": got.taken_from}), flush=True)
        except LeaseHeld as exc:
            result = {
                "env": env,
                "won": False,
                "holder": exc.lease.owner,
                "remaining": exc.remaining_s,
                "message": str(exc),
            }
            print(json.dumps(result), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("annotate")
    a.add_argument("db")
    a.add_argument("writer", type=int)
    a.add_argument("count", type=int)
    a.add_argument("go")
    a.add_argument("--hold-after", type=int)
    b = sub.add_parser("lease")
    b.add_argument("db")
    b.add_argument("owner")
    b.add_argument("envs")
    b.add_argument("go")
    b.add_argument("--ttl", type=float, default=600)
    b.add_argument("--force", action="store_true")
    args = parser.parse_args()

    store = Store.open(args.db)
    print("ready", flush=True)
    wait_for(args.go)
    if args.command == "annotate":
        annotate(store, args.writer, args.count, args.hold_after)
    else:
        lease(store, args.owner, args.envs.split(","), args.ttl, args.force)
    store.close()


if __name__ == "__main__":
    main()
