"""A store written with v1 signatures keeps its annotations after the v2 migration.

The files are real SQLite files at schema 1 (made by the real migration 1 with
the later migrations held back), holding signatures exactly as stagedeck v1
stored them (computed by the frozen v1 algorithm in ``support/signature_v1.py``).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from stagedeck.store import Store, TestResult
from stagedeck.store import connection as store_connection
from stagedeck.store.migrations import MIGRATIONS
from stagedeck.store.resign import resign_all
from stagedeck.store.signature import failure_signature
from support import signature_v1

CORPUS = Path(__file__).parent / "data" / "failure_corpus.json"


@pytest.fixture
def v1_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """Open a file as stagedeck v1 did (schema 1) while the fixture is active."""
    monkeypatch.setattr(store_connection, "MIGRATIONS", MIGRATIONS[:1])
    monkeypatch.setattr(store_connection, "SCHEMA_VERSION", 1)
    yield tmp_path / "v1.db"


def record(store: Store, results: list[TestResult], env: str = "demo") -> int:
    run_id = store.start_run(env, "ci")
    suite_run = store.start_suite_run(run_id, "flows")
    store.add_test_results(suite_run, results)
    store.finish_run(run_id, "failed")
    return run_id


def open_current(path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.undo()
    return Store.open(path)


def test_notes_follow_their_failures_to_v2_signatures(
    v1_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two runs whose messages differ only by request ids: v1 split them, v2 joins them."""
    one = 'AssertionError: {"rid": "t478bdbbc3", "error": "payments unavailable"}'
    two = 'AssertionError: {"rid": "t9f6e97500", "error": "payments unavailable"}'
    with Store.open(v1_file) as v1:
        assert v1.schema_version() == 1
        record(v1, [TestResult("t::checkout", "failed", message=one, signature="v1-one")])
        record(v1, [TestResult("t::checkout", "failed", message=two, signature="v1-two")])
        kept = v1.add_annotation("v1-one", "t::checkout", "demo", "alice", "known", "payments")
        gone = v1.add_annotation("v1-two", "t::checkout", "demo", "bob", "bug", "deleted note")
        v1.delete_annotation(gone, "bob")
        v1.add_annotation("typed-by-hand", "t::other", "demo", "carol", "flaky", "no results")
    with open_current(v1_file, monkeypatch) as store:
        new = failure_signature("t::checkout", one)
        assert new == failure_signature("t::checkout", two)
        (failure,) = store.failures("demo")
        assert failure.result.signature == new
        assert [a.id for a in store.annotations_for(new)] == [kept]
        assert store.signature_stats(new).count == 2
        # A deleted note moves too (still deleted); one with no results stays put.
        con = sqlite3.connect(v1_file)
        rows = con.execute("SELECT signature, deleted FROM annotations ORDER BY id").fetchall()
        assert rows == [(new, 0), (new, 1), ("typed-by-hand", 0)]


def test_a_v1_signature_that_splits_gives_its_note_to_each_part(
    v1_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """v1 masked the status in ``"status": 503``; v2 keeps it, so one v1 failure is two."""
    a = 'upstream said {"status": 503, "error": "busy"}'
    b = 'upstream said {"status": 404, "error": "busy"}'
    with Store.open(v1_file) as v1:
        record(v1, [TestResult("t::x", "failed", message=a, signature="v1-both")])
        record(v1, [TestResult("t::x", "failed", message=a, signature="v1-both")])
        record(v1, [TestResult("t::x", "error", message=b, signature="v1-both")])
        v1.add_annotation("v1-both", "t::x", "demo", "alice", "infra", "the proxy", "http://x")
    with open_current(v1_file, monkeypatch) as store:
        sig_a, sig_b = failure_signature("t::x", a), failure_signature("t::x", b)
        assert sig_a != sig_b
        for sig in (sig_a, sig_b):
            (note,) = store.annotations_for(sig)
            assert (note.author, note.tag, note.note, note.link) == (
                "alice",
                "infra",
                "the proxy",
                "http://x",
            )
        # The original row stays with the commoner part.
        assert store.annotations_for(sig_a)[0].id < store.annotations_for(sig_b)[0].id


def test_recomputing_a_stored_row_is_exact_for_huge_messages_and_tracebacks(
    tmp_path: Path,
) -> None:
    """The store cuts messages and tracebacks; the signature only reads what it keeps."""
    message = '{"rid": "t478bdbbc3", "pad": "' + "x" * 6000 + '"} HTTP 502'
    traceback = ">       assert response.status_code == 201\n" + "E   " + "y" * 9000 + "\n"
    with Store.open(tmp_path / "db") as store:
        record(store, [TestResult("t::big", "failed", message=message, traceback=traceback)])
        (failure,) = store.failures("demo")
        stored = failure.result
        assert len(stored.message) < len(message) and len(stored.traceback) < len(traceback)
        assert stored.signature == failure_signature("t::big", message, traceback)
        assert stored.signature == failure_signature(
            stored.test_id, stored.message, stored.traceback
        )
        assert store._write(resign_all) == (0, 0)


def _corpus() -> list[dict[str, Any]]:
    """The captured fault runs, each failure with the signature v1 gave it."""
    cases: list[dict[str, Any]] = json.loads(CORPUS.read_text())["cases"]
    for case in cases:
        for run in case["runs"]:
            for f in run:
                f["v1_signature"] = signature_v1.failure_signature(f["test_id"], f["message"])
    return cases


def test_the_captured_fault_runs_keep_their_notes_through_the_migration(
    v1_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every captured case: run 1 and run 2 stored with their real v1 signatures, run 1
    annotated; after migrating, run 2's failures show run 1's notes."""
    corpus = _corpus()
    v1_shown = 0
    with Store.open(v1_file) as v1:
        for case in corpus:
            env = f"{case['fault']}-{case['service']}-{case['capture']}"
            first, second = case["runs"]
            for run in (first, second):
                results = [
                    TestResult(
                        f["test_id"],
                        "failed",
                        message=f["message"],
                        traceback=f["traceback"],
                        signature=f["v1_signature"],
                    )
                    for f in run
                ]
                record(v1, results, env)
            for sig in dict.fromkeys(f["v1_signature"] for f in first):
                test = next(f["test_id"] for f in first if f["v1_signature"] == sig)
                v1.add_annotation(sig, test, env, "alice", "known", env)
            # What v1 showed: run 2's failures that found run 1's note.
            first_tests = {f["test_id"] for f in first}
            v1_shown += sum(
                any(a.note == env for a in v1.annotations_for(f["v1_signature"]))
                for f in second
                if f["test_id"] in first_tests
            )
    with open_current(v1_file, monkeypatch) as store:
        both = same = shown = expected = 0
        for case in corpus:
            env = f"{case['fault']}-{case['service']}-{case['capture']}"
            before = {f["test_id"]: f for f in case["runs"][0]}
            (last,) = store.runs(env, limit=1)
            for failure in store.failures(env, last.id):
                result = failure.result
                if result.test_id not in before:
                    continue
                both += case["fault"] != "errors50"  # which step fails is random there
                old = before[result.test_id]
                if result.signature != failure_signature(
                    old["test_id"], old["message"], old["traceback"]
                ):
                    continue  # the test saw something else this time (see the corpus test)
                same += case["fault"] != "errors50"
                expected += 1
                shown += any(a.note == env for a in store.annotations_for(result.signature or ""))
    assert both > 150
    assert same >= 0.95 * both
    assert shown == expected, f"{shown}/{expected} of run 2's failures show run 1's note"
    assert v1_shown < 0.8 * both, "the corpus should hold the problem v1 had"
