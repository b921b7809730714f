"""orders: the checkout transaction across inventory, payments and ledger.

Creating an order is a small saga with compensation, the thing integration
environments exist to test:

1. reserve stock (inventory) — unknown SKU -> 404, not enough -> 409;
2. authorise the payment (payments) — declined -> release the stock, 402;
   payments down -> release the stock, 502;
3. write the debit (ledger) — ledger down -> refund, release, 502;
4. the order is ``paid``; the worker later calls ``/orders/{id}/fulfil``,
   which commits the reservation.

So a failed order never leaves stock reserved or a debit in the journal.
``GET /orders?status=paid&wait=10`` is a long poll: the worker learns about a
new paid order at once without polling (and logging) every few milliseconds.

API: ``POST|GET /orders``, ``GET /orders/{id}``, ``GET /orders/{id}/ledger``,
``POST /orders/{id}/fulfil``, ``POST /orders/{id}/cancel``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from stagedeck.demo import fields
from stagedeck.demo.base import DemoService
from stagedeck.demo.logfmt import timestamp
from stagedeck.demo.upstream import UpstreamError, error_text, segment
from stagedeck.demo.web import HTTPError, Reply, Request

DEFAULT_CARD = "4242424242424242"
MAX_QTY = 1000
MAX_WAIT = 30.0


class Service(DemoService):
    name = "orders"

    def setup(self) -> None:
        self._changed = threading.Condition(threading.Lock())
        self.reset()
        self.route("POST", "/orders", self.create)
        self.route("GET", "/orders", self.list_orders)
        self.route("GET", "/orders/{id}", self.get_order)
        self.route("GET", "/orders/{id}/ledger", self.order_ledger)
        self.route("POST", "/orders/{id}/fulfil", self.fulfil)
        self.route("POST", "/orders/{id}/cancel", self.cancel)

    def reset(self) -> None:
        with self._changed:
            self._orders: dict[str, dict[str, Any]] = {}
            self._next = 1
            self._changed.notify_all()

    # ------------------------------------------------------------------ state

    def _get(self, oid: str) -> dict[str, Any]:
        order = self._orders.get(oid)
        if order is None:
            raise HTTPError(404, f"unknown order {oid}")
        return order

    def _set(self, order: dict[str, Any], status: str, reason: str = "") -> dict[str, Any]:
        """Change an order's status and wake long polls; return a copy for the reply."""
        with self._changed:
            order["status"] = status
            order["reason"] = reason
            order["updated_at"] = timestamp()
            self._changed.notify_all()
            return dict(order)

    def _claim(self, oid: str, want: str, busy: str, verb: str) -> dict[str, Any]:
        """Move an order from ``want`` to a transitional ``busy`` status, atomically.

        Only one of a racing fulfil and cancel can win; the other gets a 409.
        """
        with self._changed:
            order = self._get(oid)
            if order["status"] != want:
                raise HTTPError(409, f"order {oid} is {order['status']}; cannot {verb}")
            order["status"] = busy
            return order

    # ------------------------------------------------------------------ create

    def create(self, request: Request) -> Reply:
        body = fields.body_object(request.body)
        customer = fields.text(body, "customer", max_len=80)
        sku = fields.sku(fields.text(body, "sku", max_len=40))
        qty = fields.integer(body, "qty", low=1, high=MAX_QTY)
        card = (
            fields.card(fields.text(body, "card", max_len=19)) if "card" in body else DEFAULT_CARD
        )
        rid = request.rid
        now = timestamp()
        with self._changed:
            oid = f"o-{self._next:05d}"
            self._next += 1
            order: dict[str, Any] = {
                "id": oid,
                "customer": customer,
                "sku": sku,
                "qty": qty,
                "unit_price_cents": None,
                "total_cents": None,
                "status": "pending",
                "reason": "",
                "reservation_id": None,
                "payment_id": None,
                "rid": rid,
                "created_at": now,
                "updated_at": now,
            }
            self._orders[oid] = order

        # 1. stock
        try:
            status, answer = self.upstream("inventory").expect(
                "POST", "/reservations", rid, {"sku": sku, "qty": qty, "order_id": oid}
            )
        except UpstreamError as exc:
            return self._fail(order, rid, 502, f"could not reserve stock: {exc}")
        if status in (404, 409):
            with self._changed:  # nothing happened yet: the order never existed
                del self._orders[oid]
            raise HTTPError(status, error_text(answer))
        if status != 201:
            return self._fail(
                order, rid, 502, f"inventory refused: HTTP {status}: {error_text(answer)}"
            )
        total = int(answer["price_cents"]) * qty
        with self._changed:
            order.update(
                reservation_id=answer["id"],
                unit_price_cents=answer["price_cents"],
                total_cents=total,
            )

        # 2. money
        try:
            status, answer = self.upstream("payments").expect(
                "POST", "/payments", rid, {"order_id": oid, "amount_cents": total, "card": card}
            )
        except UpstreamError as exc:
            self._release(order, rid)
            return self._fail(order, rid, 502, f"payment failed: {exc}")
        if isinstance(answer, dict) and answer.get("id"):
            order["payment_id"] = answer["id"]
        if status == 402:
            self._release(order, rid)
            return self._fail(
                order, rid, 402, f"payment declined: {answer.get('reason', '')}", "declined"
            )
        if status != 201:
            self._release(order, rid)
            return self._fail(
                order, rid, 502, f"payments refused: HTTP {status}: {error_text(answer)}"
            )

        # 3. the journal
        debit = {
            "order_id": oid,
            "account": f"customer:{customer}",
            "kind": "debit",
            "amount_cents": total,
            "memo": f"payment {order['payment_id']} for {oid}",
        }
        try:
            status, answer = self.upstream("ledger").expect("POST", "/entries", rid, debit)
            if status != 201:
                raise UpstreamError("ledger", f"HTTP {status}: {error_text(answer)}", status)
        except UpstreamError as exc:
            self._refund(order, rid)
            self._release(order, rid)
            return self._fail(order, rid, 502, f"could not write the debit: {exc}")

        result = self._set(order, "paid")
        self.log.info(
            rid,
            f"created order {oid} total={fields.money(total)} sku={sku} qty={qty} "
            f"customer={customer}",
        )
        return Reply(201, result)

    def _fail(
        self, order: dict[str, Any], rid: str, http: int, reason: str, status: str = "failed"
    ) -> Reply:
        result = self._set(order, status, reason)
        if http >= 500:
            self.log.error(rid, f"order {order['id']} {status}: {reason}")
        else:
            self.log.warn(rid, f"order {order['id']} {status}: {reason}")
        return Reply(http, {**result, "error": reason}, reason)

    def _release(self, order: dict[str, Any], rid: str) -> None:
        """Give the stock back; if that fails, say so loudly (stock stays reserved)."""
        res = order.get("reservation_id")
        if not res:
            return
        try:
            status, answer = self.upstream("inventory").expect(
                "POST", f"/reservations/{segment(res)}/release", rid
            )
            if status != 200:
                raise UpstreamError("inventory", f"HTTP {status}: {error_text(answer)}", status)
        except UpstreamError as exc:
            self.log.error(
                rid, f"could not release {res} for {order['id']}, stock stays reserved: {exc}"
            )
            return
        self.log.info(rid, f"released {res} for {order['id']}")

    def _refund(self, order: dict[str, Any], rid: str) -> bool:
        pid = order.get("payment_id")
        if not pid:
            return True
        try:
            status, answer = self.upstream("payments").expect(
                "POST", f"/payments/{segment(pid)}/refund", rid
            )
            if status != 200:
                raise UpstreamError("payments", f"HTTP {status}: {error_text(answer)}", status)
        except UpstreamError as exc:
            self.log.error(rid, f"could not refund {pid} for {order['id']}: {exc}")
            return False
        return True

    # ------------------------------------------------------------------ read

    def list_orders(self, request: Request) -> Reply:
        """All orders, optionally filtered; ``wait=S`` holds the answer until one matches."""
        status = request.query.get("status")
        customer = request.query.get("customer")
        try:
            wait = min(max(float(request.query.get("wait", "0")), 0.0), MAX_WAIT)
        except ValueError:
            raise HTTPError(400, "'wait' must be a number of seconds") from None
        deadline = time.monotonic() + wait
        with self._changed:
            while True:
                found = [
                    dict(o)
                    for o in self._orders.values()
                    if (status is None or o["status"] == status)
                    and (customer is None or o["customer"] == customer)
                ]
                remaining = deadline - time.monotonic()
                if found or remaining <= 0:
                    return Reply(200, found)
                self._changed.wait(remaining)

    def get_order(self, request: Request) -> Reply:
        with self._changed:
            return Reply(200, dict(self._get(request.params["id"])))

    def order_ledger(self, request: Request) -> Reply:
        """The journal entries of one order (the gateway has no route to the ledger)."""
        oid = request.params["id"]
        with self._changed:
            self._get(oid)
        status, answer = self.upstream("ledger").expect(
            "GET", f"/entries?order_id={segment(oid)}", request.rid, ok=(200,)
        )
        if status != 200:
            raise UpstreamError("ledger", f"HTTP {status}: {error_text(answer)}", status)
        return Reply(200, answer)

    # ------------------------------------------------------------------ transitions

    def fulfil(self, request: Request) -> Reply:
        """Ship a paid order: commit its reservation (called by the worker)."""
        oid, rid = request.params["id"], request.rid
        order = self._claim(oid, "paid", "fulfilling", "fulfil")
        try:
            status, answer = self.upstream("inventory").expect(
                "POST", f"/reservations/{segment(order['reservation_id'])}/commit", rid
            )
        except UpstreamError:
            self._set(order, "paid")  # try again later
            raise
        if status != 200:
            return self._fail(
                order,
                rid,
                502,
                f"could not commit the reservation: HTTP {status}: {error_text(answer)}",
            )
        result = self._set(order, "fulfilled")
        self.log.info(
            rid,
            f"fulfilled order {oid} total={fields.money(order['total_cents'])} sku={order['sku']}",
        )
        return Reply(200, result)

    def cancel(self, request: Request) -> Reply:
        """Cancel a paid order: refund, give the stock back, credit the customer."""
        oid, rid = request.params["id"], request.rid
        order = self._claim(oid, "paid", "cancelling", "cancel")
        if not self._refund(order, rid):
            self._set(order, "paid")
            raise HTTPError(502, f"could not refund {order['payment_id']}; order stays paid")
        self._release(order, rid)
        credit = {
            "order_id": oid,
            "account": f"customer:{order['customer']}",
            "kind": "credit",
            "amount_cents": order["total_cents"],
            "memo": f"refund {order['payment_id']} for {oid}",
        }
        try:
            self.upstream("ledger").expect("POST", "/entries", rid, credit, ok=(201,))
        except UpstreamError as exc:
            self.log.error(rid, f"refunded {oid} but the ledger credit failed: {exc}")
        result = self._set(order, "cancelled", "cancelled by request")
        self.log.info(rid, f"cancelled order {oid} refund={fields.money(order['total_cents'])}")
        return Reply(200, result)
