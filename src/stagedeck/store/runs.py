"""Runs, suite runs, test results with their failure context, and each test's history."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

if TYPE_CHECKING:
    from sqlite_utils import Database

from stagedeck.store import claims
from stagedeck.store.connection import Connection, _insert
from stagedeck.store.records import (
    CONTEXT_CHARS,
    CONTEXT_ITEMS,
    MESSAGE_CHARS,
    OUTCOMES,
    SUSPECT_CHARS,
    SUSPECTS_KEPT,
    TRACEBACK_CHARS,
    ContextItem,
    Environment,
    Failure,
    Flakiness,
    HistoryEntry,
    Row,
    Run,
    SignatureStats,
    SuiteRun,
    TestResult,
    _opt_iso,
    _opt_time,
    clean_data,
    from_iso,
    iso,
)
from stagedeck.store.signature import failure_signature

_OUTCOME_ALIASES: Final = {
    "pass": "passed",
    "ok": "passed",
    "fail": "failed",
    "failure": "failed",
    "errored": "error",
    "skip": "skipped",
}


class Runs(Connection):
    """The ``runs``, ``suite_runs``, ``test_results`` and ``failure_context`` tables."""

    # ---------------------------------------------------------- runs & results

    def start_run(
        self,
        env: str,
        user: str,
        *,
        recipe_path: str | Path | None = None,
        target: str | None = None,
    ) -> int:
        """Record a new run (and the environment, the first time it is seen)."""

        def tx(db: Database) -> int:
            now = iso(self.clock())
            db.conn.execute(
                "INSERT INTO environments (name, recipe_path, target, first_seen, last_seen) "
                "VALUES (?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET "
                "recipe_path = COALESCE(excluded.recipe_path, recipe_path), "
                "target = COALESCE(excluded.target, target), last_seen = excluded.last_seen",
                (env, None if recipe_path is None else str(recipe_path), target, now, now),
            )
            run_id = _insert(db, "runs", {"environment": env, "user": user, "started": now})
            self._touch(db, "runs")
            return run_id

        run_id = self._write(tx)
        claims.claim(self.path, run_id)  # so a killed process's run is found (claims.py)
        return run_id

    def finish_run(self, run_id: int, outcome: str) -> None:
        def tx(db: Database) -> None:
            self._update(db, "runs", run_id, {"ended": iso(self.clock()), "outcome": outcome})
            self._touch(db, "runs")

        self._write(tx)
        claims.release(self.path, run_id)

    def finish_orphaned_runs(self) -> list[int]:
        """Finish as ``interrupted`` the open runs whose process died (see claims.py)."""
        done: list[int] = []
        for run_id in claims.orphaned(self.path):
            run = self.run(run_id)
            if run is not None and run.outcome is None:
                self.finish_run(run_id, "interrupted")
                done.append(run_id)
            else:
                claims.release(self.path, run_id)
        return done

    def start_suite_run(self, run_id: int, suite: str, state: str = "running") -> int:
        def tx(db: Database) -> int:
            row = {"run_id": run_id, "suite": suite, "state": state, "started": iso(self.clock())}
            suite_run_id = _insert(db, "suite_runs", row)
            self._touch(db, "runs")
            return suite_run_id

        return self._write(tx)

    def update_suite_run(
        self,
        suite_run_id: int,
        *,
        state: str | None = None,
        started: float | None = None,
        ended: float | None = None,
        passed: int | None = None,
        failed: int | None = None,
        errors: int | None = None,
        skipped: int | None = None,
        total: int | None = None,
        output_path: str | Path | None = None,
        junit_path: str | Path | None = None,
        detail: str | None = None,
    ) -> None:
        """Set the given fields; ``None`` leaves a field as it is."""
        given: dict[str, Any] = {
            "state": state,
            "started": _opt_iso(started),
            "ended": _opt_iso(ended),
            "passed": passed,
            "failed": failed,
            "errors": errors,
            "skipped": skipped,
            "total": total,
            "output_path": None if output_path is None else str(output_path),
            "junit_path": None if junit_path is None else str(junit_path),
            "detail": detail,
        }
        updates = {k: v for k, v in given.items() if v is not None}
        if not updates:
            return

        def tx(db: Database) -> None:
            self._update(db, "suite_runs", suite_run_id, updates)
            self._touch(db, "runs")

        self._write(tx)

    def add_test_result(self, suite_run_id: int, result: TestResult) -> int:
        """Store one result; failed/errored ones get their failure signature."""
        return self.add_test_results(suite_run_id, [result])[0]

    def add_test_results(self, suite_run_id: int, results: Iterable[TestResult]) -> list[int]:
        """Store a suite's results in one transaction (a JUnit report at once)."""
        rows = [_result_row(suite_run_id, r) for r in results]

        def tx(db: Database) -> list[int]:
            ids = []
            for row in rows:
                ids.append(_insert(db, "test_results", row))
            self._touch(db, "runs")
            return ids

        return self._write(tx)

    def add_failure_context(self, test_result_id: int, items: Iterable[ContextItem]) -> int:
        """Keep what services did during a failed test; bounded. Returns items stored."""
        rows = []
        for item in items:
            if item.kind not in ("health", "log", "trace"):
                raise ValueError(
                    f"context kind must be 'health', 'log' or 'trace', not {item.kind!r}"
                )
            if isinstance(item.content, str):
                content_type, content = "text", item.content
            else:
                content_type, content = "json", json.dumps(item.content, default=str)
            if len(content) > CONTEXT_CHARS:
                content_type, content = "text", content[: CONTEXT_CHARS - 1] + "…"
            rows.append(
                {
                    "test_result_id": test_result_id,
                    "service": item.service,
                    "kind": item.kind,
                    "at": iso(item.at),
                    "content_type": content_type,
                    "content": content,
                }
            )

        def tx(db: Database) -> int:
            (have,) = db.conn.execute(
                "SELECT count(*) FROM failure_context WHERE test_result_id = ?", (test_result_id,)
            ).fetchone()
            keep = rows[: max(0, CONTEXT_ITEMS - int(have))]
            if keep:
                db.table("failure_context").insert_all(keep)
                self._touch(db, "runs")
            return len(keep)

        return self._write(tx)

    def add_failure_suspects(
        self, test_result_id: int, suspects: Sequence[Mapping[str, Any]]
    ) -> int:
        """Keep a failed test's ranked suspects (``Suspect.to_dict()`` rows, best first).

        Replaces any ranking stored before for the same result. Bounded: the first
        :data:`SUSPECTS_KEPT` suspects, each JSON cut to :data:`SUSPECT_CHARS`.
        """
        rows = []
        for rank, suspect in enumerate(list(suspects)[:SUSPECTS_KEPT]):
            data = dict(suspect)
            text = json.dumps(data, default=str)
            while len(text) > SUSPECT_CHARS and data.get("evidence"):
                data["evidence"] = list(data["evidence"])[:-1]
                text = json.dumps(data, default=str)
            rows.append(
                {
                    "test_result_id": test_result_id,
                    "rank": rank,
                    "kind": str(data.get("kind", "")),
                    "name": str(data.get("name", ""))[:200],
                    "score": float(data.get("score") or 0.0),
                    "fault": str(data.get("fault", "")),
                    "verdict": str(data.get("verdict", ""))[:MESSAGE_CHARS],
                    "data": text[:SUSPECT_CHARS],
                }
            )

        def tx(db: Database) -> int:
            db.conn.execute(
                "DELETE FROM failure_suspects WHERE test_result_id = ?", (test_result_id,)
            )
            if rows:
                db.table("failure_suspects").insert_all(rows)
            self._touch(db, "runs")
            return len(rows)

        return self._write(tx)

    def failure_suspects(self, test_result_id: int) -> list[dict[str, Any]]:
        """The stored ranking of a failed test, best first (``Suspect.from_dict`` reads them)."""

        def q(db: Database) -> list[dict[str, Any]]:
            out: list[dict[str, Any]] = []
            for r in db.query(
                "SELECT * FROM failure_suspects WHERE test_result_id = ? ORDER BY rank",
                [test_result_id],
            ):
                try:
                    data = json.loads(r["data"])
                except (TypeError, ValueError):
                    data = None
                if not isinstance(data, dict):  # damaged or foreign: keep what the columns say
                    data = {k: r[k] for k in ("kind", "name", "score", "fault", "verdict")}
                out.append(clean_data(data))  # another cockpit wrote it: through the gate
            return out

        return self._read(q)

    def failure_context(self, test_result_id: int) -> list[ContextItem]:
        def q(db: Database) -> list[ContextItem]:
            rows = db.query(
                "SELECT * FROM failure_context WHERE test_result_id = ? ORDER BY at, id",
                [test_result_id],
            )
            return [_context(r) for r in rows]

        return self._read(q)

    def runs(self, env: str, limit: int = 20) -> list[Run]:
        """The environment's latest runs, newest first."""
        return self._read(
            lambda db: [
                _run(r)
                for r in db.query(
                    "SELECT * FROM runs WHERE environment = ? ORDER BY id DESC LIMIT ?",
                    [env, limit],
                )
            ]
        )

    def run(self, run_id: int) -> Run | None:
        rows = self._read(lambda db: list(db.query("SELECT * FROM runs WHERE id = ?", [run_id])))
        return _run(rows[0]) if rows else None

    def suite_runs(self, run_id: int) -> list[SuiteRun]:
        return self._read(
            lambda db: [
                _suite_run(r)
                for r in db.query("SELECT * FROM suite_runs WHERE run_id = ? ORDER BY id", [run_id])
            ]
        )

    def test_results(self, suite_run_id: int) -> list[TestResult]:
        return self._read(
            lambda db: [
                _result(r)
                for r in db.query(
                    "SELECT * FROM test_results WHERE suite_run_id = ? ORDER BY id",
                    [suite_run_id],
                )
            ]
        )

    def failures(self, env: str, run_id: int | None = None) -> list[Failure]:
        """Failed and errored tests of ``run_id``, or of the environment's latest run."""

        def q(db: Database) -> list[Failure]:
            rid = run_id
            if rid is None:
                row = db.conn.execute(
                    "SELECT max(id) FROM runs WHERE environment = ?", (env,)
                ).fetchone()
                if row[0] is None:
                    return []
                rid = int(row[0])
            rows = db.query(
                "SELECT t.*, s.suite AS _suite, s.run_id AS _run_id FROM test_results t "
                "JOIN suite_runs s ON s.id = t.suite_run_id JOIN runs r ON r.id = s.run_id "
                "WHERE r.environment = ? AND r.id = ? AND t.outcome IN ('failed', 'error') "
                "ORDER BY t.id",
                [env, rid],
            )
            return [Failure(int(r.pop("_run_id")), str(r.pop("_suite")), _result(r)) for r in rows]

        return self._read(q)

    def environments(self) -> list[Environment]:
        return self._read(
            lambda db: [
                Environment(
                    r["name"],
                    r["recipe_path"],
                    r["target"],
                    from_iso(r["first_seen"]),
                    from_iso(r["last_seen"]),
                )
                for r in db.query("SELECT * FROM environments ORDER BY name")
            ]
        )

    # ----------------------------------------------------------------- history

    def test_history(self, env: str, test_id: str, limit: int = 20) -> list[HistoryEntry]:
        """The test's latest results in the environment, newest first."""

        def q(db: Database) -> list[HistoryEntry]:
            rows = db.conn.execute(
                "SELECT r.id, t.outcome, COALESCE(t.started, s.started, r.started), t.signature "
                "FROM test_results t JOIN suite_runs s ON s.id = t.suite_run_id "
                "JOIN runs r ON r.id = s.run_id WHERE t.test_id = ? AND r.environment = ? "
                "ORDER BY t.id DESC LIMIT ?",
                (test_id, env, limit),
            ).fetchall()
            return [HistoryEntry(int(a), str(b), from_iso(c), d) for a, b, c, d in rows]

        return self._read(q)

    def flakiness(self, env: str, test_id: str, window: int = 20) -> Flakiness:
        """Pass/fail flips among the test's last ``window`` non-skipped results (see Flakiness)."""
        history = [h for h in self.test_history(env, test_id, window * 2) if h.outcome != "skipped"]
        verdicts = [h.outcome == "passed" for h in reversed(history[:window])]
        flips = sum(1 for a, b in itertools.pairwise(verdicts) if a != b)
        return Flakiness(samples=len(verdicts), flips=flips, failures=verdicts.count(False))

    def signature_stats(self, signature: str, env: str | None = None) -> SignatureStats:
        """How often this failure was seen (in one environment or all), first and last time."""

        def q(db: Database) -> SignatureStats:
            sql = (
                "SELECT count(*), min(COALESCE(t.started, s.started)), "
                "max(COALESCE(t.started, s.started)) FROM test_results t "
                "JOIN suite_runs s ON s.id = t.suite_run_id "
            )
            params: list[Any] = [signature]
            if env is None:
                sql += "WHERE t.signature = ?"
            else:
                sql += "JOIN runs r ON r.id = s.run_id WHERE t.signature = ? AND r.environment = ?"
                params.append(env)
            count, first, last = db.conn.execute(sql, params).fetchone()
            return SignatureStats(int(count), _opt_time(first), _opt_time(last))

        return self._read(q)


def _outcome(outcome: str) -> str:
    value = _OUTCOME_ALIASES.get(outcome.lower(), outcome.lower())
    if value not in OUTCOMES:
        raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}; not {outcome!r}")
    return value


def _result_row(suite_run_id: int, result: TestResult) -> Row:
    outcome = _outcome(result.outcome)
    signature = result.signature
    if signature is None and outcome in ("failed", "error"):
        signature = failure_signature(result.test_id, result.message, result.traceback)
    traceback = result.traceback
    if len(traceback) > TRACEBACK_CHARS:
        traceback = "…" + traceback[-(TRACEBACK_CHARS - 1) :]
    return {
        "suite_run_id": suite_run_id,
        "test_id": result.test_id,
        "name": result.name or result.test_id.rpartition("::")[2],
        "outcome": outcome,
        "duration": float(result.duration),
        "message": result.message[:MESSAGE_CHARS],
        "traceback": traceback,
        "signature": signature,
        "started": _opt_iso(result.started),
        "ended": _opt_iso(result.ended),
    }


def _result(r: Row) -> TestResult:
    return TestResult(
        test_id=r["test_id"],
        outcome=r["outcome"],
        name=r["name"] or "",
        duration=float(r["duration"] or 0.0),
        message=r["message"] or "",
        traceback=r["traceback"] or "",
        started=_opt_time(r["started"]),
        ended=_opt_time(r["ended"]),
        signature=r["signature"],
        id=int(r["id"]),
        suite_run_id=int(r["suite_run_id"]),
    )


def _run(r: Row) -> Run:
    return Run(
        int(r["id"]),
        r["environment"],
        r["user"],
        from_iso(r["started"]),
        _opt_time(r["ended"]),
        r["outcome"],
    )


def _suite_run(r: Row) -> SuiteRun:
    return SuiteRun(
        id=int(r["id"]),
        run_id=int(r["run_id"]),
        suite=r["suite"],
        state=r["state"],
        started=_opt_time(r["started"]),
        ended=_opt_time(r["ended"]),
        passed=int(r["passed"]),
        failed=int(r["failed"]),
        errors=int(r["errors"]),
        skipped=int(r["skipped"]),
        total=int(r["total"]),
        output_path=r["output_path"],
        junit_path=r["junit_path"],
        detail=r["detail"] or "",
    )


def _context(r: Row) -> ContextItem:
    content: str | Mapping[str, Any] | list[Any] = r["content"]
    if r["content_type"] == "json":
        content = json.loads(r["content"])
    return ContextItem(r["service"], r["kind"], from_iso(r["at"]), content)
