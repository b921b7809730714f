"""A failure's ranking in the shared store: kept as ranked, bounded, migrated into old files."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import stagedeck.store.connection as connection
import stagedeck.store.migrations as migrations
from stagedeck.store import SCHEMA_VERSION, SUSPECT_CHARS, Store, TestResult
from stagedeck.triage import rank_environment, ranking_from_rows
from triage_histories import Recorder, healthy_minutes


def ranked_rows() -> list[dict[str, object]]:
    rec = Recorder()
    healthy_minutes(rec, 1.0, traffic=1)
    for _ in range(3):
        rec.tick(faults={"payments": "hang"}, traffic=3)
    return [s.to_dict() for s in rank_environment(rec.history()).suspects]


def a_failure(store: Store) -> int:
    run = store.start_run("demo", "alice")
    suite = store.start_suite_run(run, "flows")
    (rid,) = store.add_test_results(
        suite, [TestResult("t::checkout", "failed", message='{"error": "payments unavailable"}')]
    )
    return rid


def test_the_ranking_is_kept_as_it_was_made(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.sqlite")
    rid = a_failure(store)
    rows = ranked_rows()
    assert store.add_failure_suspects(rid, rows) == min(5, len(rows))
    back = ranking_from_rows(store.failure_suspects(rid))
    assert [s.name for s in back.suspects] == [r["name"] for r in rows][:5]
    assert back.top is not None and back.top.verdict == rows[0]["verdict"]
    assert back.top.evidence[0].text == rows[0]["evidence"][0]["text"]  # type: ignore[index]
    # Stored again (a re-run of the recording): replaced, not doubled.
    store.add_failure_suspects(rid, rows[:1])
    assert len(store.failure_suspects(rid)) == 1


def test_a_huge_suspect_is_cut_to_fit(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.sqlite")
    rid = a_failure(store)
    row = dict(ranked_rows()[0])
    row["evidence"] = [{"kind": "log", "text": "x" * 3000, "at": 1.0}] * 10
    store.add_failure_suspects(rid, [row])
    (back,) = store.failure_suspects(rid)
    assert back["name"] == "payments"
    assert len(back["evidence"]) < 10
    raw = sqlite3.connect(tmp_path / "db.sqlite").execute("SELECT data FROM failure_suspects")
    assert all(len(r[0]) <= SUSPECT_CHARS for r in raw)


def test_a_damaged_row_still_reads(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "db.sqlite")
    rid = a_failure(store)
    store.add_failure_suspects(rid, ranked_rows()[:1])
    con = sqlite3.connect(tmp_path / "db.sqlite")
    con.execute("UPDATE failure_suspects SET data = '{broken'")
    con.commit()
    (back,) = store.failure_suspects(rid)
    assert back["name"] == "payments" and back["verdict"]


def test_a_file_from_before_triage_is_migrated_on_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "old.sqlite"
    with monkeypatch.context() as m:
        m.setattr(migrations, "MIGRATIONS", migrations.MIGRATIONS[:1])
        m.setattr(migrations, "SCHEMA_VERSION", 1)
        m.setattr(connection, "MIGRATIONS", migrations.MIGRATIONS[:1], raising=False)
        m.setattr(connection, "SCHEMA_VERSION", 1, raising=False)
        with Store.open(path) as old:
            assert old.schema_version() == 1
            rid = a_failure(old)
    tables = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert "failure_suspects" not in tables
    with Store.open(path) as store:
        assert store.schema_version() == SCHEMA_VERSION >= 2
        assert store.failure_suspects(rid) == []  # recorded before triage: nothing ranked
        store.add_failure_suspects(rid, ranked_rows())
        assert store.failures("demo")[0].result.message == '{"error": "payments unavailable"}'
