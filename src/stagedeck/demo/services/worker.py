"""worker: ships paid orders in the background, and books the revenue.

It is the asynchronous part of the demo: nothing calls it, it calls others.
A loop long-polls orders for ``paid`` orders (``wait=10``: an idle worker
makes one quiet request every ten seconds, a new order is picked up at once),
asks orders to fulfil each one, then writes a revenue credit to the ledger.
Each job logs under the order's original request id, so the cockpit shows
the whole life of an order — checkout to shipping — as one story; the loop's
own housekeeping logs ``rid=-``.

Chaos ``error_rate`` fails jobs too (they are retried), not just ``/stats``.

API: ``GET /stats``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from stagedeck.demo import fields
from stagedeck.demo.base import DemoService
from stagedeck.demo.logfmt import timestamp
from stagedeck.demo.upstream import UpstreamError, error_text, segment
from stagedeck.demo.web import Reply, Request

POLL_WAIT = 10.0
MAX_BACKOFF = 5.0


class Service(DemoService):
    name = "worker"

    def setup(self) -> None:
        self._lock = threading.Lock()
        self.reset()
        self.route("GET", "/stats", self.stats)

    def reset(self) -> None:
        with self._lock:
            self._stats: dict[str, Any] = {"fulfilled": 0, "failed": 0, "last_poll": None}
            self._unbooked: list[dict[str, Any]] = []
            """Credits for fulfilled orders the ledger did not take yet; retried each round."""

    def stats(self, request: Request) -> Reply:
        with self._lock:
            return Reply(200, {**self._stats, "unbooked": len(self._unbooked)})

    def start(self) -> None:
        threading.Thread(target=self._loop, name="fulfilment", daemon=True).start()

    # ------------------------------------------------------------------ the loop

    def _loop(self) -> None:
        backoff = 0.0
        trouble = ""
        while True:
            if backoff:
                time.sleep(backoff)
            self._book_unbooked()
            try:
                status, answer = self.upstream("orders").call(
                    "GET", f"/orders?status=paid&wait={POLL_WAIT:g}", "-", timeout=POLL_WAIT + 5
                )
                if status != 200 or not isinstance(answer, list):
                    raise UpstreamError("orders", f"HTTP {status}: {error_text(answer)}", status)
            except UpstreamError as exc:
                # One line per failed round at most, and rounds back off to 5 s: a
                # dead dependency must not flood the log.
                backoff = min(MAX_BACKOFF, backoff * 2 or 0.5)
                if str(exc) != trouble or backoff >= MAX_BACKOFF:
                    self.log.warn(
                        "-", f"cannot poll orders: {exc.reason}; retrying in {backoff:g}s"
                    )
                trouble = str(exc)
                continue
            if trouble:
                self.log.info("-", "orders reachable again; polling resumed")
                trouble = ""
            with self._lock:
                self._stats["last_poll"] = timestamp()
            failures = sum(not self._fulfil(order) for order in answer)
            backoff = 1.0 if failures else 0.0

    def _fulfil(self, order: dict[str, Any]) -> bool:
        """Ship one order and book its revenue; False when it should be retried later."""
        oid = str(order.get("id", "?"))
        rid = str(order.get("rid") or "-")  # continue the order's story under its request id
        if self.chaos.roll():
            self._count("failed")
            self.log.error(rid, f"chaos: injected failure fulfilling {oid}; will retry")
            return False
        try:
            status, answer = self.upstream("orders").call(
                "POST", f"/orders/{segment(oid)}/fulfil", rid
            )
        except UpstreamError as exc:
            self._count("failed")
            self.log.error(rid, f"could not fulfil {oid}: {exc}")
            return False
        if status == 409:  # cancelled or shipped meanwhile: nothing to do
            self.log.info(rid, f"skipped {oid}: {error_text(answer)}")
            return True
        if status != 200:
            self._count("failed")
            self.log.error(rid, f"could not fulfil {oid}: HTTP {status}: {error_text(answer)}")
            return False
        credit = {
            "order_id": oid,
            "account": "revenue",
            "kind": "credit",
            "amount_cents": answer["total_cents"],  # from the answer: the order as shipped
            "memo": f"revenue for {oid}",
        }
        self._count("fulfilled")
        self.log.info(
            rid,
            f"fulfilled order {oid} total={fields.money(answer['total_cents'])} "
            f"sku={answer['sku']} qty={answer['qty']}",
        )
        if not self._book(credit, rid):
            with self._lock:
                self._unbooked.append({**credit, "rid": rid})
        return True

    def _book(self, credit: dict[str, Any], rid: str) -> bool:
        try:
            status, answer = self.upstream("ledger").call("POST", "/entries", rid, credit)
        except UpstreamError as exc:
            self.log.error(rid, f"revenue for {credit['order_id']} not booked, will retry: {exc}")
            return False
        if status != 201:
            self.log.error(
                rid,
                f"revenue for {credit['order_id']} not booked, will retry: "
                f"HTTP {status}: {error_text(answer)}",
            )
            return False
        return True

    def _book_unbooked(self) -> None:
        with self._lock:
            pending, self._unbooked = self._unbooked, []
        for item in pending:
            credit = {k: v for k, v in item.items() if k != "rid"}
            if not self._book(credit, item["rid"]):
                with self._lock:
                    self._unbooked.append(item)

    def _count(self, key: str) -> None:
        with self._lock:
            self._stats[key] += 1
