"""The schema, as an ordered list of migrations; ``PRAGMA user_version`` counts those applied."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Final

if TYPE_CHECKING:
    from sqlite_utils import Database

from stagedeck.store.records import TOPICS


def _migration_1(db: Database) -> None:
    """Everything: environments, runs and results, annotations, audit, leases, presence."""
    db.table("environments").create(
        {"name": str, "recipe_path": str, "target": str, "first_seen": str, "last_seen": str},
        pk="name",
        not_null={"first_seen", "last_seen"},
    )
    db.table("runs").create(
        {
            "id": int,
            "environment": str,
            "user": str,
            "started": str,
            "ended": str,
            "outcome": str,
        },
        pk="id",
        not_null={"environment", "user", "started"},
        foreign_keys=[("environment", "environments", "name")],
    )
    db.table("runs").create_index(["environment", "id"])
    db.table("suite_runs").create(
        {
            "id": int,
            "run_id": int,
            "suite": str,
            "state": str,
            "started": str,
            "ended": str,
            "passed": int,
            "failed": int,
            "errors": int,
            "skipped": int,
            "total": int,
            "output_path": str,
            "junit_path": str,
            "detail": str,
        },
        pk="id",
        not_null={"run_id", "suite", "state", "passed", "failed", "errors", "skipped", "total"},
        defaults={"passed": 0, "failed": 0, "errors": 0, "skipped": 0, "total": 0, "detail": ""},
        foreign_keys=[("run_id", "runs", "id")],
    )
    db.table("suite_runs").create_index(["run_id"])
    db.table("test_results").create(
        {
            "id": int,
            "suite_run_id": int,
            "test_id": str,
            "name": str,
            "outcome": str,
            "duration": float,
            "message": str,
            "traceback": str,
            "signature": str,
            "started": str,
            "ended": str,
        },
        pk="id",
        not_null={"suite_run_id", "test_id", "outcome"},
        foreign_keys=[("suite_run_id", "suite_runs", "id")],
    )
    db.table("test_results").create_index(["suite_run_id"])
    db.table("test_results").create_index(["test_id"])
    db.table("test_results").create_index(["signature"])
    db.table("failure_context").create(
        {
            "id": int,
            "test_result_id": int,
            "service": str,
            "kind": str,
            "at": str,
            "content_type": str,
            "content": str,
        },
        pk="id",
        not_null={"test_result_id", "service", "kind", "at", "content_type", "content"},
        foreign_keys=[("test_result_id", "test_results", "id")],
    )
    db.table("failure_context").create_index(["test_result_id"])
    db.table("annotations").create(
        {
            "id": int,
            "signature": str,
            "test_id": str,
            "environment": str,
            "author": str,
            "tag": str,
            "note": str,
            "link": str,
            "created": str,
            "updated": str,
            "deleted": int,
        },
        pk="id",
        not_null={"signature", "test_id", "environment", "author", "tag", "note", "created"},
        defaults={"deleted": 0, "note": ""},
    )
    db.table("annotations").create_index(["signature"])
    db.table("annotations").create_index(["test_id"])
    db.table("audit").create(
        {
            "id": int,
            "environment": str,
            "user": str,
            "action": str,
            "services": str,
            "started": str,
            "ended": str,
            "outcome": str,
            "details": str,
            "forced": int,
        },
        pk="id",
        not_null={"environment", "user", "action", "services", "started", "details", "forced"},
        defaults={"services": "[]", "details": "{}", "forced": 0},
    )
    db.table("audit").create_index(["environment", "id"])
    db.table("leases").create(
        {
            "environment": str,
            "owner": str,
            "reason": str,
            "acquired": str,
            "expires": str,
            "heartbeat": str,
        },
        pk="environment",
        not_null={"owner", "reason", "acquired", "expires", "heartbeat"},
    )
    db.table("presence").create(
        {"environment": str, "user": str, "session": str, "last_seen": str},
        pk=("environment", "session"),
        not_null={"user", "last_seen"},
    )
    db.table("changes").create(
        {"topic": str, "version": int}, pk="topic", not_null={"version"}, defaults={"version": 0}
    )
    db.table("changes").insert_all([{"topic": t, "version": 0} for t in TOPICS])


def _migration_2(db: Database) -> None:
    """Triage: each failed test's ranked suspects, as ranked when it failed.

    (Tables are created only if missing, here and after: a file written by a
    development build that numbered its migrations differently still opens.)

    One row per suspect; ``data`` holds the whole suspect (verdict, impacted,
    evidence) as JSON, so a newer stagedeck can add fields without a migration.
    """
    db.table("failure_suspects").create(
        {
            "id": int,
            "test_result_id": int,
            "rank": int,
            "kind": str,
            "name": str,
            "score": float,
            "fault": str,
            "verdict": str,
            "data": str,
        },
        pk="id",
        not_null={"test_result_id", "rank", "kind", "name", "score", "verdict", "data"},
        foreign_keys=[("test_result_id", "test_results", "id")],
        if_not_exists=True,
    )
    db.table("failure_suspects").create_index(["test_result_id", "rank"], if_not_exists=True)


def _migration_3(db: Database) -> None:
    """Failure signatures v2 (ids of every shape, JSON bodies, the failing line): recompute."""
    from stagedeck.store.resign import resign_all

    resign_all(db)


def _migration_4(db: Database) -> None:
    """Gate and scenarios: what a run's window showed, the verdicts, the scenario results.

    ``run_window`` keeps what the environment did during a run (latency per
    service, restarts, seed verification) because the engine that saw it is gone
    when someone asks ``stagedeck gate --run N`` tomorrow. Each is one JSON
    document, so a newer stagedeck can add fields without a migration.
    """
    db.table("run_window").create(
        {"run_id": int, "recorded": str, "data": str},
        pk="run_id",
        not_null={"recorded", "data"},
        foreign_keys=[("run_id", "runs", "id")],
        if_not_exists=True,
    )
    db.table("gate_verdicts").create(
        {
            "id": int,
            "run_id": int,
            "verdict": str,
            "failing": int,
            "evaluated": str,
            "user": str,
            "data": str,
        },
        pk="id",
        not_null={"run_id", "verdict", "failing", "evaluated", "data"},
        foreign_keys=[("run_id", "runs", "id")],
        if_not_exists=True,
    )
    db.table("gate_verdicts").create_index(["run_id", "id"], if_not_exists=True)
    db.table("scenario_results").create(
        {"id": int, "run_id": int, "scenario": str, "ok": int, "recorded": str, "data": str},
        pk="id",
        not_null={"run_id", "scenario", "ok", "recorded", "data"},
        foreign_keys=[("run_id", "runs", "id")],
        if_not_exists=True,
    )
    db.table("scenario_results").create_index(["run_id"], if_not_exists=True)


def _migration_5(db: Database) -> None:
    """For people who query the file themselves: full-text search and one failures view.

    ``test_results_fts`` indexes each result's test id, message and traceback, named
    and built the way ``sqlite-utils enable-fts --create-triggers`` builds it, so
    ``sqlite-utils search``, Datasette's search box and our ``failures --grep`` all
    find it. ``failure_overview`` is one row per failed test with its run, its
    notes and its top suspect: what ``stagedeck failures`` shows, as plain SQL.
    See docs/database.md. The DDL is in ``store/search.py`` beside the queries.
    """
    from stagedeck.store.search import create_failure_overview, create_fts

    create_fts(db.conn)
    create_failure_overview(db.conn)


MIGRATIONS: Final[list[Callable[[Database], None]]] = [
    _migration_1,
    _migration_2,
    _migration_3,
    _migration_4,
    _migration_5,
]
"""Ordered; migration *i* (1-based) takes a file from user_version i-1 to i.

To change the schema, append a function: it runs inside the open write
transaction (DDL is transactional in SQLite) and must not commit.
"""

SCHEMA_VERSION: Final = len(MIGRATIONS)
