"""What a run's window showed, the gate verdicts on runs, and scenario results.

Each is stored as one JSON document (see migration 3): the gate and scenario
code owns the shape, the store only keeps it, bounded, and says which run it
belongs to.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from sqlite_utils import Database

from stagedeck.store.connection import Connection, _insert
from stagedeck.store.records import from_iso, iso

DOCUMENT_CHARS: Final = 200_000
"""One stored document at most; a bigger one is refused (it would be a bug, not a run)."""


def _dump(data: Mapping[str, Any]) -> str:
    text = json.dumps(data, default=str)
    if len(text) > DOCUMENT_CHARS:
        raise ValueError(f"document of {len(text)} characters is over {DOCUMENT_CHARS}")
    return text


def _load(text: str | None) -> dict[str, Any]:
    try:
        data = json.loads(text or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


class Gates(Connection):
    """The ``run_window``, ``gate_verdicts`` and ``scenario_results`` tables."""

    def set_run_window(self, run_id: int, data: Mapping[str, Any]) -> None:
        """Keep (replace) what the environment did during run ``run_id``."""
        text = _dump(data)

        def tx(db: Database) -> None:
            db.conn.execute(
                "INSERT OR REPLACE INTO run_window (run_id, recorded, data) VALUES (?, ?, ?)",
                (run_id, iso(self.clock()), text),
            )
            self._touch(db, "runs")

        self._write(tx)

    def run_window(self, run_id: int) -> dict[str, Any] | None:
        rows = self._read(
            lambda db: db.conn.execute(
                "SELECT data FROM run_window WHERE run_id = ?", (run_id,)
            ).fetchall()
        )
        return _load(rows[0][0]) if rows else None

    def add_gate_verdict(
        self, run_id: int, verdict: str, failing: int, data: Mapping[str, Any], user: str = ""
    ) -> int:
        """Record a verdict on a run; the latest one is what the run is judged by."""
        text = _dump(data)

        def tx(db: Database) -> int:
            row = {
                "run_id": run_id,
                "verdict": verdict,
                "failing": failing,
                "evaluated": iso(self.clock()),
                "user": user,
                "data": text,
            }
            verdict_id = _insert(db, "gate_verdicts", row)
            self._touch(db, "runs")
            return verdict_id

        return self._write(tx)

    def gate_verdict(self, run_id: int) -> dict[str, Any] | None:
        """The latest verdict on ``run_id`` (its document, with ``evaluated`` and ``user``)."""
        rows = self._read(
            lambda db: db.conn.execute(
                "SELECT data, evaluated, user FROM gate_verdicts WHERE run_id = ? "
                "ORDER BY id DESC LIMIT 1",
                (run_id,),
            ).fetchall()
        )
        if not rows:
            return None
        data = _load(rows[0][0])
        data["evaluated"] = from_iso(rows[0][1])
        data["evaluated_by"] = rows[0][2] or ""
        return data

    def last_go_run(self, env: str, before: int) -> int | None:
        """The latest run of ``env`` before run ``before`` whose latest verdict is GO."""

        def q(db: Database) -> int | None:
            row = db.conn.execute(
                "SELECT r.id FROM runs r WHERE r.environment = ? AND r.id < ? AND ("
                "SELECT v.verdict FROM gate_verdicts v WHERE v.run_id = r.id "
                "ORDER BY v.id DESC LIMIT 1) = 'GO' ORDER BY r.id DESC LIMIT 1",
                (env, before),
            ).fetchone()
            return int(row[0]) if row else None

        return self._read(q)

    def add_scenario_result(
        self, run_id: int, scenario: str, ok: bool, data: Mapping[str, Any]
    ) -> int:
        text = _dump(data)

        def tx(db: Database) -> int:
            row = {
                "run_id": run_id,
                "scenario": scenario,
                "ok": int(ok),
                "recorded": iso(self.clock()),
                "data": text,
            }
            result_id = _insert(db, "scenario_results", row)
            self._touch(db, "runs")
            return result_id

        return self._write(tx)

    def scenario_result(self, run_id: int) -> dict[str, Any] | None:
        """The scenario a run was the rehearsal of, with its result (None: an ordinary run)."""
        rows = self._read(
            lambda db: db.conn.execute(
                "SELECT data FROM scenario_results WHERE run_id = ? ORDER BY id DESC LIMIT 1",
                (run_id,),
            ).fetchall()
        )
        return _load(rows[0][0]) if rows else None
