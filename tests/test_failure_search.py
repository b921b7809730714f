"""Full-text search over failures and the failure_overview view, on real SQLite files.

The messages are the kind suites really produce: request ids, timestamps, JSON
bodies, tracebacks; names carry odd characters. The file is also read the way an
outside tool reads it (plain sqlite3, ``sqlite-utils search``), not only through
our own code.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

import stagedeck.store.connection as connection
import stagedeck.store.migrations as migrations
from stagedeck.store import SCHEMA_VERSION, Store, TestResult
from stagedeck.store.search import FTS_TABLE, match_expression, search_terms

TIMEOUT = (
    "httpx.ReadTimeout: GET http://payments:8081/v1/charge timed out after 5.0s "
    "rid=9f1c2e7a-41b0-4c55-9d1e-0b7f3c2a9e10 at 2026-12-01T03:12:44.812Z"
)
BODY_503 = (
    'AssertionError: expected 201, got 503: {"error": "payments unavailable", '
    '"request_id": "req_7Hk2pQ", "retry_after": 30}'
)
REFUSED = "ConnectionRefusedError: [Errno 111] Connection refused (inventory:5432)"
TRACEBACK = (
    'Traceback (most recent call last):\n  File "tests/flows/test_checkout.py", line 42, in '
    "test_checkout\n    r = client.post('/orders', json=order)\nhttpx.ReadTimeout: timed out"
)


def record(store: Store, env: str = "shop ü/[prod]") -> tuple[int, int]:
    """Two runs of a shop: run 1 times out once; run 2 times out again, plus a 503."""
    first = store.start_run(env, "alice")
    s1 = store.start_suite_run(first, "flows")
    store.add_test_results(
        s1,
        [
            TestResult(
                "tests/flows/test_checkout.py::test_checkout[eur-€]",
                "failed",
                message=TIMEOUT,
                traceback=TRACEBACK,
            ),
            TestResult("tests/flows/test_cart.py::test_add", "passed"),
        ],
    )
    store.finish_run(first, "failed")
    second = store.start_run(env, "bob")
    s2 = store.start_suite_run(second, "flows")
    store.add_test_results(
        s2,
        [
            TestResult(
                "tests/flows/test_checkout.py::test_checkout[eur-€]",
                "failed",
                message=TIMEOUT.replace("9f1c2e7a", "0d0d0d0d"),
                traceback=TRACEBACK,
            ),
            TestResult("tests/flows/test_pay.py::test_refund", "failed", message=BODY_503),
            TestResult("tests/flows/test_stock.py::test_reserve", "error", message=REFUSED),
        ],
    )
    store.finish_run(second, "failed")
    return first, second


def test_search_finds_words_ids_and_json_without_fts_syntax_errors(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "shared.db")
    first, second = record(store)
    env = "shop ü/[prod]"
    hits = store.search_failures(env, "timed out")
    assert [(f.run_id, f.result.test_id.rpartition("::")[2]) for f in hits] == [
        (second, "test_checkout[eur-€]"),
        (first, "test_checkout[eur-€]"),
    ]  # newest first, across runs
    # A request id full of FTS operators (- and =), a JSON fragment, an unclosed quote.
    (hit,) = store.search_failures(env, "rid=9f1c2e7a-41b0")
    assert hit.run_id == first
    (hit,) = store.search_failures(env, '"request_id": "req_7Hk2pQ"')
    assert hit.result.test_id.endswith("test_refund")
    assert [f.result.outcome for f in store.search_failures(env, '"connection refused')] == [
        "error"
    ]
    # Every term must match; a prefix keeps its star; scoped to one run.
    assert store.search_failures(env, "timed refund") == []
    assert len(store.search_failures(env, "unavail*")) == 1
    assert len(store.search_failures(env, "timed", run_id=first)) == 1
    # The traceback and the test id are searched too; passed tests never come back.
    assert len(store.search_failures(env, "client.post")) == 2
    assert store.search_failures(env, "test_add") == []
    # Nothing searchable: nothing found (not every failure, not an error).
    for empty in ("", "   ", '""', "*", "-", "AND", "(", 'NEAR("'):
        hits = store.search_failures(env, empty)
        assert all(h.result.outcome in ("failed", "error") for h in hits), empty
    assert store.search_failures(env, "-") == [] and store.search_failures(env, "") == []
    # Other environments are not searched.
    assert store.search_failures("other", "timed") == []


def test_the_index_follows_inserts_updates_and_deletes(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    store = Store.open(path)
    first, _ = record(store)
    raw = sqlite3.connect(path)
    with raw:
        raw.execute(
            "UPDATE test_results SET message = 'OOMKilled: container payments exceeded 512Mi' "
            "WHERE message LIKE '%9f1c2e7a%'"
        )
    env = "shop ü/[prod]"
    assert [f.run_id for f in store.search_failures(env, "OOMKilled")] == [first]
    assert store.search_failures(env, "9f1c2e7a") == []  # the old message is out of the index
    with raw:
        raw.execute("DELETE FROM test_results WHERE message LIKE 'OOMKilled%'")
    assert store.search_failures(env, "OOMKilled") == []
    # The index agrees with its content table (FTS5's own check).
    with raw:
        raw.execute(f"INSERT INTO {FTS_TABLE}({FTS_TABLE}) VALUES ('integrity-check')")
    raw.close()


def test_an_old_file_is_migrated_and_indexed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A file written by the previous schema gets the index of what it already holds."""
    path = tmp_path / "old.db"
    with monkeypatch.context() as m:
        m.setattr(migrations, "SCHEMA_VERSION", 4)
        m.setattr(connection, "SCHEMA_VERSION", 4)
        m.setattr(connection, "MIGRATIONS", migrations.MIGRATIONS[:4])
        old = Store.open(path)
        assert old.schema_version() == 4
        record(old)
        old.close()
    assert sqlite3.connect(path).execute(
        "SELECT count(*) FROM sqlite_master WHERE name = ?", (FTS_TABLE,)
    ).fetchone() == (0,)
    store = Store.open(path)
    assert store.schema_version() == SCHEMA_VERSION == 5
    assert len(store.search_failures("shop ü/[prod]", "timed out")) == 2


def test_failure_overview_holds_notes_and_the_top_suspect(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"
    store = Store.open(path)
    _, second = record(store)
    refund = next(
        f for f in store.failures("shop ü/[prod]", second) if f.result.test_id.endswith("refund")
    )
    sig = refund.result.signature
    assert sig
    store.add_annotation(
        sig,
        refund.result.test_id,
        "shop ü/[prod]",
        "carol",
        "infra",
        "payments pod OOM at 03:12, see INC-4411 [red]",
        "https://x/INC-4411",
    )
    gone = store.add_annotation(
        sig, refund.result.test_id, "shop ü/[prod]", "dave", "flaky", "retry?", None
    )
    store.delete_annotation(gone, "dave")
    assert refund.result.id is not None
    store.add_failure_suspects(
        refund.result.id,
        [
            {
                "kind": "service",
                "name": "payments",
                "score": 0.91,
                "fault": "hang",
                "verdict": "payments stopped answering 40 s before the test",
                "evidence": [],
            },
            {
                "kind": "service",
                "name": "db",
                "score": 0.2,
                "fault": "slow",
                "verdict": "-",
                "evidence": [],
            },
        ],
    )
    con = sqlite3.connect(path)
    con.row_factory = sqlite3.Row
    rows = {r["test_id"]: r for r in con.execute("SELECT * FROM failure_overview")}
    assert len(rows) == 3  # failures of the second run (the first run's is the same test id)
    row = rows[refund.result.test_id]
    assert (row["run_id"], row["suite"], row["outcome"], row["note_count"]) == (
        second,
        "flows",
        "failed",
        1,
    )
    notes = json.loads(row["notes"])
    assert [(n["author"], n["tag"]) for n in notes] == [("carol", "infra")]
    assert notes[0]["note"].endswith("[red]") and notes[0]["link"] == "https://x/INC-4411"
    assert (row["suspect"], row["suspect_fault"], row["suspect_score"]) == (
        "payments",
        "hang",
        0.91,
    )
    stock = rows["tests/flows/test_stock.py::test_reserve"]
    assert stock["note_count"] == 0 and json.loads(stock["notes"]) == []
    assert stock["suspect"] is None


@pytest.mark.skipif(
    shutil.which("sqlite-utils") is None
    and not Path(sys.executable).with_name("sqlite-utils").exists(),
    reason="sqlite-utils command not installed",
)
def test_sqlite_utils_search_works_on_the_file(tmp_path: Path) -> None:
    """What docs/database.md promises someone with only the sqlite-utils command."""
    path = tmp_path / "shared.db"
    store = Store.open(path)
    record(store)
    store.close()
    exe = shutil.which("sqlite-utils") or str(Path(sys.executable).with_name("sqlite-utils"))
    done = subprocess.run(
        [exe, "search", str(path), "test_results", "connection refused", "-c", "test_id"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [{"test_id": "tests/flows/test_stock.py::test_reserve"}]


def test_search_terms_and_match_expression() -> None:
    assert search_terms('a "b c" d') == ["a", "b c", "d"]
    assert search_terms('x "unclosed phrase') == ["x", "unclosed phrase"]
    assert match_expression('rid=ab-12 "say ""hi"""') == '"rid=ab-12" "say" "hi"'
    assert match_expression("time* *") == '"time"*'
    assert match_expression('it\'s "quoted"') == '"it\'s" "quoted"'
    assert match_expression("NEAR OR AND") == '"NEAR" "OR" "AND"'
