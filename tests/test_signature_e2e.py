"""End to end: payments fails every request in two runs; run 1's annotation shows on run 2.

Each run is a fresh demo on new ports (new request ids, order ids, timestamps),
seeded, broken through its chaos endpoint, and tested with the real
``stagedeck run``; both runs go to one SQLite file, and everything is read back
with ``stagedeck failures --json`` and written with ``stagedeck annotate``.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from support.faultruns import Failure, evidence, run_once, stagedeck

pytestmark = pytest.mark.slow


def seen(f: Failure) -> tuple[object, ...]:
    return evidence({"message": f.message, "traceback": f.traceback})


def test_the_same_fault_in_two_runs_keeps_its_signatures_and_notes(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    first = run_once(tmp_path / "run1", db, "errors", "payments")
    assert len(first) >= 5, "payments failing every request must break the checkout tests"
    noted = next(f for f in first if "payments unavailable: HTTP 500" in f.message)
    done = stagedeck(
        "annotate", "--env", "demo", "--db", str(db), "--test", noted.test_id,
        "--tag", "known", "--note", "payments chaos: error_rate=1",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr

    second = run_once(tmp_path / "run2", db, "errors", "payments")
    before = {f.test_id: f for f in first}
    both = [f for f in second if f.test_id in before]
    assert len(both) >= 0.9 * len(first)
    # A test that saw something else this time is a different failure: under load,
    # test_concurrent_orders_never_oversell's ten racing orders may report a 409 or a
    # 502 first. Everything whose raw output tells the same story must match.
    # That test's list of statuses also comes back in a different order and mix from run
    # to run ([409, 502, 502, ...] vs [502, 409, ...]): its signature follows the mix, a
    # known limit named in issue 12's note, so it is left out of the strict comparison.
    told = [
        f
        for f in both
        if seen(f) == seen(before[f.test_id]) and not f.test_id.endswith("never_oversell")
    ]
    assert len(told) >= 0.85 * len(both)
    assert [f for f in told if f.signature != before[f.test_id].signature] == []
    # The messages really differed: request ids and timestamps are per run.
    assert sum(f.message != before[f.test_id].message for f in both) >= len(both) // 2
    again = next(f for f in second if f.test_id == noted.test_id)
    assert [a["note"] for a in again.annotations] == ["payments chaos: error_rate=1"]
    assert again.seen == 2
