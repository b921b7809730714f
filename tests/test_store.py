"""The SQLite store on real files: schema, results, history, annotations, leases, errors."""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from stagedeck.store import (
    CONTEXT_CHARS,
    CONTEXT_ITEMS,
    PRESENCE_RETENTION_S,
    SCHEMA_VERSION,
    TRACEBACK_CHARS,
    ContextItem,
    Lease,
    LeaseHeld,
    LeaseLost,
    NotAuthor,
    Store,
    StoreError,
    TestResult,
    default_db_path,
    iso,
)
from stagedeck.store import connection as store_module  # reads MIGRATIONS when it opens a file
from stagedeck.store.signature import failure_signature

T0 = 1_763_780_000.0  # 2025-11-22T02:53:20Z


class FakeClock:
    """Deterministic time for the store: starts at T0, moves only when told."""

    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "deck" / "stagedeck.db"


@pytest.fixture
def store(db_path: Path, clock: FakeClock) -> Iterator[Store]:
    s = Store.open(db_path, clock=clock)
    yield s
    s.close()


def raw(path: Path) -> sqlite3.Connection:
    """What any other SQLite tool sees."""
    return sqlite3.connect(path)


# ------------------------------------------------------------------ schema


def test_open_creates_the_schema_in_wal_mode(store: Store, db_path: Path) -> None:
    assert db_path.exists()
    assert store.writable and store.problem is None
    con = raw(db_path)
    assert con.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 5
    assert con.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert {
        "environments",
        "runs",
        "suite_runs",
        "test_results",
        "failure_context",
        "failure_suspects",
        "run_window",
        "gate_verdicts",
        "scenario_results",
        "annotations",
        "audit",
        "leases",
        "presence",
        "changes",
    } <= tables
    assert store.integrity_check() == ["ok"]


def test_reopening_is_a_no_op(db_path: Path, clock: FakeClock) -> None:
    with Store.open(db_path, clock=clock) as s:
        s.add_annotation("sig", "t::a", "staging", "alice", "bug", "broken")
    con = raw(db_path)
    schema = con.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall()
    before = con.execute("PRAGMA data_version").fetchone()[0]
    with Store.open(db_path, clock=clock) as s:
        assert s.schema_version() == SCHEMA_VERSION
        assert [a.note for a in s.annotations_for("sig")] == ["broken"]
    # Nothing was committed by the second open (the write probe rolls back).
    assert con.execute("PRAGMA data_version").fetchone()[0] == before
    assert con.execute("SELECT sql FROM sqlite_master ORDER BY name").fetchall() == schema


def test_a_second_migration_is_applied_once_in_order(
    db_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Store.open(db_path, clock=clock):
        pass
    applied: list[int] = []

    after = len(store_module.MIGRATIONS) + 1

    def migration_next(db: Any) -> None:
        applied.append(after)
        db.execute("ALTER TABLE annotations ADD COLUMN severity TEXT")

    monkeypatch.setattr(store_module, "MIGRATIONS", [*store_module.MIGRATIONS, migration_next])
    monkeypatch.setattr(store_module, "SCHEMA_VERSION", after)
    with Store.open(db_path, clock=clock) as s:
        assert s.schema_version() == after
    with Store.open(db_path, clock=clock):
        pass
    assert applied == [after]
    columns = [r[1] for r in raw(db_path).execute("PRAGMA table_info(annotations)")]
    assert "severity" in columns


def test_a_newer_schema_is_refused_and_left_alone(db_path: Path) -> None:
    db_path.parent.mkdir(parents=True)
    con = raw(db_path)
    con.execute("PRAGMA user_version = 99")
    con.commit()
    with pytest.raises(StoreError) as err:
        Store.open(db_path)
    assert err.value.kind == "too-new"
    assert str(db_path) in str(err.value) and "99" in str(err.value)
    assert "upgrade stagedeck" in str(err.value)
    assert raw(db_path).execute("PRAGMA user_version").fetchone()[0] == 99


def test_timestamps_are_iso_utc_text(store: Store, db_path: Path, clock: FakeClock) -> None:
    run = store.start_run("staging", "alice")
    store.finish_run(run, "passed")
    started, ended = raw(db_path).execute("SELECT started, ended FROM runs").fetchone()
    assert started == ended == "2025-11-22T02:53:20.000Z"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", iso(time.time()))
    # SQLite's own date functions understand them.
    (unix,) = raw(db_path).execute("SELECT unixepoch(started) FROM runs").fetchone()
    assert unix == T0


# ----------------------------------------------------------------- paths


def test_default_db_path_precedence(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.delenv("STAGEDECK_DB", raising=False)
    assert default_db_path(None) == tmp_path / "home/.local/share/stagedeck/stagedeck.db"
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    assert default_db_path(None) == tmp_path / "xdg/stagedeck/stagedeck.db"
    monkeypatch.setenv("STAGEDECK_DB", str(tmp_path / "env.db"))
    assert default_db_path(None) == tmp_path / "env.db"
    assert default_db_path(str(tmp_path / "cli.db")) == tmp_path / "cli.db"


# ----------------------------------------------------------- runs & results


def test_runs_suites_results_and_failures(store: Store, clock: FakeClock) -> None:
    run = store.start_run("staging", "alice", recipe_path="recipes/demo.toml", target="local")
    suite = store.start_suite_run(run, "api")
    clock.advance(2)
    ok = store.add_test_result(suite, TestResult("suites.api::test_ok", "pass", duration=0.1))
    bad = store.add_test_result(
        suite,
        TestResult(
            "suites.api::test_orders",
            "failed",
            duration=1.5,
            message="connection refused to 10.0.4.17:5432 after 3012 ms",
            traceback="line\n" * 5000,
            started=T0 + 1,
            ended=T0 + 2.5,
        ),
    )
    store.update_suite_run(suite, state="failed", passed=1, failed=1, total=2, ended=clock())
    store.finish_run(run, "failed")

    [r] = store.runs("staging")
    assert (r.id, r.user, r.outcome, r.started, r.ended) == (run, "alice", "failed", T0, T0 + 2)
    [s] = store.suite_runs(run)
    assert (s.suite, s.state, s.passed, s.failed, s.total) == ("api", "failed", 1, 1, 2)
    results = store.test_results(suite)
    assert [t.id for t in results] == [ok, bad]
    assert results[0].outcome == "passed" and results[0].signature is None
    assert results[0].name == "test_ok"
    failed = results[1]
    assert failed.signature == failure_signature("suites.api::test_orders", failed.message)
    assert len(failed.traceback) <= TRACEBACK_CHARS
    assert (failed.started, failed.ended) == (T0 + 1, T0 + 2.5)
    [f] = store.failures("staging")
    assert (f.run_id, f.suite, f.result.id) == (run, "api", bad)
    assert store.failures("staging", run_id=run) == [f]
    assert store.failures("elsewhere") == []
    [env] = store.environments()
    assert (env.name, env.recipe_path, env.target) == ("staging", "recipes/demo.toml", "local")

    with pytest.raises(ValueError, match="outcome"):
        store.add_test_result(suite, TestResult("x::y", "exploded"))
    with pytest.raises(StoreError) as err:
        store.finish_run(9999, "passed")
    assert err.value.kind == "not-found"


def test_failure_context_is_bounded(store: Store) -> None:
    suite = store.start_suite_run(store.start_run("staging", "alice"), "api")
    result = store.add_test_result(suite, TestResult("a::b", "error", message="boom"))
    items = [
        ContextItem("db", "health", T0, {"from": "healthy", "to": "unhealthy"}),
        ContextItem("api", "log", T0 + 1, "ERROR " + "x" * 10_000),
    ] + [ContextItem("api", "log", T0 + 2, f"WARN {i}") for i in range(300)]
    assert store.add_failure_context(result, items) == CONTEXT_ITEMS
    assert store.add_failure_context(result, items) == 0
    stored = store.failure_context(result)
    assert len(stored) == CONTEXT_ITEMS
    assert stored[0].content == {"from": "healthy", "to": "unhealthy"}
    assert isinstance(stored[1].content, str)
    assert len(stored[1].content) == CONTEXT_CHARS
    with pytest.raises(ValueError):
        store.add_failure_context(result, [ContextItem("db", "metric", T0, "x")])


# ------------------------------------------------------------------ history


def _run_with(store: Store, clock: FakeClock, outcomes: dict[str, str], message: str = "") -> int:
    run = store.start_run("staging", "ci")
    suite = store.start_suite_run(run, "api")
    for test_id, outcome in outcomes.items():
        store.add_test_result(suite, TestResult(test_id, outcome, message=message, started=clock()))
    store.finish_run(run, "done")
    clock.advance(60)
    return run


def test_history_flakiness_and_signature_stats(store: Store, clock: FakeClock) -> None:
    pattern = ["passed", "failed", "passed", "skipped", "passed", "failed", "failed", "passed"]
    runs = [
        _run_with(store, clock, {"t::flaky": o, "t::broken": "failed"}, f"took {i}0 ms")
        for i, o in enumerate(pattern)
    ]
    history = store.test_history("staging", "t::flaky", limit=3)
    assert [(h.run_id, h.outcome) for h in history] == [
        (runs[7], "passed"),
        (runs[6], "failed"),
        (runs[5], "failed"),
    ]
    assert history[0].at == T0 + 7 * 60

    # Non-skipped verdicts, oldest first: P F P P F F P -> 4 flips over 6 transitions.
    flaky = store.flakiness("staging", "t::flaky")
    assert (flaky.samples, flaky.flips, flaky.failures) == (7, 4, 3)
    assert flaky.rate == pytest.approx(4 / 6)
    assert flaky.fail_rate == pytest.approx(3 / 7)
    broken = store.flakiness("staging", "t::broken")
    assert (broken.rate, broken.fail_rate) == (0.0, 1.0)
    assert store.flakiness("staging", "t::flaky", window=2).samples == 2
    assert store.flakiness("staging", "t::never").rate == 0.0

    # "took 00 ms" ... "took 70 ms": one signature, seen in every run.
    sig = store.failures("staging", runs[0])[0].result.signature
    assert sig is not None
    stats = store.signature_stats(failure_signature("t::broken", "took 99 ms"))
    assert (stats.count, stats.first_seen, stats.last_seen) == (8, T0, T0 + 7 * 60)
    assert store.signature_stats(sig, env="elsewhere").count == 0
    assert store.signature_stats("nope").first_seen is None


# -------------------------------------------------------------- annotations


def test_annotations_belong_to_their_author(store: Store, clock: FakeClock) -> None:
    aid = store.add_annotation("sig1", "t::a", "staging", "alice", "flaky", "races the seed job")
    other = store.add_annotation(
        "sig1", "t::a", "staging", "bob", "infra", "node was full", "https://x/1"
    )
    with pytest.raises(ValueError, match="tag must be one of"):
        store.add_annotation("sig1", "t::a", "staging", "bob", "meh", "x")

    with pytest.raises(NotAuthor) as err:
        store.edit_annotation(aid, "bob", note="not mine")
    assert isinstance(err.value, PermissionError) and err.value.kind == "not-author"
    assert "alice" in str(err.value)
    with pytest.raises(PermissionError):
        store.delete_annotation(aid, "bob")

    clock.advance(30)
    edited = store.edit_annotation(aid, "alice", tag="data", note="seed data is stale")
    assert (edited.tag, edited.note, edited.updated, edited.created) == (
        "data",
        "seed data is stale",
        T0 + 30,
        T0,
    )
    with pytest.raises(ValueError):
        store.edit_annotation(aid, "alice", tag="nope")
    assert [(a.id, a.tag, a.link) for a in store.annotations_for("sig1")] == [
        (aid, "data", None),
        (other, "infra", "https://x/1"),
    ]
    store.delete_annotation(aid, "alice")
    assert [a.id for a in store.annotations_for("sig1")] == [other]
    assert [a.id for a in store.annotations_for_test("t::a")] == [other]
    with pytest.raises(StoreError) as gone:
        store.edit_annotation(aid, "alice", note="again")
    assert gone.value.kind == "not-found"


# -------------------------------------------------------------------- audit


def test_audit_start_and_finish(store: Store, clock: FakeClock) -> None:
    first = store.audit_start("staging", "alice", "redeploy", ["api", "worker"], {"why": "fix"})
    clock.advance(42)
    store.audit_finish(first, "ok", {"took_s": 42})
    second = store.audit_start("staging", "bob", "reseed", ["db"], forced=True)
    store.audit_start("other", "bob", "reseed")
    entries = store.recent_audit("staging")
    assert [e.id for e in entries] == [second, first]
    done = entries[1]
    assert done.services == ("api", "worker")
    assert done.details == {"why": "fix", "took_s": 42}
    assert (done.started, done.ended, done.outcome, done.forced) == (T0, T0 + 42, "ok", False)
    assert entries[0].forced and entries[0].ended is None
    assert len(store.recent_audit()) == 3
    assert json.loads(raw(store.path).execute("SELECT details FROM audit").fetchone()[0])


# ------------------------------------------------------------------- leases


def test_lease_lifecycle(store: Store, clock: FakeClock) -> None:
    lease = store.acquire_lease("staging", "alice", "load test", ttl_s=1500)
    assert lease.describe(clock()) == "leased by alice for 25 more minutes: load test"
    assert store.current_lease("staging") == lease

    clock.advance(60)
    with pytest.raises(LeaseHeld) as held:
        store.acquire_lease("staging", "bob", "smoke", ttl_s=60)
    assert held.value.lease.owner == "alice"
    assert held.value.remaining_s == 1440
    assert "leased by alice for 24 more minutes: load test" in str(held.value)

    renewed = store.acquire_lease("staging", "alice", "load test, longer", ttl_s=3600)
    assert (renewed.acquired, renewed.expires) == (T0, T0 + 60 + 3600)
    with pytest.raises(LeaseLost) as lost:
        store.renew_lease("staging", "bob", 60)
    assert lost.value.lease is not None and lost.value.lease.owner == "alice"
    with pytest.raises(LeaseHeld):
        store.release_lease("staging", "bob")

    clock.advance(3601)  # expired: free for anyone, and no longer current
    assert store.current_lease("staging") is None
    assert "expired 1 second ago" in renewed.describe(clock())
    bobs = store.acquire_lease("staging", "bob", "smoke", ttl_s=90)
    assert (bobs.owner, bobs.taken_from, bobs.acquired) == ("bob", None, clock())
    with pytest.raises(LeaseLost):
        store.renew_lease("staging", "alice", 60)
    clock.advance(30)
    assert store.renew_lease("staging", "bob", 120).expires == clock() + 120
    assert store.release_lease("staging", "bob") is True
    assert store.release_lease("staging", "bob") is False
    with pytest.raises(LeaseLost):
        store.renew_lease("staging", "bob", 60)
    with pytest.raises(ValueError):
        store.acquire_lease("staging", "bob", "x", ttl_s=0)
    assert store.recent_audit("staging") == []  # nothing forced


def test_forcing_a_lease_is_audited(store: Store, clock: FakeClock) -> None:
    store.acquire_lease("staging", "alice", "load test", ttl_s=600)
    taken = store.acquire_lease("staging", "bob", "prod hotfix", ttl_s=600, force=True)
    assert taken.taken_from == "alice"
    [entry] = store.recent_audit("staging")
    assert (entry.action, entry.user, entry.forced) == ("lease.force", "bob", True)
    assert entry.details["previous_owner"] == "alice"
    assert entry.details["previous_reason"] == "load test"
    store.release_lease("staging", "carol", force=True)
    assert [e.action for e in store.recent_audit("staging")] == [
        "lease.force_release",
        "lease.force",
    ]
    assert store.current_lease("staging") is None


def test_lease_describe_units() -> None:
    lease = Lease("e", "alice", "", 0, 10_000, 0)
    assert lease.describe(10_000 - 1) == "leased by alice for 1 more second"
    assert lease.describe(10_000 - 89) == "leased by alice for 89 more seconds"
    assert lease.describe(10_000 - 3 * 3600) == "leased by alice for 3 more hours"
    assert lease.describe(10_000 + 120) == "lease by alice expired 2 minutes ago"


# ----------------------------------------------------------------- presence


def test_presence(store: Store, clock: FakeClock) -> None:
    store.heartbeat("staging", "alice", "box:100")
    store.heartbeat("staging", "bob", "box:200")
    store.heartbeat("other", "carol", "box:300")
    clock.advance(20)
    store.heartbeat("staging", "alice", "box:100")
    assert [(w.user, w.session) for w in store.watchers("staging")] == [
        ("alice", "box:100"),
        ("bob", "box:200"),
    ]
    clock.advance(15)  # bob's last heartbeat is 35 s old now
    assert [w.user for w in store.watchers("staging")] == ["alice"]
    assert [w.user for w in store.watchers("staging", stale_after_s=60)] == ["alice", "bob"]
    store.leave("staging", "box:100")
    assert store.watchers("staging") == []
    clock.advance(PRESENCE_RETENTION_S)
    store.heartbeat("staging", "dave", "box:400")  # and day-old rows are forgotten
    assert raw(store.path).execute("SELECT count(*) FROM presence").fetchone()[0] == 1


# ----------------------------------------------------------- change detection


def test_changed_names_the_topics_others_wrote(db_path: Path, clock: FakeClock) -> None:
    with Store.open(db_path, clock=clock) as cockpit, Store.open(db_path, clock=clock) as other:
        assert not cockpit.changed()
        other.add_annotation("sig", "t::a", "staging", "bob", "bug", "x")
        assert cockpit.changed() == {"annotations"}
        assert not cockpit.changed()
        other.heartbeat("staging", "bob", "box:1")
        other.acquire_lease("staging", "bob", "x", 60)
        assert cockpit.changed() == {"presence", "leases"}
        # Writes from this process's own worker threads count too (other connections).
        t = threading.Thread(target=cockpit.start_run, args=("staging", "alice"))
        t.start()
        t.join()
        assert cockpit.changed() == {"runs"}
        # A tool outside stagedeck changes data without the counters: nothing named.
        con = raw(db_path)
        con.execute("UPDATE annotations SET note = 'y'")
        con.commit()
        assert cockpit.changed() == frozenset()


def test_many_threads_share_one_store(store: Store) -> None:
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(50):
                store.add_annotation("sig", "t::a", "staging", f"user{n}", "flaky", str(i))
                store.annotations_for("sig")
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert len(store.annotations_for("sig")) == 400
    assert store.integrity_check() == ["ok"]


# ------------------------------------------------------------------- errors


def test_garbage_file_is_reported_as_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "garbage.db"
    path.write_bytes(os.urandom(3) + b"definitely not sqlite" * 500)
    with pytest.raises(StoreError) as err:
        Store.open(path)
    assert err.value.kind == "corrupt"
    assert err.value.path == path
    assert str(path) in str(err.value) and "--db" in str(err.value)
    assert "mv " in str(err.value)


def test_damaged_pages_are_reported_as_corrupt(db_path: Path) -> None:
    with Store.open(db_path) as s:
        for i in range(100):
            s.add_annotation("sig" * 20, "t::a", "staging", "alice", "bug", "n" * 500 + str(i))
    data = bytearray(db_path.read_bytes())
    for offset in range(4096, len(data), 4096):  # keep the header, smash every other page
        data[offset + 8 : offset + 600] = os.urandom(592)
    db_path.write_bytes(bytes(data))
    with pytest.raises(StoreError) as err:
        Store.open(db_path)
    assert err.value.kind == "corrupt"
    assert str(db_path) in str(err.value)


def test_a_locked_database_fails_clearly_and_recovers(db_path: Path) -> None:
    with Store.open(db_path):
        pass
    holder = sqlite3.connect(db_path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")  # another process stuck inside a write
    s = Store.open(db_path, busy_timeout_s=0.2, retries=2)  # opens: the lock proves nothing
    try:
        assert s.annotations_for("sig") == []  # readers are not blocked (WAL)
        started = time.monotonic()
        with pytest.raises(StoreError) as err:
            s.add_annotation("sig", "t::a", "staging", "alice", "bug", "x")
        assert time.monotonic() - started < 5
        assert err.value.kind == "locked"
        assert str(db_path) in str(err.value) and "locked" in str(err.value)
        with pytest.raises(StoreError):
            s.acquire_lease("staging", "alice", "x", 60)
        holder.execute("ROLLBACK")
        assert s.writable  # a lock is transient: writes were never disabled
        s.add_annotation("sig", "t::a", "staging", "alice", "bug", "x")
        assert len(s.annotations_for("sig")) == 1
    finally:
        s.close()
        holder.close()


def test_a_locked_database_that_needs_migrating_cannot_open(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("CREATE TABLE other (x)")
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(StoreError) as err:
            Store.open(path, busy_timeout_s=0.2, retries=1)
        assert err.value.kind == "locked" and str(path) in str(err.value)
    finally:
        holder.close()


def test_explicit_read_only_store_refuses_every_write(db_path: Path, clock: FakeClock) -> None:
    with Store.open(db_path, clock=clock) as s:
        s.add_annotation("sig", "t::a", "staging", "alice", "bug", "x")
    ro = Store.open(db_path, read_only=True, clock=clock)
    try:
        assert not ro.writable
        assert ro.problem is not None and ro.problem.kind == "read-only"
        assert [a.note for a in ro.annotations_for("sig")] == ["x"]
        writes: list[Callable[[], object]] = [
            lambda: ro.add_annotation("sig", "t::a", "staging", "alice", "bug", "y"),
            lambda: ro.acquire_lease("staging", "alice", "x", 60),
            lambda: ro.start_run("staging", "alice"),
            lambda: ro.heartbeat("staging", "alice", "box:1"),
        ]
        for write in writes:
            with pytest.raises(StoreError) as err:
                write()
            assert err.value.kind == "read-only" and str(db_path) in str(err.value)
    finally:
        ro.close()
    assert raw(db_path).execute("SELECT count(*) FROM leases").fetchone()[0] == 0
    with pytest.raises(StoreError) as missing:
        Store.open(db_path.with_name("absent.db"), read_only=True)
    assert missing.value.kind == "not-found"


def _unprivileged(fn: Callable[[], dict[str, Any]]) -> dict[str, Any]:
    """Run ``fn`` as a user that file permissions apply to.

    Tests run as root, where chmod stops nothing; a forked child that drops to
    ``nobody`` (with the modules already imported) meets real permission checks.
    """
    if os.geteuid() != 0:
        return fn()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        try:
            os.close(read)
            os.setgid(65534)
            os.setuid(65534)
            out = fn()
        except BaseException as exc:
            out = {"crash": repr(exc)}
        os.write(write, json.dumps(out).encode())
        os._exit(0)
    os.close(write)
    chunks = []
    while chunk := os.read(read, 65536):
        chunks.append(chunk)
    os.close(read)
    os.waitpid(pid, 0)
    result: dict[str, Any] = json.loads(b"".join(chunks))
    assert "crash" not in result, result["crash"]
    return result


@pytest.fixture
def shared_dir() -> Iterator[Path]:
    """A directory outside pytest's root-only tmp tree, so `nobody` can reach it."""
    path = Path(tempfile.mkdtemp(prefix="stagedeck-ro-"))
    os.chmod(path, 0o755)
    yield path
    os.chmod(path, 0o755)
    shutil.rmtree(path, ignore_errors=True)


def test_a_file_without_write_permission_opens_read_only(shared_dir: Path) -> None:
    path = shared_dir / "stagedeck.db"
    with Store.open(path) as s:
        s.add_annotation("sig", "t::a", "staging", "alice", "bug", "x")
    path.chmod(0o444)
    shared_dir.chmod(0o777)  # the directory is writable: SQLite can create -wal/-shm

    def attempt() -> dict[str, Any]:
        s = Store.open(path)
        out: dict[str, Any] = {
            "writable": s.writable,
            "problem": str(s.problem),
            "kind": s.problem and s.problem.kind,
            "notes": [a.note for a in s.annotations_for("sig")],
        }
        try:
            s.acquire_lease("staging", "bob", "x", 60)
            out["lease"] = "granted"
        except StoreError as exc:
            out["lease"] = exc.kind
        try:
            s.add_annotation("sig", "t::a", "staging", "bob", "bug", "y")
            out["annotate"] = "ok"
        except StoreError as exc:
            out["annotate"] = str(exc)
        s.close()
        return out

    out = _unprivileged(attempt)
    assert out["writable"] is False and out["kind"] == "read-only"
    assert out["problem"].startswith(f"database {path} is read-only")
    assert "--db" in out["problem"]
    assert out["notes"] == ["x"]
    assert out["lease"] == "read-only"
    assert str(path) in out["annotate"]
    assert raw(path).execute("SELECT count(*) FROM leases").fetchone()[0] == 0


def test_an_unwritable_directory_is_explained(shared_dir: Path) -> None:
    path = shared_dir / "stagedeck.db"
    with Store.open(path):
        pass
    path.chmod(0o444)
    shared_dir.chmod(0o555)  # no -wal/-shm can be made next to the file

    def attempt() -> dict[str, Any]:
        try:
            Store.open(path)
        except StoreError as exc:
            return {"kind": exc.kind, "message": str(exc)}
        return {"kind": "opened"}

    out = _unprivileged(attempt)
    assert out["kind"] == "read-only"
    assert str(path) in out["message"] and str(shared_dir) in out["message"]
