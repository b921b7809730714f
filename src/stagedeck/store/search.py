"""Full-text search over failures, and the failures view people query the file with.

``test_results_fts`` is an SQLite FTS5 index of each result's test id, message
and traceback. It is an *external content* table (the text stays in
``test_results``; the index holds tokens) kept current by three triggers, and
it is named and built exactly as ``sqlite-utils enable-fts --create-triggers``
builds one, so ``sqlite-utils search shared.db test_results timeout`` and
Datasette's search box work on the file with no setup.

A user's search text is never handed to FTS5 as query syntax: request ids and
JSON bodies are full of characters FTS5 reads as operators (``rid=ab-12``,
``"status":503``). :func:`match_expression` turns each word, or each
``"quoted phrase"``, into an FTS5 phrase, all of which must match; a trailing
``*`` keeps its meaning (prefix). So ``timeout rid=ab-12`` finds messages with
the word *timeout* and the tokens *rid ab 12* next to each other.

Where this SQLite has no FTS5 (rare: every CPython build we know has it), the
migration leaves the index out and searching falls back to ``LIKE``.
"""

from __future__ import annotations

import sqlite3
from typing import TYPE_CHECKING, Final

from stagedeck.store.connection import Connection
from stagedeck.store.records import Failure

if TYPE_CHECKING:
    from sqlite_utils import Database

FTS_TABLE: Final = "test_results_fts"
FTS_COLUMNS: Final = ("test_id", "message", "traceback")
OVERVIEW_VIEW: Final = "failure_overview"
SEARCH_LIMIT: Final = 50
"""Matches returned by default: newest first, enough to see a pattern at a glance."""
QUERY_CHARS: Final = 500
"""A search longer than this is cut: nobody types more, and FTS5 work grows with it."""


def fts5_available(conn: sqlite3.Connection) -> bool:
    try:
        return bool(conn.execute("SELECT sqlite_compileoption_used('ENABLE_FTS5')").fetchone()[0])
    except sqlite3.Error:
        return False


def has_fts(conn: sqlite3.Connection) -> bool:
    row = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (FTS_TABLE,)
    ).fetchone()
    return row is not None


def create_fts(conn: sqlite3.Connection) -> bool:
    """Create, fill and wire up the index inside the caller's transaction (no commit).

    Statement by statement, not ``executescript`` (which commits): a migration
    must stay one transaction. False when this SQLite has no FTS5.
    """
    if not fts5_available(conn) or has_fts(conn):
        return has_fts(conn)
    cols = ", ".join(f"[{c}]" for c in FTS_COLUMNS)
    old = ", ".join(f"old.[{c}]" for c in FTS_COLUMNS)
    new = ", ".join(f"new.[{c}]" for c in FTS_COLUMNS)
    fts = f"[{FTS_TABLE}]"
    conn.execute(
        f"CREATE VIRTUAL TABLE {fts} USING FTS5 (\n    {cols},\n    content=[test_results]\n)"
    )
    conn.execute(f"INSERT INTO {fts} (rowid, {cols}) SELECT rowid, {cols} FROM [test_results]")
    conn.execute(
        f"CREATE TRIGGER [test_results_ai] AFTER INSERT ON [test_results] BEGIN\n"
        f"  INSERT INTO {fts} (rowid, {cols}) VALUES (new.rowid, {new});\nEND"
    )
    conn.execute(
        f"CREATE TRIGGER [test_results_ad] AFTER DELETE ON [test_results] BEGIN\n"
        f"  INSERT INTO {fts} ({fts}, rowid, {cols}) VALUES('delete', old.rowid, {old});\nEND"
    )
    conn.execute(
        f"CREATE TRIGGER [test_results_au] AFTER UPDATE ON [test_results] BEGIN\n"
        f"  INSERT INTO {fts} ({fts}, rowid, {cols}) VALUES('delete', old.rowid, {old});\n"
        f"  INSERT INTO {fts} (rowid, {cols}) VALUES (new.rowid, {new});\nEND"
    )
    return True


def create_failure_overview(conn: sqlite3.Connection) -> None:
    """One row per failed or errored test: run, suite, message, notes (JSON), top suspect."""
    conn.execute(f"""
        CREATE VIEW IF NOT EXISTS {OVERVIEW_VIEW} AS
        SELECT
            t.id AS result_id,
            r.id AS run_id,
            r.environment AS environment,
            r.started AS run_started,
            r.user AS run_by,
            s.suite AS suite,
            t.test_id AS test_id,
            t.outcome AS outcome,
            t.message AS message,
            t.signature AS signature,
            t.started AS started,
            t.duration AS duration,
            (SELECT count(*) FROM annotations a
              WHERE a.signature = t.signature AND a.deleted = 0) AS note_count,
            (SELECT json_group_array(json_object(
                        'id', n.id, 'author', n.author, 'tag', n.tag, 'note', n.note,
                        'link', n.link, 'updated', coalesce(n.updated, n.created)))
               FROM (SELECT * FROM annotations a
                      WHERE a.signature = t.signature AND a.deleted = 0 ORDER BY a.id) n
            ) AS notes,
            fs.kind AS suspect_kind,
            fs.name AS suspect,
            fs.score AS suspect_score,
            fs.fault AS suspect_fault,
            fs.verdict AS suspect_verdict
        FROM test_results t
        JOIN suite_runs s ON s.id = t.suite_run_id
        JOIN runs r ON r.id = s.run_id
        LEFT JOIN failure_suspects fs ON fs.test_result_id = t.id AND fs.rank = 0
        WHERE t.outcome IN ('failed', 'error')
    """)


def search_terms(text: str) -> list[str]:
    """Words and ``"quoted phrases"`` of a search, in order (an unclosed quote runs to the end)."""
    terms: list[str] = []
    text = text[:QUERY_CHARS]
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
        elif text[i] == '"':
            end = text.find('"', i + 1)
            end = len(text) if end < 0 else end
            phrase = text[i + 1 : end].strip()
            if phrase:
                terms.append(phrase)
            i = end + 1
        else:
            j = i
            while j < len(text) and not text[j].isspace():
                j += 1
            terms.append(text[i:j])
            i = j
    return terms


def match_expression(text: str) -> str:
    """The user's search as a safe FTS5 query: every term a quoted phrase, all required."""
    parts = []
    for term in search_terms(text):
        prefix = term.endswith("*") and len(term) > 1
        body = term.rstrip("*") if prefix else term
        if not any(ch.isalnum() for ch in body):
            continue  # punctuation alone has no tokens: it would match nothing (or error)
        parts.append('"' + body.replace('"', '""') + '"' + ("*" if prefix else ""))
    return " ".join(parts)


class FailureSearch(Connection):
    """``failures --grep`` and the cockpit's failure search: FTS5, newest first."""

    def search_failures(
        self,
        env: str,
        text: str,
        *,
        run_id: int | None = None,
        limit: int = SEARCH_LIMIT,
    ) -> list[Failure]:
        """Failed and errored tests of ``env`` (or of one run) whose test id, message or
        traceback hold every term of ``text``; newest first, at most ``limit``."""
        from stagedeck.store.runs import _result

        match = match_expression(text)
        if not match:
            return []

        def q(db: Database) -> list[Failure]:
            scope = "r.environment = ? AND t.outcome IN ('failed', 'error')"
            params: list[object] = [env]
            if run_id is not None:
                scope += " AND r.id = ?"
                params.append(run_id)
            head = (
                "SELECT t.*, s.suite AS _suite, s.run_id AS _run_id FROM test_results t "
                "JOIN suite_runs s ON s.id = t.suite_run_id JOIN runs r ON r.id = s.run_id "
            )
            if has_fts(db.conn):
                sql = (
                    f"{head}WHERE t.id IN (SELECT rowid FROM {FTS_TABLE} "
                    f"WHERE {FTS_TABLE} MATCH ?) AND {scope} ORDER BY t.id DESC LIMIT ?"
                )
                rows = db.query(sql, [match, *params, limit])
            else:
                likes = []
                for term in search_terms(text):
                    likes.append(
                        "(t.test_id LIKE ? ESCAPE '\\' OR t.message LIKE ? ESCAPE '\\' "
                        "OR t.traceback LIKE ? ESCAPE '\\')"
                    )
                    pattern = "%" + _like_escape(term.rstrip("*") or term) + "%"
                    params.extend([pattern, pattern, pattern])
                sql = f"{head}WHERE {scope} AND {' AND '.join(likes)} ORDER BY t.id DESC LIMIT ?"
                rows = db.query(sql, [*params, limit])
            return [Failure(int(r.pop("_run_id")), str(r.pop("_suite")), _result(r)) for r in rows]

        return self._read(q)


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
