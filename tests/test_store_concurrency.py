"""Several cockpits, one file: real processes writing at once, one of them killed.

Each writer is ``tests/support/store_writer.py`` in its own Python process. They open the
(new) database together, so they also race the first migration; a file barrier
then starts their writes at the same moment.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import IO, Any

import pytest

from stagedeck.store import SCHEMA_VERSION, Store

WRITER = Path(__file__).parent / "support" / "store_writer.py"
WRITERS = 8
EACH = 200


def spawn(args: list[str], stdout: int | IO[Any] = subprocess.PIPE) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WRITER), *args],
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_ready(logs: list[Path], procs: list[subprocess.Popen[str]], timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not all(log.exists() and log.read_text().startswith("ready") for log in logs):
        for p in procs:
            if p.poll() is not None:
                raise AssertionError(f"writer died before starting: {p.stderr and p.stderr.read()}")
        assert time.monotonic() < deadline, "writers never became ready"
        time.sleep(0.01)


def rows_by_writer(db: Path) -> dict[int, list[int]]:
    """Each writer's committed sequence numbers, from the notes ``writer:seq``."""
    seqs: dict[int, list[int]] = defaultdict(list)
    with Store.open(db) as s:
        for w in range(WRITERS):
            for a in s.annotations_for(f"sig-{w}"):
                writer, seq = map(int, a.note.split(":"))
                assert writer == w and a.author == f"writer{w}" and a.tag == "flaky"
                seqs[w].append(seq)
    return {w: sorted(v) for w, v in seqs.items()}


def run_writers(tmp_path: Path, victim_args: list[str] | None = None) -> tuple[Path, Any]:
    """Start 8 writers on a new file; returns (db, victim process or None)."""
    db = tmp_path / "shared" / "stagedeck.db"
    go = tmp_path / "go"
    logs = [tmp_path / f"writer{w}.log" for w in range(WRITERS)]
    procs: list[subprocess.Popen[str]] = []
    victim = None
    for w in range(WRITERS):
        args = ["annotate", str(db), str(w), str(EACH), str(go)]
        if w == 0 and victim_args is not None:
            victim = spawn(args + victim_args)  # its stdout is read line by line
            procs.append(victim)
            continue
        with logs[w].open("w") as log:
            procs.append(spawn(args, stdout=log))
    if victim is not None:
        assert victim.stdout is not None
        assert victim.stdout.readline().strip() == "ready"
        logs[0].write_text("ready\n")
    wait_ready(logs, procs)
    go.touch()
    return db, (victim, procs)


def test_eight_writers_lose_nothing(tmp_path: Path) -> None:
    started = time.monotonic()
    db, (_, procs) = run_writers(tmp_path)
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err
    elapsed = time.monotonic() - started

    seqs = rows_by_writer(db)
    assert {w: len(v) for w, v in seqs.items()} == dict.fromkeys(range(WRITERS), EACH)
    assert all(v == list(range(EACH)) for v in seqs.values())
    with Store.open(db) as s:
        assert s.integrity_check() == ["ok"]
        total = s._read(lambda d: d.conn.execute("SELECT count(*) FROM annotations").fetchone()[0])
        assert total == WRITERS * EACH == 1600
        assert s.schema_version() == SCHEMA_VERSION
    print(f"{WRITERS * EACH} annotations from {WRITERS} processes in {elapsed:.2f}s")


@pytest.mark.parametrize("mode", ["between-writes", "holding-the-write-lock"])
def test_a_writer_killed_mid_run_leaves_the_rest_intact(tmp_path: Path, mode: str) -> None:
    """SIGKILL one writer while the others write; nothing committed is lost.

    ``between-writes``: killed at a random moment after 50 commits.
    ``holding-the-write-lock``: killed inside an open write transaction after 60
    commits, the worst case: the others wait on its lock until the kernel drops it.
    """
    hold = ["--hold-after", "60"] if mode == "holding-the-write-lock" else []
    db, (victim, procs) = run_writers(tmp_path, hold)
    confirmed: list[int] = []
    for line in victim.stdout:
        if line.strip() == "holding":
            break
        confirmed.append(int(line.split()[0]))
        if not hold and len(confirmed) >= 50:
            break
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait(timeout=10)
    assert victim.returncode == -signal.SIGKILL
    confirmed += [
        int(line.split()[0]) for line in victim.stdout.read().splitlines() if line[:1].isdigit()
    ]

    survivors = procs[1:]
    for p in survivors:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err

    seqs = rows_by_writer(db)
    for w in range(1, WRITERS):
        assert seqs[w] == list(range(EACH)), f"writer {w} lost rows"
    # The victim's committed rows are a gap-free prefix containing every commit it
    # confirmed (it may have died between a commit and its print, never the reverse).
    killed = seqs.get(0, [])
    assert killed == list(range(len(killed)))
    assert set(confirmed) <= set(killed)
    assert len(killed) < EACH
    if hold:
        assert killed == list(range(60))  # the uncommitted 61st row is gone
    with Store.open(db) as s:
        assert s.integrity_check() == ["ok"]
        s.add_annotation("sig-after", "t::a", "shared", "alice", "bug", "still writable")
        assert len(s.annotations_for("sig-after")) == 1


def _lease_run(
    tmp_path: Path, name: str, owners: list[str], envs: list[str], *extra: str
) -> dict[str, list[dict[str, Any]]]:
    db = tmp_path / "leases.db"
    go = tmp_path / f"go-{name}"
    procs = {o: spawn(["lease", str(db), o, ",".join(envs), str(go), *extra]) for o in owners}
    for p in procs.values():
        assert p.stdout is not None and p.stdout.readline().strip() == "ready"
    go.touch()
    results = {}
    for owner, p in procs.items():
        out, err = p.communicate(timeout=60)
        assert p.returncode == 0, err
        results[owner] = [json.loads(line) for line in out.splitlines()]
    return results


def test_two_processes_race_for_leases_and_exactly_one_wins(tmp_path: Path) -> None:
    envs = [f"env{i}" for i in range(40)]
    results = _lease_run(tmp_path, "race", ["alice", "bob"], envs)
    with Store.open(tmp_path / "leases.db") as s:
        for i, env in enumerate(envs):
            a, b = results["alice"][i], results["bob"][i]
            assert a["env"] == b["env"] == env
            assert a["won"] != b["won"], f"{env}: both or neither won"
            winner, loser = ("alice", b) if a["won"] else ("bob", a)
            assert loser["holder"] == winner
            assert f"leased by {winner} for 10 more minutes" in loser["message"]
            assert 590 < loser["remaining"] <= 600
            lease = s.current_lease(env)
            assert lease is not None and lease.owner == winner


def test_leases_across_processes_expire_and_can_be_forced(tmp_path: Path) -> None:
    first = _lease_run(tmp_path, "short", ["alice"], ["staging", "qa"], "--ttl", "1")
    assert [r["won"] for r in first["alice"]] == [True, True]
    held = _lease_run(tmp_path, "held", ["bob"], ["staging"])
    assert held["bob"][0]["won"] is False and held["bob"][0]["holder"] == "alice"
    time.sleep(1.1)  # alice's 1 s leases have expired: free for anyone
    later = _lease_run(tmp_path, "later", ["bob"], ["staging"], "--ttl", "600")
    assert later["bob"][0] == {"env": "staging", "won": True, "taken_from": None}
    forced = _lease_run(tmp_path, "forced", ["carol"], ["staging"], "--force")
    assert forced["carol"][0] == {"env": "staging", "won": True, "taken_from": "bob"}
    with Store.open(tmp_path / "leases.db") as s:
        lease = s.current_lease("staging")
        assert lease is not None and lease.owner == "carol"
        [entry] = s.recent_audit("staging")
        assert (entry.action, entry.user, entry.forced) == ("lease.force", "carol", True)
        assert entry.details["previous_owner"] == "bob"


def test_a_cockpit_sees_another_process_write(tmp_path: Path) -> None:
    db = tmp_path / "leases.db"  # the file _lease_run uses
    with Store.open(db) as cockpit:
        assert not cockpit.changed()
        _lease_run(tmp_path, "watched", ["bob"], ["staging"])
        assert cockpit.changed() == {"leases"}
        assert not cockpit.changed()
