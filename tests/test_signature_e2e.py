"""End to end: payments fails every request in two runs; run 1's annotation shows on run 2.

Each run is a fresh demo on new ports (new request ids, order ids, timestamps),
seeded, broken through its chaos endpoint, and tested with the real
``stagedeck run``; both runs go to one SQLite file, and everything is read back
with ``stagedeck failures --json`` and written with ``stagedeck annotate``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.faultruns import run_once, stagedeck

pytestmark = pytest.mark.slow


def test_the_same_fault_in_two_runs_keeps_its_signatures_and_notes(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    first = run_once(tmp_path / "run1", db, "errors", "payments")
    assert len(first) >= 5, "payments failing every request must break the checkout tests"
    assert any("payments unavailable: HTTP 500" in f.message for f in first)
    noted = first[0]
    done = stagedeck(
        "annotate", "--env", "demo", "--db", str(db), "--test", noted.test_id,
        "--tag", "known", "--note", "payments chaos: error_rate=1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    second = run_once(tmp_path / "run2", db, "errors", "payments")
    before = {f.test_id: f for f in first}
    both = [f for f in second if f.test_id in before]
    assert len(both) >= 0.9 * len(first)
    same = [f for f in both if f.signature == before[f.test_id].signature]
    assert len(same) >= 0.95 * len(both), [
        (f.test_id, f.message[:200], before[f.test_id].message[:200]) for f in both if f not in same
    ]
    # The messages really differed: request ids and timestamps are per run.
    assert sum(f.message != before[f.test_id].message for f in both) >= len(both) // 2
    again = next(f for f in second if f.test_id == noted.test_id)
    assert [a["note"] for a in again.annotations] == ["payments chaos: error_rate=1"]
    assert again.seen == 2
