"""Recompute stored failure signatures when the algorithm changes, annotations included.

Annotations, "seen N times" and stored suspects key on the signature text. A new
signature algorithm (see :data:`stagedeck.store.signature.SIGNATURE_VERSION`) would
silently orphan every note made so far, so a store migration calls
:func:`resign_all`: every failed or errored result gets the signature the current
algorithm gives its stored test id, message and traceback (the store keeps enough
of both for the result to be exact), and every annotation follows its failure to
the new signature.

An old signature usually maps to one new one (the new algorithm masks more, so
old signatures merge). When one old signature splits into several (the new
algorithm tells apart what the old one merged), the annotation is copied to each,
because it was said about all of those failures: an annotation is never dropped.
An annotation whose signature matches no stored result (typed by hand, or its
results pruned) is left as it is.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING

from stagedeck.store.signature import failing_line, failure_signature

if TYPE_CHECKING:
    from sqlite_utils import Database

_BATCH = 500


def resign_all(db: Database) -> tuple[int, int]:
    """Recompute signatures inside the caller's transaction; (results changed, notes moved)."""
    conn = db.conn
    moved: defaultdict[str, Counter[str]] = defaultdict(Counter)
    updates: list[tuple[str, int]] = []
    cursor = conn.execute(
        "SELECT id, test_id, message, traceback, signature FROM test_results "
        "WHERE outcome IN ('failed', 'error')"
    )
    known: dict[tuple[str, str, str], str] = {}
    while rows := cursor.fetchmany(_BATCH):
        for row_id, test_id, message, traceback, old in rows:
            # The same failure recurs word for word more often than not: sign it once.
            key = (test_id, message or "", failing_line(traceback or ""))
            new = known.get(key) or known.setdefault(
                key, failure_signature(test_id, message or "", traceback or "")
            )
            if old:
                moved[old][new] += 1
            if new != old:
                updates.append((new, row_id))
    conn.executemany("UPDATE test_results SET signature = ? WHERE id = ?", updates)

    columns = [r[1] for r in conn.execute("PRAGMA table_info(annotations)")]
    notes = conn.execute("SELECT * FROM annotations ORDER BY id").fetchall()
    carried = 0
    for note in notes:
        row = dict(zip(columns, note, strict=True))
        targets = moved.get(row["signature"])
        if not targets or set(targets) == {row["signature"]}:
            continue
        first, *others = [sig for sig, _ in targets.most_common()]
        conn.execute("UPDATE annotations SET signature = ? WHERE id = ?", (first, row["id"]))
        for sig in others:
            copy = {k: v for k, v in row.items() if k != "id"} | {"signature": sig}
            names = ", ".join(copy)
            marks = ", ".join("?" for _ in copy)
            conn.execute(f"INSERT INTO annotations ({names}) VALUES ({marks})", list(copy.values()))
        carried += 1
    if updates or carried:
        for topic in ("runs", "annotations"):
            conn.execute(
                "INSERT INTO changes (topic, version) VALUES (?, 1) "
                "ON CONFLICT (topic) DO UPDATE SET version = version + 1",
                (topic,),
            )
    return len(updates), carried
