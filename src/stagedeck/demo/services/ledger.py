"""ledger: the append-only journal of money movements.

It is the demo's "database": every other service's story about money must
agree with it, which is what the flow suites check. Entries can be added and
read, never changed; only ``/admin/reset`` clears the journal. The journal is
in memory, or in ``$STAGEDECK_STATE_DIR/ledger.sqlite3`` when that is set, so
it can survive a redeploy.

API: ``POST /entries``, ``GET /entries?order_id=&kind=``, ``GET /balance``.
"""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

from stagedeck.demo import fields
from stagedeck.demo.base import DemoService
from stagedeck.demo.logfmt import timestamp
from stagedeck.demo.web import Reply, Request

KINDS = ("debit", "credit")
COLUMNS = ("id", "at", "rid", "order_id", "account", "kind", "amount_cents", "memo")
SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    id INTEGER PRIMARY KEY,
    at TEXT NOT NULL,
    rid TEXT NOT NULL,
    order_id TEXT NOT NULL,
    account TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('debit', 'credit')),
    amount_cents INTEGER NOT NULL CHECK (amount_cents > 0),
    memo TEXT NOT NULL
)
"""


class Service(DemoService):
    name = "ledger"
    work_ms = (2.0, 8.0)

    def setup(self) -> None:
        state_dir = self.env.get("STAGEDECK_STATE_DIR")
        target = ":memory:"
        if state_dir:
            Path(state_dir).mkdir(parents=True, exist_ok=True)
            target = str(Path(state_dir) / "ledger.sqlite3")
        self._lock = threading.Lock()
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        if target != ":memory:":
            self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute(SCHEMA)
        self.route("POST", "/entries", self.append)
        self.route("GET", "/entries", self.entries)
        self.route("GET", "/balance", self.balance)

    def reset(self) -> None:
        with self._lock:
            self._db.execute("DELETE FROM entries")  # ids restart at 1: seeds are repeatable

    def append(self, request: Request) -> Reply:
        body = fields.body_object(request.body)
        entry: dict[str, Any] = {
            "at": timestamp(),
            "rid": request.rid,
            "order_id": fields.text(body, "order_id", max_len=40),
            "account": fields.text(body, "account", max_len=80),
            "kind": fields.choice(body, "kind", KINDS),
            "amount_cents": fields.integer(body, "amount_cents", low=1, high=10**12),
            "memo": fields.optional_text(body, "memo"),
        }
        with self._lock:
            cursor = self._db.execute(
                "INSERT INTO entries (at, rid, order_id, account, kind, amount_cents, memo)"
                " VALUES (:at, :rid, :order_id, :account, :kind, :amount_cents, :memo)",
                entry,
            )
        entry = {"id": cursor.lastrowid, **entry}
        self.log.info(
            request.rid,
            f"journal #{entry['id']} {entry['kind']} {entry['account']} "
            f"{fields.money(entry['amount_cents'])} order={entry['order_id']}",
        )
        return Reply(201, entry)

    def entries(self, request: Request) -> Reply:
        where, args = [], []
        for key in ("order_id", "kind", "account"):
            if key in request.query:
                where.append(f"{key} = ?")
                args.append(request.query[key])
        sql = f"SELECT {', '.join(COLUMNS)} FROM entries"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY id", args).fetchall()
        return Reply(200, [dict(zip(COLUMNS, row, strict=True)) for row in rows])

    def balance(self, request: Request) -> Reply:
        with self._lock:
            rows = self._db.execute(
                "SELECT account, kind, SUM(amount_cents), COUNT(*) FROM entries"
                " GROUP BY account, kind ORDER BY account"
            ).fetchall()
        accounts: dict[str, dict[str, int]] = {}
        totals = {"debit": 0, "credit": 0}
        count = 0
        for account, kind, cents, n in rows:
            slot = accounts.setdefault(account, {"debits_cents": 0, "credits_cents": 0})
            slot[f"{kind}s_cents"] = int(cents)
            totals[kind] += int(cents)
            count += int(n)
        return Reply(
            200,
            {
                "entries": count,
                "debits_cents": totals["debit"],
                "credits_cents": totals["credit"],
                "accounts": accounts,
            },
        )
